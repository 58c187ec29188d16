"""Where metrics go besides the ledger: nowhere (the null tracker) or W&B.

The ledger always gets every metric; a tracker is extra. `start_tracker` imports the W&B
logger lazily and never lets W&B stop training: a missing module or a failed start leaves
the null tracker and a ledger warning, and the logger's own warnings are copied to the
ledger as they appear.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from trainward.runs.context import RunContext

ENV_INIT_TIMEOUT = "TRAINWARD_WANDB_INIT_TIMEOUT"  # seconds to wait for W&B to start (default 60)
FINISH_TIMEOUT_S = 60.0


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int) -> None: ...
    def summary(self, values: dict[str, Any]) -> None: ...
    def close(self, status: str) -> None: ...


class NullTracker:
    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def close(self, status: str) -> None:
        pass


class WandbTracker:
    """A `trainward.tracking.wandb_logger.WandbLogger`, with its warnings forwarded to the ledger."""

    def __init__(self, logger: Any, ledger: Any) -> None:
        self.logger, self.ledger = logger, ledger
        self._forwarded = 0

    def forward_warnings(self) -> None:
        for message in self.logger.warnings[self._forwarded :]:
            self.ledger.warn(message)
        self._forwarded = len(self.logger.warnings)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.logger.log(metrics, step=step)
        if len(self.logger.warnings) > self._forwarded:
            self.forward_warnings()

    def summary(self, values: dict[str, Any]) -> None:
        self.logger.summary(values)

    def close(self, status: str) -> None:
        """status: finished, preempted or continue (the next attempt resumes the W&B run)."""
        if status == "preempted":
            self.logger.mark_preempting()
        self.logger.finish(
            exit_code=0 if status in ("finished", "continue") else 143, timeout=FINISH_TIMEOUT_S
        )
        self.forward_warnings()


def start_tracker(ctx: RunContext) -> Tracker:
    """The run's tracker: W&B when `wandb.mode` is online or offline, else the null tracker."""
    exp = ctx.experiment
    if exp.wandb.mode == "disabled":
        return NullTracker()
    try:
        from trainward.tracking.wandb_logger import WandbLogger
    except ImportError as err:
        ctx.ledger.warn(
            f"W&B logging skipped: trainward.tracking.wandb_logger is unavailable ({err}); metrics are in the ledger"
        )
        return NullTracker()
    try:
        logger = WandbLogger.start(
            project=exp.wandb.project, entity=exp.wandb.entity, mode=exp.wandb.mode, run_name=ctx.run,
            config=exp.to_dict(), run_id=ctx.spec.wandb_id, dir=None, tags=exp.wandb.tags,
            group=ctx.spec.run_info.sweep, init_timeout=float(os.environ.get(ENV_INIT_TIMEOUT, "60")),
        )  # fmt: skip
    except Exception as err:  # the logger promises not to raise; training goes on regardless
        ctx.ledger.warn(f"W&B logging skipped: {type(err).__name__}: {err}")
        return NullTracker()
    tracker = WandbTracker(logger, ctx.ledger)
    tracker.forward_warnings()
    if logger.active:
        ctx.ledger.set_tracker({"kind": "wandb", "mode": exp.wandb.mode, "run_id": logger.run_id,
                                "path": logger.path, "url": logger.url})  # fmt: skip
    return tracker
