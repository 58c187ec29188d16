"""WandbLogger in a training process against the fake W&B server: W&B never stops training.

Each test runs a small "trainer" as a subprocess (as the real trainer runs), logging through
the real wandb 0.31 client, then reads what reached the fake.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from trainward.tracking.wandb import WandbReader

from tests.fakes.wandb_fake.client import FAKE_API_KEY, REPO_ROOT, WandbFake, client_env

TRAINER = """
import json, os, sys, time, urllib.request
t0 = time.monotonic()
from trainward.tracking.wandb_logger import WandbLogger

def fault(mode):
    body = json.dumps({"mode": mode, "status": 500}).encode()
    urllib.request.urlopen(urllib.request.Request(os.environ["FAKE_URL"] + "/_fake/fault", data=body), timeout=5)

env = os.environ.get
first, rows = int(env("TW_FIRST", "0")), int(env("TW_ROWS", "500"))
t = time.monotonic()
logger = WandbLogger.start(
    project="train", entity="ent", mode=env("TW_MODE", "online"), run_name=env("TW_NAME", "trainer"),
    config={"lr": 0.001, "epochs": 5}, run_id=env("TW_RUN_ID"), dir=env("TW_DIR"),
    init_timeout=float(env("TW_INIT_TIMEOUT", "10")),
    tags=[t for t in env("TW_TAGS", "").split(",") if t], group=env("TW_GROUP"))
start_s = time.monotonic() - t
t = time.monotonic()
for step in range(first, first + rows):
    if env("TW_FAULT_AT") and step == int(env("TW_FAULT_AT")):
        fault(env("TW_FAULT", "down"))
    metrics = {"loss": 1.0 / (step + 1), "epoch": step // 100}
    if step % 100 == 99:
        metrics.update({"val_loss/total": 1.0 / (step + 1), "val_metric/action_change_acc": 0.9,
                        "val_metric/position_mae": 0.1, "val_action/cat_move": 0.8, "val_action/cat_wait": 0.7})
    logger.log(metrics, step=step)
logger.summary({"best_val": 0.5})
if env("TW_PREEMPT"):
    logger.mark_preempting()
log_s = time.monotonic() - t
t = time.monotonic()
logger.finish(exit_code=0, timeout=float(env("TW_FINISH_TIMEOUT", "30")))
print(json.dumps({"active": logger.active, "run_id": logger.run_id, "path": logger.path, "url": logger.url,
                  "warnings": logger.warnings, "start_s": start_s, "log_s": log_s,
                  "finish_s": time.monotonic() - t, "trained": rows, "wandb": "wandb" in sys.modules}))
"""


def train(fake: WandbFake, **env: Any) -> dict[str, Any]:
    """Run the trainer; returns its JSON report plus `wall_s`, the whole process's time."""
    full = client_env(fake, FAKE_URL=fake.url)
    full.update({f"TW_{k.upper()}": str(v) for k, v in env.items() if v is not None})
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", TRAINER],
        env=full,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report.update(wall_s=time.monotonic() - started, stderr=out.stderr)
    return report


def test_logged_run_reads_back(wandb_fake: WandbFake) -> None:
    report = train(wandb_fake, name="roundtrip", tags="mamba2,medium", group="sweep-a")
    assert report["active"] is False and report["warnings"] == []  # finished, cleanly
    assert report["path"] == f"ent/train/{report['run_id']}"
    assert report["url"].endswith(f"/ent/train/runs/{report['run_id']}")

    stored = wandb_fake.run("ent", "train", report["run_id"])
    assert (stored["rows"], stored["state"], stored["exit_code"]) == (500, "finished", 0)
    assert stored["tags"] == ["mamba2", "medium"] and stored["group"] == "sweep-a"

    run = WandbReader(base_url=wandb_fake.url, api_key=FAKE_API_KEY, timeout=10).find(
        "ent/train", "roundtrip"
    )
    assert (run.id, run.state, run.last_step) == (report["run_id"], "finished", 499)
    assert run.config == {"lr": 0.001, "epochs": 5} and run.summary["best_val"] == 0.5
    assert [r["_step"] for r in run.history] == [99, 199, 299, 399, 499]
    assert run.history[-1]["val_action/cat_wait"] == 0.7 and run.history[-1]["epoch"] == 4


def test_resume_continues_the_same_run(wandb_fake: WandbFake) -> None:
    first = train(wandb_fake, name="resumed", rows=300)
    second = train(wandb_fake, name="resumed", run_id=first["run_id"], first=300, rows=200)
    assert second["run_id"] == first["run_id"] and second["warnings"] == []
    stored = wandb_fake.run("ent", "train", first["run_id"])
    assert (stored["rows"], stored["state"]) == (500, "finished")


@pytest.mark.parametrize("fault", ["500", "hang", "down"])
def test_start_against_a_failing_server_goes_on_without_wandb(
    wandb_fake: WandbFake, fault: str
) -> None:
    {
        "500": lambda: wandb_fake.fail(500),
        "hang": lambda: wandb_fake.hang(),
        "down": lambda: wandb_fake.down(),
    }[fault]()
    report = train(wandb_fake, name=f"fault-{fault}", init_timeout=2, finish_timeout=2)
    assert report["trained"] == 500 and report["active"] is False
    assert report["run_id"] is None and report["path"] is None
    assert report["start_s"] < 2 + 3 and report["finish_s"] < 0.5
    assert len(report["warnings"]) == 1 and "init failed" in report["warnings"][0]
    assert "trainward: warning: W&B online init failed" in report["stderr"]


@pytest.mark.parametrize("fault", ["down", "hang", "status"])
def test_server_failing_mid_run_does_not_block_training_or_exit(
    wandb_fake: WandbFake, fault: str
) -> None:
    report = train(wandb_fake, name=f"mid-{fault}", fault_at=250, fault=fault, finish_timeout=2)
    assert report["trained"] == 500 and report["run_id"]
    assert report["log_s"] < 2, "log() must not wait on the network"
    assert report["finish_s"] < 2 + 0.5
    assert report["wall_s"] < 15, "the process must exit promptly after finish()"
    assert any("finish" in w for w in report["warnings"])


def test_missing_key_means_no_wandb_and_no_requests(wandb_fake: WandbFake, tmp_path) -> None:
    full = client_env(wandb_fake)
    del full["WANDB_API_KEY"]
    full.update(
        FAKE_URL=wandb_fake.url, HOME=str(tmp_path), NETRC=str(tmp_path / "none"), TW_NAME="nokey"
    )
    out = subprocess.run(
        [sys.executable, "-c", TRAINER],
        env=full,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["active"] is False and report["trained"] == 500 and report["start_s"] < 3
    assert "wandb login" in report["warnings"][0] and "WANDB_API_KEY" in report["warnings"][0]
    assert wandb_fake.requests() == []


def test_disabled_does_not_import_wandb(wandb_fake: WandbFake) -> None:
    report = train(wandb_fake, mode="disabled")
    assert report["wandb"] is False and report["run_id"] is None and report["warnings"] == []
    assert wandb_fake.requests() == []


def test_offline_needs_no_server(wandb_fake: WandbFake, tmp_path) -> None:
    wandb_fake.down()
    report = train(wandb_fake, mode="offline", dir=str(tmp_path), rows=50)
    assert report["run_id"] and report["path"] is None and report["warnings"] == []
    assert list(tmp_path.glob("wandb/offline-run-*"))
    assert wandb_fake.requests() == []


def test_mark_preempting_reaches_wandb(wandb_fake: WandbFake) -> None:
    report = train(wandb_fake, name="preempted", rows=10, preempt=1)
    assert wandb_fake.run("ent", "train", report["run_id"])["preempting"] is True
