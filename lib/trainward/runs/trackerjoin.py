"""Join a tracker's view of a run into a RunStatus.

`apply_tracker` is the one place that decides what W&B adds to (or, with `status --wandb`,
is alone in) a status: the metrics source, the links, where W&B and the ledger disagree,
and the verdict for a W&B-only run. It never imports wandb (the reader does, in tracking/).
"""

from __future__ import annotations

from typing import Any

from trainward.runs.pricing import table_price
from trainward.runs.runstatus import Cost, MetricNames, Progress, RunStatus, Timing, judge_targets
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
    """W&B alone (status --wandb): as full as a ledger read, from the run's summary, its
    history rows and its config (a trainward run logs its resolved experiment as the config)."""
    config = tr.config if isinstance(tr.config, dict) else {}
    summary = tr.summary
    out.state = tr.state
    out.metric_names = MetricNames.of(config)
    out.latest = {k: v for k, v in summary.items() if not k.startswith("_")}
    out.validation = [r for r in tr.history if any(k.startswith("val") for k in r)]
    out.progress = _progress(summary, config, tr.last_step)
    out.timing = _timing(tr, summary, out.progress, now)
    out.cost = _cost(config, out.timing)
    targets = {str(k): str(v) for k, v in (config.get("targets") or {}).items()}
    # W&B's summary holds the newest value of every key; a run without one has its last row
    last = (
        out.latest if any(k.startswith("val") for k in out.latest) else (out.validation or [{}])[-1]
    )
    out.targets, out.categories = judge_targets(last, targets, out.metric_names)
    out.config = _config_summary(config, out.progress)
    since = out.timing.since_last_log_s
    if tr.state == "running":
        stale = since is not None and since > stale_after
        out.verdict = "stale" if stale else "running"
        out.reason = f"nothing logged for {minutes(since)}" if stale and since else None
    else:
        out.verdict = W_AND_B_STATES.get(tr.state, tr.state)


def _progress(summary: dict[str, Any], config: dict[str, Any], last_step: int | None) -> Progress:
    epochs = (config.get("train") or {}).get("epochs") or config.get("epochs")
    epoch = summary.get("epoch")
    step = summary.get("batch/step", summary.get("_step", last_step))
    total = summary.get("steps_total")
    pct = None
    if isinstance(total, (int, float)) and total and isinstance(step, (int, float)):
        pct = round(100.0 * step / total, 2)
    elif isinstance(epochs, int) and epochs and isinstance(epoch, (int, float)):
        pct = round(100.0 * min(epoch, epochs) / epochs, 2)
    return Progress(
        epoch=int(epoch) if isinstance(epoch, (int, float)) else None,
        epochs=epochs if isinstance(epochs, int) else None,
        step=int(step) if isinstance(step, (int, float)) else None,
        steps_total=int(total) if isinstance(total, (int, float)) else None,
        pct=pct,
    )


def _timing(tr: Any, summary: dict[str, Any], progress: Progress, now: float) -> Timing:
    last = summary.get("_timestamp")
    runtime = summary.get("_runtime")
    runtime = float(runtime) if isinstance(runtime, (int, float)) else None
    per_epoch = runtime / progress.epoch if runtime and progress.epoch else None
    eta = None
    if tr.state == "running" and per_epoch and progress.epochs and progress.epoch is not None:
        eta = round(max(progress.epochs - progress.epoch, 0) * per_epoch, 1)
    since = now - float(last) if isinstance(last, (int, float)) else None
    return Timing(
        started_at=tr.created_at,
        runtime_s=round(runtime, 1) if runtime is not None else None,
        last_log_at=last,
        since_last_log_s=round(since, 1) if since is not None else None,
        eta_s=eta,
        eta_at=now + eta if eta is not None else None,
        sec_per_epoch=round(per_epoch, 2) if per_epoch else None,
    )


def _cost(config: dict[str, Any], timing: Timing) -> Cost:
    """From the run's recorded price, else the price table for its GPU (runtime x price)."""
    price, source = config.get("price_per_hour"), "config"
    if price is None:
        price, source = table_price(config)
    if price is None or timing.runtime_s is None:
        return Cost()
    eta = timing.eta_s or 0.0
    return Cost(
        price_per_hour=price,
        source=source,
        so_far_usd=round(price * timing.runtime_s / 3600, 4),
        projected_usd=round(price * (timing.runtime_s + eta) / 3600, 4),
    )


def _config_summary(config: dict[str, Any], progress: Progress) -> dict[str, Any]:
    entry = config.get("entrypoint")
    train = config.get("train")
    train = train if isinstance(train, dict) else {}
    if isinstance(entry, dict):
        entry = " ".join(entry.get("command") or [])
    return {
        "entrypoint": None if entry in (None, "builtin") else entry,
        "arch": train.get("arch"),
        "size": train.get("size"),
        "gpu": (config.get("resources") or {}).get("gpu"),
        "epochs": progress.epochs,
        "config": None,
    }
