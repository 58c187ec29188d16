"""Watching for what a worker cannot report: runs gone stale, and ends nobody announced.

`watch_runs` is `trainward watch`: one bounded pass over the registry's recent runs (those
whose experiment has `alerts:`), reading each one's status the way `trainward status` does,
then exiting, so that cron can run it. `watch_volume` is the deployed Modal app's scheduled
check (scripts/modal_train.py): it sees only the volume, so it judges a run stale from its
ledger alone. Both send through trainward.runs.alerts, whose records keep each alert to one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trainward.backends.base import Backend, ReadOnly
from trainward.config.experiment import Alerts
from trainward.core import paths
from trainward.core.contracts import AlertRecord, RegistryRecord, RunInfo, ledger_status_from_json
from trainward.core.fileio import locked
from trainward.core.states import LAUNCHED, AlertEvent
from trainward.errors import TrainwardError
from trainward.runs.alerts import (
    DirBook,
    Send,
    VolumeBook,
    alerts_of,
    deliver,
    message,
    post_json,
    stale_after_s,
)
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import Registry
from trainward.runs.runstatus import RunStatus
from trainward.runs.status import StatusReader
from trainward.runs.verdict import minutes

#: An end is announced by `watch` only this long after it, so the worker goes first.
GRACE_S = 120.0
ENDS = ("finished", "failed", "stopped", "timed-out")


def event_of(s: RunStatus, *, now: float, since_s: float) -> tuple[AlertEvent, str] | None:
    """(event, record key) that status `s` calls for, if any: stale (once per attempt), or
    an end that is over GRACE_S old and younger than `since_s`."""
    if s.verdict == "stale":
        return "stale", f"stale-{s.attempt or 1}"
    ended = s.timing.ended_at
    if s.verdict in ENDS and ended and GRACE_S <= now - ended <= since_s:
        return s.verdict, s.verdict  # type: ignore[return-value]
    return None


def watch_runs(
    registry: Registry,
    backend_for: Callable[[str], Backend],
    *,
    limit: int = 50,
    since_s: float = 86400.0,
    stale_after: float | None = None,
    dry_run: bool = False,
    env: Mapping[str, str] = os.environ,
    send: Send = post_json,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """One pass over the last `limit` runs: send what is due, or (dry_run) list it."""
    out: dict[str, Any] = {"dry_run": dry_run, "checked": 0, "alerts": [], "skipped": {}}
    backends: dict[str, Backend] = {}
    with locked(paths.locks_dir() / "watch.lock"):  # two passes (cron overlap) never race
        for rec in registry.records()[-limit:]:
            if rec.state != LAUNCHED:
                continue
            backend = backends.setdefault(rec.backend, backend_for(rec.backend))
            found = _check(rec, backend, registry, stale_after, since_s, clock())
            if isinstance(found, str):
                out["skipped"][found] = out["skipped"].get(found, 0) + 1
                continue
            out["checked"] += 1
            if found is None:
                continue
            record, config = found
            book = VolumeBook(backend, rec.volume, rec.run)
            if dry_run:
                taken = backend.stat(rec.volume, paths.alert_path(rec.run, record.key))
                if taken is None:
                    out["alerts"].append(record.to_json())
                continue
            done = deliver(record, config, book, env=env, send=send)
            if done is not None:
                out["alerts"].append(done.to_json())
    return out


def _check(
    rec: RegistryRecord,
    backend: Backend,
    registry: Registry,
    stale_after: float | None,
    since_s: float,
    now: float,
) -> tuple[AlertRecord, Alerts] | str | None:
    """The alert due for one run, None, or why it was skipped."""
    reader = ReadOnly(backend)
    ledger = LedgerReader(reader, rec.volume, rec.run)
    try:
        info = ledger.run_info()
        config = alerts_of(info.config if info else None)
        if config is None:
            return "no_alerts"
        threshold = stale_after or stale_after_s(config)
        s = StatusReader(registry, reader, stale_after=threshold).for_record(rec)
        due = event_of(s, now=now, since_s=since_s)
        if due is None or due[0] not in config.on:
            return None
        st = ledger.status() or {}
    except TrainwardError:
        return "unreadable"
    event, key = due
    text = message(event, rec.run, st, detail=s.reason if event == "stale" else None)
    return AlertRecord(run=rec.run, event=event, key=key, by="watch", text=text), config


def watch_volume(
    root: Path,
    *,
    commit: Callable[[], None] = lambda: None,
    env: Mapping[str, str] = os.environ,
    send: Send = post_json,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The deployed app's check: every run on the mounted volume whose ledger says running
    but has logged nothing for its `alerts.stale_after` gets its stale alert (once per
    attempt)."""
    out: dict[str, Any] = {"checked": 0, "alerts": []}
    now = clock()
    for run_dir in sorted(p for p in (root / "runs").glob("*") if p.is_dir()):
        try:
            st = ledger_status_from_json(json.loads((run_dir / paths.STATUS_FILE).read_text()))
            info = RunInfo.from_json(json.loads((run_dir / paths.RUN_FILE).read_text()))
        except (OSError, ValueError, TrainwardError):
            continue
        config = alerts_of(info.config)
        if config is None or st.get("state") != "running":
            continue
        out["checked"] += 1
        last = st.get("last_log_at") or st.get("attempt_started_at") or st.get("started_at")
        quiet = now - float(last) if last else 0.0
        if "stale" not in config.on or quiet <= stale_after_s(config):
            continue
        detail = f"nothing logged for {minutes(quiet)} (threshold {minutes(stale_after_s(config))})"
        key = f"stale-{st.get('attempt') or 1}"
        text = message("stale", run_dir.name, st, detail=detail)
        record = AlertRecord(run=run_dir.name, event="stale", key=key, by="modal-watch", text=text)
        done = deliver(record, config, DirBook(run_dir), env=env, send=send)
        if done is not None:
            out["alerts"].append(done.to_json())
    if out["alerts"]:
        commit()
    return out


__all__ = ["GRACE_S", "event_of", "watch_runs", "watch_volume"]
