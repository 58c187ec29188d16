"""The acceptance example of a sweep of your own code (examples/tuner): four CMA-ES tuners
of a card game's weights trained in parallel, a round-robin validation by the example's own
program, and the four weight files deployed into the project: end to end on the local
backend and on the Modal fake, and in each mode (train-only, validate-only, --single,
--sequential, --no-deploy then `sweep deploy`).

Each test copies the example into a scratch project, so deploys and results land there."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, tw, wait_for
from tests.test_sweep import wait_sweep

WEIGHTS = {
    "tuner-generalist": "data/weights/generalist.toml",
    "tuner-argentum": "data/weights/specialists/argentum.toml",
    "tuner-ember": "data/weights/specialists/ember.toml",
    "tuner-verdant": "data/weights/specialists/verdant.toml",
}
# Smaller than the file's own small settings: these tests check the modes, not the tuning.
TINY = (
    "--set",
    "params.generations=2",
    "--set",
    "params.population=4",
    "--set",
    "params.games=6",
    "--set",
    "validation.games=6",
)
POLL = {"TRAINWARD_SWEEP_POLL_S": "0.3"}


@pytest.fixture
def tuner(project: Path) -> Path:
    shutil.copytree(
        EXAMPLES / "tuner",
        project / "examples" / "tuner",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return project / "examples" / "tuner" / "sweep.yaml"


def check_deployed(project: Path, files: list[dict[str, Any]], runs: list[str]) -> None:
    assert sorted(f["run"] for f in files) == sorted(runs)
    for f in files:
        path = project / WEIGHTS[f["run"]]
        assert (
            f["path"] == str(path) and hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        )
        meta = json.loads(path.with_suffix(".json").read_text())
        assert (
            meta["sha256"] == f["sha256"]
            and meta["run"] == f["run"]
            and meta["artifact"] == "weights.toml"
        )
        weights = tomllib.loads(path.read_text())["weights"]
        assert all(len(w) == 6 for w in weights.values())


@pytest.mark.slow
def test_the_tuner_pipeline_runs_end_to_end_locally(tuner: Path, project: Path) -> None:
    """The file as it is (its small settings): the whole pipeline, on 2 cores, in about a minute."""
    res = tw("sweep", str(tuner), "--json", env=POLL)
    assert res.code == 0, res.stderr
    assert res.json()["args"]["tuner-ember"] == ["--mode", "specialist", "--faction", "ember"]
    doc = wait_sweep("tuner", timeout=300)
    assert doc["state"] == "done" and not doc["errors"], doc
    assert [r["verdict"] for r in doc["runs"]] == ["finished"] * 4
    v = doc["validation"]
    assert (v["total"], v["done"], v["failed"], v["games"]) == (36, 36, 0, 40)  # 6 pairs x 3 x 2
    lb = v["leaderboard"]
    assert sum(r["games"] for r in lb) == 2 * 6 * 3 * 2 * 40 and doc["winner"] == lb[0]["run"]
    m = v["matrix"]
    assert m["tuner-ember"]["tuner-verdant"]["wins"] == m["tuner-verdant"]["tuner-ember"]["losses"]
    assert set(v["by_matchup"]) == {"argentum-ember", "argentum-verdant", "ember-verdant"}
    check_deployed(project, doc["deployed"]["files"], list(WEIGHTS))
    saved = project / "sweeps" / "tuner"
    assert doc["saved_to"] == str(saved)
    assert {p.name for p in saved.iterdir()} == {
        "results.json",
        "summary.txt",
        "sweep.yaml",
        "plan.json",
    }
    assert "ember-verdant" in (saved / "summary.txt").read_text()
    assert doc["cost"]["total_usd"] == 0.0 and len(doc["cost"]["jobs"]) == 4 + 36
    png = project / "matrix.png"
    res = tw("status", "tuner", "--plot", str(png))
    assert res.code == 0 and "### Matrix" in res.stdout and png.read_bytes()[:4] == b"\x89PNG"


def test_train_only_then_validate_only_sequential_then_deploy(
    tuner: Path, project: Path, tw_home: Path
) -> None:
    res = tw("sweep", str(tuner), "--mode", "train-only", "--no-deploy", *TINY, "--json", env=POLL)
    assert res.code == 0, res.stderr
    doc = wait_sweep("tuner")
    assert doc["state"] == "done" and doc["validation"]["total"] == 0 and doc["deployed"] is None
    assert not (project / "data").exists()
    res = tw(
        "sweep",
        str(tuner),
        "--mode",
        "validate-only",
        "--sequential",
        "--no-deploy",
        *TINY,
        "--set",
        "validation.chunk=3",
        "--json",
        env=POLL,
    )
    assert res.code == 0, res.stderr
    doc = wait_sweep("tuner", plan_id=res.json()["plan_id"])
    assert doc["mode"] == "validate-only"
    assert (doc["validation"]["total"], doc["validation"]["done"]) == (12, 12)  # 6 pairs x 2
    state = json.loads((tw_home / "volumes/trainward/sweeps/tuner/state.json").read_text())
    spans = sorted((j["started_at"], j["ended_at"]) for j in state["validation"]["jobs"].values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # one at a time
    assert not (project / "data").exists()  # --no-deploy
    res = tw("sweep", "deploy", "tuner", "--json")
    assert res.code == 0, res.stderr
    check_deployed(project, res.json()["files"], list(WEIGHTS))
    assert res.json()["saved_to"] == str(project / "sweeps" / "tuner")


def test_single_trains_and_deploys_one_member(tuner: Path, project: Path) -> None:
    res = tw("sweep", str(tuner), "--single", "generalist", *TINY, "--json", env=POLL)
    assert res.code == 0, res.stderr
    assert res.json()["runs"] == ["tuner-generalist"]
    doc = wait_sweep("tuner")
    assert doc["state"] == "done" and doc["validation"]["total"] == 0  # no pair to play
    check_deployed(project, doc["deployed"]["files"], ["tuner-generalist"])
    assert not (project / "data" / "weights" / "specialists").exists()


@pytest.mark.slow
def test_the_tuner_pipeline_on_the_modal_fake(modal_fake, tuner: Path, project: Path) -> None:
    from tests.helpers.modal_cli import run

    res = run(
        modal_fake,
        "sweep",
        str(tuner),
        "--backend",
        "modal",
        *TINY,
        "--set",
        "validation.chunk=3",
        "--json",
        env=POLL,
    )
    assert res.code == 0, res.stderr
    doc = wait_for(
        lambda: (
            (d := run(modal_fake, "status", "tuner", "--json").json())["state"]
            in ("done", "failed")
            and d
        ),
        300,
        interval=1.0,
        what="the Modal tuner sweep",
    )
    assert doc["state"] == "done" and doc["validation"]["done"] == 12, doc
    inputs = modal_fake.inputs()
    assert len(inputs) == 1 + 4 + 12  # the controller, four members, twelve slices
    fns = {t["function_id"] for t in modal_fake.tasks()}
    assert len(fns) == 4  # controller, validate, and one function per size (cpu 2 and cpu 1)
    assert doc["cost"]["validation_usd"] > 0  # CPU containers cost money on Modal
    assert not (project / "data").exists()  # the controller runs remotely: deploy is ours
    res = run(modal_fake, "sweep", "deploy", "tuner", "--json")
    assert res.code == 0, res.stderr
    check_deployed(project, res.json()["files"], list(WEIGHTS))
