"""Sweeps: expansion, budget, the controller on the local backend, merge, deploy, status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from trainward.config.experiment import load_experiment
from trainward.sweep.spec import load_sweep, run_timeout
from trainward.sweep.validate import merge, render

from tests.conftest import REPO, tw, wait_for, write_experiment


def ticker_sweep(project: Path, *, extra: str = "", members: str = "", name: str = "tsw") -> Path:
    write_experiment(
        project / "experiments" / "tick.yaml",
        f"""name: tick
backend: local
entrypoint: tests.helpers.ticker:main
code_dir: {REPO}
params: {{steps: 12, interval: 0.02, skill: 0.0}}
resources: {{timeout: 5m, retries: 0}}
""",
    )
    members = (
        members
        or """  - {name: weak, set: {params.skill: 0.1}}
  - {name: mid, set: {params.skill: 0.5}}
  - {name: strong, set: {params.skill: 0.9}}"""
    )
    return write_experiment(
        project / "experiments" / f"{name}.yaml",
        f"""name: {name}
base: tick.yaml
parallel: 2
configs:
{members}
validation: {{mode: round-robin, games: 4, workers: 2, chunk: 2, metric: score, evaluate: "tests.helpers.ticker:evaluate"}}
deploy: {{to: weights, name: champ}}
{extra}
""",
    )


def wait_sweep(name: str, timeout: float = 120) -> dict[str, Any]:
    return wait_for(lambda: (d := tw("status", name, "--json").json())["state"] in ("done", "failed") and d,
                    timeout, interval=0.3, what=f"sweep {name}")  # fmt: skip


def test_sweep_runs_validates_merges_and_deploys_on_local(project: Path) -> None:
    cfg = ticker_sweep(project)
    res = tw("sweep", str(cfg), "--json")
    assert res.code == 0, res.stderr
    assert res.json()["runs"] == ["tsw-weak", "tsw-mid", "tsw-strong"]
    doc = wait_sweep("tsw")
    assert doc["state"] == "done", doc
    assert doc["winner"] == "tsw-strong"
    lb = doc["validation"]["leaderboard"]
    assert [r["run"] for r in lb] == ["tsw-strong", "tsw-mid", "tsw-weak"]
    assert lb[0]["wins"] == 16 and lb[0]["losses"] == 0  # 2 opponents x 4 games x 2 sides
    assert (
        doc["validation"]["done"] == doc["validation"]["total"] == 6
    )  # 3 runs x 2 chunks of 2 games
    weights = project / "weights" / "champ.pt"
    meta = json.loads((project / "weights" / "champ.json").read_text())
    assert weights.exists() and meta["run"] == "tsw-strong" and meta["which"] == "best"
    assert len(meta["sha256"]) == 64 and len(meta["config_hash"]) == 64 and meta["value"] > 0.9
    assert all(r["verdict"] == "finished" for r in doc["runs"])
    text = tw("status", "tsw").stdout
    assert "## Sweep tsw: DONE" in text and "### Leaderboard" in text
    assert (
        tw("status", "tsw-strong", "--json").json()["sweep"] == "tsw"
    )  # members are ordinary runs
    summary = (
        Path(os.environ["TRAINWARD_HOME"]) / "volumes/trainward/sweeps/tsw/summary.md"
    ).read_text()
    assert "| vs |" in summary and "Winner: **tsw-strong**" in summary


def test_local_parallelism_is_bounded(project: Path) -> None:
    cfg = ticker_sweep(project, name="bounded", extra="")
    text = cfg.read_text().replace("parallel: 2", "parallel: 1")
    cfg.write_text(text.replace("mode: round-robin", "mode: none"))
    assert tw("sweep", str(cfg)).code == 0
    seen_parallel = []

    def two_never_overlap() -> bool:
        doc = tw("status", "bounded", "--json").json()
        live = [
            r
            for r in doc["runs"]
            if r.get("sweep_state") == "launched" and r.get("verdict") in ("running", "pending")
        ]
        seen_parallel.append(len(live))
        return doc["state"] == "done"

    wait_for(two_never_overlap, 120, interval=0.2, what="the sweep")
    assert max(seen_parallel) == 1


def test_budget_refusal_exits_3_with_the_numbers_without_credentials(project: Path) -> None:
    res = tw("sweep", str(REPO / "experiments" / "sweep-smoke.yaml"), "--backend", "modal", "--dry-run",
             "--set", "max_cost_usd=0.5", "--set", "resources.gpu=A100-80GB:1", "--json",
             env={"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": ""})  # fmt: skip
    assert res.code == 3
    plan = res.json()
    assert plan["budget"]["estimate_usd"] > 0.5 and plan["budget"]["over"]
    assert "over budget" in res.stderr and "$0.50" in res.stderr
    ok = tw("sweep", str(REPO / "experiments" / "sweep-smoke.yaml"), "--backend", "modal", "--dry-run",
            "--set", "max_cost_usd=100", "--set", "resources.gpu=A100-80GB:1", "--json")  # fmt: skip
    assert ok.code == 0 and ok.json()["budget"]["over"] == []


def test_budget_derives_per_run_timeouts(project: Path) -> None:
    cfg = write_experiment(
        project / "e.yaml",
        "name: e\nbackend: modal\nresources: {gpu: H100:1, timeout: 4h, retries: 1}\n",
    )
    exp = load_experiment(cfg)
    # $10 left for 4 runs: $2.50 each, over 2 attempts, at ~$4.05/h: about 18.5 minutes an attempt
    t = run_timeout(exp, remaining_usd=10.0, remaining_gpu_h=None, unfinished=4)
    assert t is not None and 1000 < t < 1200
    assert run_timeout(exp, remaining_usd=None, remaining_gpu_h=None, unfinished=4) is None
    assert run_timeout(exp, remaining_usd=0.01, remaining_gpu_h=None, unfinished=4) == 0
    assert run_timeout(exp, remaining_usd=None, remaining_gpu_h=1.0, unfinished=2) == 900


def test_grid_expansion_single_and_errors(project: Path) -> None:
    ticker_sweep(project)
    cfg = write_experiment(
        project / "experiments" / "grid.yaml",
        """name: grid
base: tick.yaml
grid: {params.skill: [0.1, 0.2], params.seed: [0, 1]}
""",
    )
    sw = load_sweep(cfg)
    assert list(sw.members) == [
        "grid-skill-0.1-seed-0",
        "grid-skill-0.1-seed-1",
        "grid-skill-0.2-seed-0",
        "grid-skill-0.2-seed-1",
    ]
    assert sw.members["grid-skill-0.2-seed-1"].params["seed"] == 1
    res = tw("sweep", str(cfg), "--single", "nope", "--dry-run")
    assert (
        res.code == 2
        and "grid-skill-0.1-seed-0" not in res.stderr
        and "skill-0.1-seed-0" in res.stderr
    )
    bad = write_experiment(
        project / "experiments" / "bad.yaml",
        "name: bad\nbase: tick.yaml\nconfigs: [{name: a, sett: {}}]\n",
    )
    res = tw("sweep", str(bad), "--dry-run")
    assert res.code == 2 and "sett" in res.stderr and "bad.yaml" in res.stderr


def test_merge_round_robin_and_held_out() -> None:
    results = [
        {"kind": "evaluate", "run": "a", "per_game": {"0": [0.9, 0.1], "1": [0.5, 0.5]}},
        {"kind": "evaluate", "run": "b", "per_game": {"0": [0.2, 0.8], "1": [0.5, 0.4]}},
    ]
    rr = merge(results, ["a", "b"], mode="round-robin", metric="m", better="max", games=[0, 1])
    assert rr["matchups"] == 4
    a, b = (
        {r["run"]: r for r in rr["leaderboard"]}["a"],
        {r["run"]: r for r in rr["leaderboard"]}["b"],
    )
    assert (a["wins"], a["ties"], a["losses"]) == (2, 1, 1) and (
        b["wins"],
        b["ties"],
        b["losses"],
    ) == (1, 1, 2)
    assert rr["matrix"]["a"]["b"] + rr["matrix"]["b"]["a"] == pytest.approx(1.0)
    assert rr["winner"] == "a" and "| vs |" in render(rr, "s")
    lo = merge(results, ["a", "b"], mode="round-robin", metric="loss", better="min", games=[0, 1])
    assert lo["winner"] == "b"
    ho = merge(results, ["a", "b"], mode="held-out", metric="m", better="max", games=[0, 1])
    assert [r["run"] for r in ho["leaderboard"]] == ["a", "b"] and ho["matchups"] == 0


def test_smoke_sweep_with_the_world_model_round_robin_and_deploy(tmp_path: Path) -> None:
    """The issue's must-show: three CPU smoke configs, round-robin validation, winner deployed."""
    sweep_file = REPO / "experiments" / "sweep-smoke.yaml"
    res = tw("sweep", str(sweep_file), "--set", f"deploy.to={tmp_path / 'weights'}", "--json")
    assert res.code == 0, res.stderr
    doc = wait_sweep("sweep-smoke", timeout=420)
    assert doc["state"] == "done", doc
    lb = doc["validation"]["leaderboard"]
    assert len(lb) == 3 and sum(r["points"] for r in lb) == 3 * 2 * 4  # pairs x sides x games
    assert doc["validation"]["games"] == 4 and doc["validation"]["matrix"]
    meta = json.loads((tmp_path / "weights" / "world-model.json").read_text())
    assert meta["run"] == doc["winner"] == lb[0]["run"]
    assert (tmp_path / "weights" / "world-model.pt").stat().st_size == meta["size"]
