"""The status JSON schema and Markdown report, pinned by golden files.

A change here must be deliberate: rerun with TRAINWARD_UPDATE_GOLDEN=1, review the diff of
tests/golden/, update docs/status.md, and bump status.SCHEMA if a field changed meaning.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from trainward.backends.base import ComputeState, ReadOnly, RunHandle
from trainward.backends.local import LocalBackend
from trainward.cli.render import render_status
from trainward.runs.ledger import LedgerWriter, run_path
from trainward.runs.registry import Registry
from trainward.runs.status import StatusReader

GOLDEN = Path(__file__).parent / "golden"
T0 = 1_760_000_000.0


class FixedCompute(LocalBackend):
    """Real directory volumes; the compute side answers a fixed, running container."""

    def find_run(self, run: str) -> RunHandle | None:
        return RunHandle("modal", run, {"app_id": "ap-0123456789abcdefghijkl"})

    def state(self, handle: RunHandle) -> ComputeState:
        return ComputeState(
            "running",
            started_at=T0,
            detail={
                "app_id": "ap-0123456789abcdefghijkl",
                "dashboard_url": "https://modal.com/apps/acme/main/ap-0123456789abcdefghijkl",
            },
        )


def build(home: Path) -> StatusReader:
    backend = FixedCompute(home)
    backend.ensure_volume("vol")
    now = [T0]
    run_dir = backend.volume_root("vol") / run_path("wm-a100")
    info = {
        "name": "wm-a100",
        "experiment": "mamba2-medium-gpu",
        "config_path": "experiments/mamba2-medium-gpu.yaml",
        "config": {"entrypoint": "builtin", "train": {"arch": "mamba2", "size": "medium"}},
        "gpu": "A100-80GB:1",
        "price_per_hour": 2.6,
        "price_source": "table (2026-11)",
        "targets": {
            "val_metric/action_change_acc": ">0.75",
            "val_action/cat_movement": ">=93%",
            "val_action/cat_attack": ">=90%",
        },
    }
    w = LedgerWriter.start(run_dir, info, clock=lambda: now[0])
    w.plan(epochs=3, steps_per_epoch=1000)
    for epoch in (1, 2):
        now[0] += 1800
        w.log(
            {"batch/loss": 1.2 / epoch, "batch/step": epoch * 1000},
            step=epoch * 1000,
            epoch=epoch,
            batch=1000,
        )
        w.epoch_time(epoch, 1800.0)
        w.log_validation(
            epoch,
            {
                "val_loss/total": 1.0 / epoch,
                "val_metric/action_change_acc": 0.6 + 0.1 * epoch,
                "val_metric/position_mae": 0.3 / epoch,
                "val_action/cat_movement": 0.88 + 0.015 * epoch,
                "val_action/cat_attack": 0.95,
            },
            step=epoch * 1000,
        )
    now[0] += 600
    w.log({"batch/loss": 0.5, "batch/step": 2333}, step=2333, epoch=3, batch=333)
    w.best("val_metric/action_change_acc", 0.8, mode="max", epoch=2, step=2000)
    w.record_checkpoint(
        "latest",
        "checkpoints/latest.pt",
        step=2000,
        epoch=2,
        sha256="c0ffee" * 10 + "abcd",
        size=123456,
    )
    w.close()
    (home / "runs.jsonl").write_text(
        json.dumps(
            {
                "run": "wm-a100",
                "backend": "modal",
                "volume": "vol",
                "state": "launched",
                "experiment": "mamba2-medium-gpu",
                "config_hash": "f" * 64,
                "launched_at": T0,
                "ids": {},
            }
        )
        + "\n"
    )
    return StatusReader(Registry(home / "runs.jsonl"), ReadOnly(backend), clock=lambda: T0 + 4300)


def check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRAINWARD_UPDATE_GOLDEN") == "1":
        path.write_text(actual)
    assert path.read_text() == actual, f"{name} changed; see this module's docstring"


def test_status_json_matches_golden(tmp_path: Path) -> None:
    s = build(tmp_path).read("wm-a100")
    check("status_running.json", json.dumps(s.to_dict(), indent=2, sort_keys=True) + "\n")


def test_status_markdown_matches_golden(tmp_path: Path, monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")  # the ETA clock time is rendered in local time
    time.tzset()
    try:
        s = build(tmp_path).read("wm-a100")
        check("status_running.md", render_status(s) + "\n")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_golden_facts(tmp_path: Path) -> None:
    doc = build(tmp_path).read("wm-a100").to_dict()
    assert doc["verdict"] == "running" and doc["progress"]["pct"] == 77.77
    assert doc["timing"]["eta_s"] == 1200.6  # 667 steps left at 1.8 s/step
    assert doc["cost"]["so_far_usd"] == round(2.6 * 4300 / 3600, 4)
    assert {c["category"]: c["ok"] for c in doc["categories"]} == {
        "attack": True,
        "movement": False,
    }
    assert doc["links"]["modal"].endswith("ap-0123456789abcdefghijkl")
