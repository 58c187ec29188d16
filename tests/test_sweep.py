"""Sweeps: expansion, budget, the controller on the local backend, merge, deploy, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from trainward.sweep.results import merge, render
from trainward.sweep.spec import load_sweep

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


def wait_sweep(name: str, timeout: float = 120, plan_id: str | None = None) -> dict[str, Any]:
    """Until the sweep has ended (the start with `plan_id`, when given, not an earlier one)."""

    def ended() -> dict[str, Any] | None:
        doc: dict[str, Any] = tw("status", name, "--json").json()
        mine = plan_id is None or doc["plan_id"] == plan_id
        return doc if mine and doc["state"] in ("done", "failed") else None

    return wait_for(ended, timeout, interval=0.3, what=f"sweep {name}")


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
    assert (a["wins"], a["draws"], a["losses"]) == (2, 1, 1)
    assert (b["wins"], b["draws"], b["losses"]) == (1, 1, 2)
    assert rr["matrix"]["a"]["b"]["win_rate"] + rr["matrix"]["b"]["a"]["win_rate"] == pytest.approx(
        1.0
    )
    assert rr["matrix"]["a"]["b"] == {
        "wins": 2,
        "losses": 1,
        "draws": 1,
        "games": 4,
        "win_rate": 0.625,
    }
    assert rr["winner"] == "a" and "| vs |" in render(rr, "s")
    lo = merge(results, ["a", "b"], mode="round-robin", metric="loss", better="min", games=[0, 1])
    assert lo["winner"] == "b"
    ho = merge(results, ["a", "b"], mode="held-out", metric="m", better="max", games=[0, 1])
    assert [r["run"] for r in ho["leaderboard"]] == ["a", "b"] and ho["matchups"] == 0


@pytest.mark.slow
def test_smoke_sweep_with_the_world_model_round_robin_and_deploy(tmp_path: Path) -> None:
    """The issue's must-show: three CPU smoke configs, round-robin validation, winner deployed."""
    sweep_file = REPO / "experiments" / "sweep-smoke.yaml"
    res = tw("sweep", str(sweep_file), "--set", f"deploy.to={tmp_path / 'weights'}",
             "--set", f"results_to={tmp_path / 'results'}", "--json")  # fmt: skip
    assert res.code == 0, res.stderr
    doc = wait_sweep("sweep-smoke", timeout=420)
    assert doc["state"] == "done", doc
    lb = doc["validation"]["leaderboard"]
    assert len(lb) == 3 and sum(r["points"] for r in lb) == 3 * 2 * 4  # pairs x sides x games
    assert doc["validation"]["games"] == 4 and doc["validation"]["matrix"]
    meta = json.loads((tmp_path / "weights" / "world-model.json").read_text())
    assert meta["run"] == doc["winner"] == lb[0]["run"]
    assert (tmp_path / "weights" / "world-model.pt").stat().st_size == meta["size"]
    assert (tmp_path / "results" / "sweep-smoke" / "summary.txt").exists()


# -- your own validation program: slices, retries, failures ---------------------------------------


def slice_sweep(project: Path, name: str = "ssw", extra: str = "") -> Path:
    ticker_sweep(project, name=name)
    return write_experiment(
        project / "experiments" / f"{name}.yaml",
        f"""name: {name}
base: tick.yaml
parallel: 3
configs:
  - {{name: weak, set: {{params.skill: 0.1}}}}
  - {{name: strong, set: {{params.skill: 0.9}}, args: [--ignored-by-the-ticker]}}
  - {{name: mid, set: {{params.skill: 0.5}}}}
validation:
  mode: round-robin
  command: python -m tests.helpers.slices
  matchups: [m1, m2]
  chunk: 1
  games: 3
  workers: 2
{extra}
""",
    )


def test_a_failing_slice_is_retried_once_then_named_and_the_others_are_kept(
    project: Path, tmp_path: Path
) -> None:
    cfg = slice_sweep(project)
    env = {
        "SLICE_CRASH": "weak-strong-1-ba",
        "SLICE_FLAKY": "strong-mid-0-ab",
        "SLICE_MARKERS": str(tmp_path / "markers"),
        "TRAINWARD_SWEEP_POLL_S": "0.3",
    }
    res = tw("sweep", str(cfg), "--no-deploy", "--json", env=env)
    assert res.code == 0, res.stderr
    doc = wait_sweep("ssw")
    v = doc["validation"]
    assert doc["state"] == "done" and v["total"] == 3 * 2 * 2  # pairs x matchups x directions
    assert (v["done"], v["failed"]) == (11, 1) and v["complete"] is False
    (failed,) = v["failed_jobs"]
    assert failed["job_id"] == "slice-weak-strong-1-ba" and failed["attempts"] == 2
    assert "exited with 1" in failed["error"] and "crashing on purpose" in failed["error"]
    home = Path(os.environ["TRAINWARD_HOME"])
    state = json.loads((home / "volumes/trainward/sweeps/ssw/state.json").read_text())
    flaky = state["validation"]["jobs"]["slice-strong-mid-0-ab"]
    assert flaky["state"] == "done" and flaky["attempts"] == 2  # crashed once, retried, kept
    lb = {r["run"]: r for r in v["leaderboard"]}
    assert doc["winner"] == "ssw-strong" and lb["ssw-mid"]["wins"] == 3 * 2 * 2  # beat weak 12-0
    assert lb["ssw-strong"]["games"] == 3 * 2 * 2 * 2 - 3  # one slice (3 games) is missing
    assert doc["validation"]["matrix"]["ssw-strong"]["ssw-weak"]["wins"] == 9
    text = tw("status", "ssw").stdout
    assert "failed slice-weak-strong-1-ba after 2 attempts" in text and "1 failed" in text
    assert (project / "sweeps" / "ssw" / "results.json").exists()  # results kept locally


def test_slice_timeout_kills_the_program(project: Path) -> None:
    cfg = slice_sweep(project, name="slow", extra="  timeout: 1\n  retries: 0\n")
    text = cfg.read_text().replace("python -m tests.helpers.slices", "sleep 30")
    cfg.write_text(text.replace("matchups: [m1, m2]", "matchups: [m1]"))
    res = tw("sweep", str(cfg), "--no-deploy", "--json", env={"TRAINWARD_SWEEP_POLL_S": "0.3"})
    assert res.code == 0, res.stderr
    doc = wait_sweep("slow")
    v = doc["validation"]
    assert (v["total"], v["done"], v["failed"]) == (6, 0, 6)  # 3 pairs x 2 directions, no retry
    assert all("timeout" in f["error"] for f in v["failed_jobs"]), v["failed_jobs"]


def test_two_concurrent_starts_of_one_sweep_exactly_one_wins(project: Path) -> None:
    cfg = ticker_sweep(project, name="race")
    cfg.write_text(cfg.read_text().replace("mode: round-robin", "mode: none"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "trainward", "sweep", str(cfg), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    outs = [(p.wait(timeout=120), p.communicate()) for p in procs]
    assert sorted(code for code, _ in outs) == [0, 2], outs
    loser = next(err for code, (_, err) in outs if code == 2)
    assert "sweep 'race'" in loser and ("started before" in loser or "being started" in loser)
    lines = [
        json.loads(x)
        for x in (Path(os.environ["TRAINWARD_HOME"]) / "sweeps.jsonl").read_text().splitlines()
    ]
    assert [r["state"] for r in lines] == ["starting", "started"]
    wait_sweep("race")


def test_a_sweep_name_is_refused_again_but_validate_only_may_rerun(project: Path) -> None:
    cfg = slice_sweep(project, name="again")
    assert tw("sweep", str(cfg), "--mode", "train-only", "--json").code == 0
    assert wait_sweep("again")["state"] == "done"
    res = tw("sweep", str(cfg), "--json")
    assert res.code == 2 and "already exist" in res.stderr and "validate-only" in res.stderr
    res = tw("sweep", str(cfg), "--mode", "validate-only", "--json")
    assert res.code == 0, res.stderr
    doc = wait_sweep("again", plan_id=res.json()["plan_id"])
    assert doc["mode"] == "validate-only"
    assert doc["validation"]["done"] == 12
    assert doc["winner"] == "again-strong"
