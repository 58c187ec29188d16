"""The trainer logs to W&B (the fake server) besides the ledger, and W&B never stops it."""

# ruff: noqa: F811  (pytest fixtures imported by name, then taken as arguments)
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.wandb_fake.client import WandbFake, client_env
from tests.fakes.wandb_fake.fixture import wandb_fake, wandb_fake_server  # noqa: F401
from tests.test_train_helpers import Run, status, train_argv, write_config

ONE_EPOCH = {"epochs": 1, "arch": "mlp"}


def train_online(fake: WandbFake, root: Path, project: str, **env: str) -> tuple[Run, Path]:
    (root / "pyproject.toml").write_text("[project]\nname='scratch'\n")
    config = write_config(
        root, train=ONE_EPOCH, wandb={"project": project, "entity": "ent", "mode": "online"}
    )
    volume = root / "volume"
    full = client_env(fake, TRAINWARD_HOME=str(root / "twhome"), **env)
    proc = subprocess.run(train_argv(config, volume, project), capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, env=full)  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr), volume


def test_metrics_reach_wandb_and_the_ledger_names_the_run(
    wandb_fake: WandbFake, tmp_path: Path
) -> None:
    run, volume = train_online(wandb_fake, tmp_path, "trainer-online")
    assert run.code == 0, run.stderr
    tracker = status(volume, "trainer-online")["tracker"]
    assert (
        tracker["kind"] == "wandb" and tracker["path"] == f"ent/trainer-online/{tracker['run_id']}"
    )
    stored = wandb_fake.run("ent", "trainer-online", tracker["run_id"])
    assert (stored["state"], stored["exit_code"]) == ("finished", 0)
    assert stored["rows"] >= 66 // 5  # a batch/* row every log_every steps, plus the validation row
    rows = [
        json.loads(line)
        for line in (volume / "runs" / "trainer-online" / "metrics.jsonl").read_text().splitlines()
    ]
    assert any("val_metric/action_change_acc" in r for r in rows)  # the ledger has everything too


def test_wandb_down_does_not_stop_training(wandb_fake: WandbFake, tmp_path: Path) -> None:
    wandb_fake.down()
    run, volume = train_online(
        wandb_fake, tmp_path, "trainer-down", TRAINWARD_WANDB_INIT_TIMEOUT="2"
    )
    assert run.code == 0, run.stderr
    st = status(volume, "trainer-down")
    assert st["state"] == "finished" and st["tracker"] is None
    assert any("W&B" in w["message"] and "init failed" in w["message"] for w in st["warnings"])
    assert run.result["final"]["val_metric/action_change_acc"] > 0


def test_missing_wandb_module_is_a_ledger_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainward.config.experiment import experiment_from_dict
    from trainward.core.contracts import RunInfo, WorkerSpec
    from trainward.runs.worker import build_context
    from trainward.train.trackers import NullTracker, start_tracker

    monkeypatch.setitem(
        sys.modules, "trainward.tracking.wandb_logger", None
    )  # as if the module were absent
    exp = experiment_from_dict({"name": "nowandb", "wandb": {"project": "p", "mode": "offline"}})
    ctx = build_context(
        WorkerSpec(
            run="nowandb",
            volume=exp.volume,
            experiment=exp.to_dict(),
            run_info=RunInfo(name="nowandb"),
        ),
        tmp_path,
        attempt=1,
    )
    assert isinstance(start_tracker(ctx), NullTracker)
    ctx.ledger.close()
    assert "W&B logging skipped" in ctx.ledger.status["warnings"][0]["message"]
