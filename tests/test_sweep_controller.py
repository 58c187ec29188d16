"""The sweep controller in-process, with an executor of its own kind (in memory) and a real
volume directory: the budget's per-run timeouts, what it records instead of swallowing, and
deploying the winner's weights (best, else latest only when there is no best)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from trainward.backends.base import ReadOnly
from trainward.backends.local import LocalBackend
from trainward.core.contracts import RunInfo
from trainward.core.sweep_contracts import (
    MemberPlan,
    SweepBudget,
    SweepPlan,
    ValidationJob,
    ValidationPlan,
)
from trainward.errors import IntegrityError, NotFound
from trainward.runs.ledger import LedgerWriter
from trainward.sweep.controller import Controller
from trainward.sweep.deploy import deploy_winner

HOUR = 3600


class MemoryExecutor:
    """Launches nothing: records each member's budget timeout; members stay running until told."""

    grace_s = 0.0

    def __init__(self) -> None:
        self.timeouts: dict[str, int | None] = {}
        self.outcomes: dict[str, str] = {}

    def launch(self, run: str, member: MemberPlan, timeout_s: int | None) -> dict[str, Any]:
        self.timeouts[run] = timeout_s
        return {"n": len(self.timeouts)}

    def state(self, run: str, ids: dict[str, Any]) -> str:
        return self.outcomes.get(run, "running")

    def submit(self, job: ValidationJob) -> Any:
        return job

    def poll(self, handle: Any) -> dict[str, Any] | None:
        return None

    def cancel(self, handle: Any) -> None:
        return None


def gpu_plan(
    n: int = 4, *, max_cost: float | None = 10.0, max_gpu_h: float | None = None, **kw: Any
) -> SweepPlan:
    member = MemberPlan(
        experiment={"name": "e"}, timeout_s=4 * HOUR, price_per_hour=4.05, gpus=1, attempts=2
    )
    return SweepPlan(
        sweep="u",
        members={f"u-{i}": member for i in range(n)},
        plan_id="p1",
        parallel=2,
        validation=ValidationPlan(mode="none"),
        budget=SweepBudget(max_cost_usd=max_cost, max_gpu_hours=max_gpu_h),
        **kw,
    )


def test_each_run_gets_its_share_of_what_is_left_of_the_budget(tmp_path: Path) -> None:
    ex = MemoryExecutor()
    ctl = Controller(gpu_plan(), tmp_path, ex, clock=lambda: 1000.0)
    ctl.launch_pending()
    # $10 for 4 runs: $2.50 each, over 2 attempts, at $4.05/h: 1111 s an attempt
    assert ex.timeouts == {"u-0": 1111, "u-1": 1111}
    assert ctl._timeout("u-2") == 1111  # the two launched have committed $5 of the $10
    ctl.state.budget.spent_usd = 9.99  # a run overspent: nothing is left for the others
    ex.outcomes["u-0"] = "finished"
    ctl.refresh()
    ctl.launch_pending()
    assert ctl.state.members["u-2"].state == "skipped"
    assert ctl.state.members["u-2"].reason == "the sweep budget is spent"


def test_gpu_hours_cap_and_no_budget(tmp_path: Path) -> None:
    ctl = Controller(gpu_plan(2, max_cost=None, max_gpu_h=1.0), tmp_path, MemoryExecutor())
    assert ctl._timeout("u-0") == 900  # 1 GPU-hour for 2 runs over 2 attempts: 15 minutes
    free = Controller(gpu_plan(2, max_cost=None), tmp_path / "x", MemoryExecutor())
    assert free._timeout("u-0") is None  # no budget: the experiment's own timeout applies


def test_a_member_without_a_checkpoint_is_recorded_not_swallowed(tmp_path: Path) -> None:
    plan = gpu_plan(2, max_cost=None).replace(
        validation=ValidationPlan(mode="held-out", evaluate="tests.helpers.ticker:evaluate")
    )
    ex = MemoryExecutor()
    ctl = Controller(plan, tmp_path, ex)
    ctl.launch_pending()
    ex.outcomes.update({"u-0": "finished", "u-1": "finished"})
    ctl.step()
    assert ctl.state.validation.total == 0
    assert any("u-0" in e and "has no checkpoint" in e for e in ctl.state.errors), ctl.state.errors


def test_an_unreadable_state_is_kept_and_reported(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweeps" / "u"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "state.json").write_text('{"sweep": "u", "members": [')
    ctl = Controller(gpu_plan(1), tmp_path, MemoryExecutor(), clock=lambda: 5.0)
    assert (sweep_dir / "state.unreadable-5.json").exists()
    assert "state.json was unreadable" in ctl.state.errors[0]


def _run_with(volume: Path, run: str, checkpoints: dict[str, bytes]) -> None:
    writer = LedgerWriter.start(volume / "runs" / run, RunInfo(name=run))
    for which, data in checkpoints.items():
        path = volume / "runs" / run / "checkpoints" / f"{which}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        writer.record_checkpoint(
            which,
            f"checkpoints/{which}.pt",
            step=1,
            epoch=1,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
    writer.close()


def _winner(run: str) -> dict[str, Any]:
    return {"winner": run, "metric": "m", "leaderboard": [{"run": run, "mean": 0.5}]}


def test_deploy_falls_back_to_latest_only_when_there_is_no_best(tmp_path: Path) -> None:
    backend = LocalBackend()
    volume = backend.volume_root("trainward")
    _run_with(volume, "u-0", {"latest": b"latest weights"})
    plan = gpu_plan(1)
    meta = deploy_winner(ReadOnly(backend), plan, _winner("u-0"), tmp_path / "w")
    assert meta["which"] == "latest" and (tmp_path / "w" / "u.pt").read_bytes() == b"latest weights"


def test_deploy_never_papers_over_a_corrupt_best_with_latest(tmp_path: Path) -> None:
    backend = LocalBackend()
    volume = backend.volume_root("trainward")
    _run_with(volume, "u-0", {"best": b"best weights", "latest": b"latest weights"})
    (volume / "runs/u-0/checkpoints/best.pt").write_bytes(b"bit rot!!!!!")  # same size
    with pytest.raises(IntegrityError, match="does not match"):
        deploy_winner(ReadOnly(backend), gpu_plan(1), _winner("u-0"), tmp_path / "w")
    assert not (tmp_path / "w" / "u.pt").exists() and not (tmp_path / "w" / "u.json").exists()
    with pytest.raises(NotFound, match="no winner"):
        deploy_winner(ReadOnly(backend), gpu_plan(1), {"winner": None}, tmp_path / "w")
    assert json.loads((volume / "runs/u-0/status.json").read_text())["checkpoints"]["best"]
