"""Join a tracker's view of a run into a RunStatus, and the lazy W&B reader status uses.

`apply_tracker` is the one place that decides what W&B adds to (or, with `status --wandb`,
is alone in) a status: the metrics source, the links, where W&B and the ledger disagree,
and the verdict for a W&B-only run. It never imports wandb; `LazyWandbReader` does, on
first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainward.runs.status import RunStatus


def apply_tracker(
    out: RunStatus, tr: Any, *, has_ledger: bool, stale_after: float, now: float
) -> None:
    """Join a W&B TrackerRun into a status; flag where W&B and the ledger disagree."""
    out.tracker = tr.to_dict() if hasattr(tr, "to_dict") else dict(tr)
    out.tracker.pop("history", None)
    out.links["wandb"] = tr.url
    out.metrics_source = "wandb+ledger" if has_ledger else "wandb"
    wb_running = tr.state == "running"
    if has_ledger:
        ledger_running = out.state in ("running", "pending")
        if wb_running != ledger_running:
            out.disagreements.append(f"W&B says {tr.state}, the ledger says {out.state}")
        wb_step = tr.summary.get("batch/step") or tr.last_step
        if (
            wb_step is not None
            and out.progress.get("step") is not None
            and abs(int(wb_step) - int(out.progress["step"])) > 1000
        ):
            out.disagreements.append(
                f"W&B is at step {wb_step}, the ledger at {out.progress['step']}"
            )
        if out.verdict == "running" and tr.state in ("crashed", "failed", "finished"):
            out.verdict, out.reason = (
                "zombie",
                f"the compute runs but W&B marked the run {tr.state}",
            )
        return
    # W&B alone (status --wandb): judge by its state and the age of its last log.
    out.state = tr.state
    last = tr.summary.get("_timestamp")
    since = now - float(last) if last else None
    out.timing = {
        "started_at": tr.created_at,
        "runtime_s": tr.summary.get("_runtime"),
        "last_log_at": last,
        "since_last_log_s": round(since, 1) if since is not None else None,
    }
    out.latest = {k: v for k, v in tr.summary.items() if not k.startswith("_")}
    out.validation = [r for r in tr.history if any(k.startswith("val_") for k in r)]
    mapping = {
        "finished": "finished",
        "crashed": "failed",
        "failed": "failed",
        "killed": "stopped",
        "preempted": "preempted",
        "preempting": "preempted",
    }
    if wb_running:
        stale = since is not None and since > stale_after
        out.verdict = "stale" if stale else "running"
        out.reason = f"nothing logged for {since / 60:.1f} min" if stale and since else None
    else:
        out.verdict = mapping.get(tr.state, tr.state)


class LazyWandbReader:
    """A W&B reader built on first use, so runs without W&B never import wandb."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._reader: Any = None

    def find(self, path: str, run: str | None = None) -> Any:
        if self._reader is None:
            from trainward.tracking.wandb import WandbReader

            self._reader = WandbReader(**self._kwargs)
        return self._reader.find(path, run)
