"""Join a tracker's view of a run into a RunStatus.

`apply_tracker` is the one place that decides what W&B adds to (or, with `status --wandb`,
is alone in) a status: the metrics source, the links, where W&B and the ledger disagree,
and the verdict for a W&B-only run. It never imports wandb (the reader does, in tracking/).
"""

from __future__ import annotations

from typing import Any

from trainward.runs.runstatus import MetricNames, RunStatus, Timing
from trainward.runs.verdict import minutes

W_AND_B_STATES = {
    "finished": "finished",
    "crashed": "failed",
    "failed": "failed",
    "killed": "stopped",
    "preempted": "preempted",
    "preempting": "preempted",
}


def apply_tracker(
    out: RunStatus, tr: Any, *, has_ledger: bool, stale_after: float, now: float
) -> None:
    """Join a W&B TrackerRun into a status; flag where W&B and the ledger disagree."""
    out.tracker = tr.to_dict() if hasattr(tr, "to_dict") else dict(tr)
    out.tracker.pop("history", None)
    out.links["wandb"] = tr.url
    out.metrics_source = "wandb+ledger" if has_ledger else "wandb"
    if has_ledger:
        _disagreements(out, tr)
        return
    _wandb_only(out, tr, stale_after=stale_after, now=now)


def _disagreements(out: RunStatus, tr: Any) -> None:
    wb_running = tr.state == "running"
    ledger_running = out.state in ("running", "pending")
    if wb_running != ledger_running:
        out.disagreements.append(f"W&B says {tr.state}, the ledger says {out.state}")
    wb_step = tr.summary.get("batch/step") or tr.last_step
    step = out.progress.step
    if wb_step is not None and step is not None and abs(int(wb_step) - int(step)) > 1000:
        out.disagreements.append(f"W&B is at step {wb_step}, the ledger at {step}")
    if out.verdict == "running" and tr.state in ("crashed", "failed", "finished"):
        out.verdict, out.reason = "zombie", f"the compute runs but W&B marked the run {tr.state}"


def _wandb_only(out: RunStatus, tr: Any, *, stale_after: float, now: float) -> None:
    """W&B alone (status --wandb): judge by its state and the age of its last log."""
    out.state = tr.state
    last = tr.summary.get("_timestamp")
    since = now - float(last) if last else None
    runtime = tr.summary.get("_runtime")
    out.timing = Timing(
        started_at=tr.created_at,
        runtime_s=float(runtime) if isinstance(runtime, (int, float)) else None,
        last_log_at=last,
        since_last_log_s=round(since, 1) if since is not None else None,
    )
    out.metric_names = MetricNames.of(tr.config if isinstance(tr.config, dict) else None)
    out.latest = {k: v for k, v in tr.summary.items() if not k.startswith("_")}
    out.validation = [r for r in tr.history if any(k.startswith("val") for k in r)]
    if tr.state == "running":
        stale = since is not None and since > stale_after
        out.verdict = "stale" if stale else "running"
        out.reason = f"nothing logged for {minutes(since)}" if stale and since else None
    else:
        out.verdict = W_AND_B_STATES.get(tr.state, tr.state)
