"""Alerts: a webhook call when a run ends or goes stale, at most once per event.

Who notices each event (an experiment's `alerts:` section chooses which are sent):

    finished, stopped, timed-out   the worker, as the run ends, where it executes (so the alert
                                   comes when the laptop that launched it is closed)
    failed, preempted              the worker, once no retry follows (the exit table of
                                   core/states.py and the attempts left)
    stale                          `trainward watch` (runs/watch.py, a bounded pass for cron) and
                                   a deployed Modal app's scheduled check (`watch_volume`)

`trainward watch` also reports an end that no worker could (a process killed outright).

At most once: an alert's record (`AlertRecord`, runs/<run>/alerts/<key>.json on the run's
volume) is claimed before the webhook is called; whoever finds it claimed sends nothing. A call
that fails is recorded with its error and not repeated. The URL is a secret (the variable
`alerts.webhook_env`, from the secret `alerts.webhook_secret`): it is read from the
environment when the alert is sent and never written into a record, a message or a log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from trainward import __version__
from trainward.backends.base import Backend
from trainward.config.experiment import Alerts
from trainward.config.schema import build
from trainward.config.values import parse_duration
from trainward.core import jsonl
from trainward.core.contracts import AlertRecord, JsonObject, LedgerStatus
from trainward.core.fileio import atomic_write
from trainward.core.paths import EVENTS_FILE, alert_path
from trainward.core.states import AlertEvent, exit_meaning
from trainward.errors import ConfigError, NotFound
from trainward.runs.context import RunContext
from trainward.runs.verdict import minutes

TIMEOUT_S = 10.0
Send = Callable[[str, bytes], int]  # (url, JSON body) -> the HTTP status; raises OSError


# -- what to say ------------------------------------------------------------------------------


def outcome_event(
    state: str | None, code: int, *, attempt: int, retries: int, stop_requested: bool
) -> AlertEvent | None:
    """The event a worker's attempt ended with, or None while the run goes on (a retry
    follows, or a continuation takes over)."""
    if state in ("finished", "stopped", "timed-out"):
        return state  # type: ignore[return-value]
    if state not in ("failed", "preempted"):
        return None
    retried = exit_meaning(code, stop_requested=stop_requested).retry and attempt <= retries
    return None if retried else state  # type: ignore[return-value]


def message(event: AlertEvent, run: str, st: LedgerStatus, *, detail: str | None = None) -> str:
    """One line for people: what happened, how far the run got, and the next command."""
    parts = [f"trainward: run {run} " + _HEADLINE[event]]
    if detail or st.get("reason"):
        parts[0] += f": {detail or st.get('reason')}"
    if st.get("epochs"):
        parts.append(f"epoch {st.get('epoch') or 0}/{st.get('epochs')}")
    best = st.get("best") or {}
    if best.get("metric") and best.get("value") is not None:
        parts.append(f"best {best['metric']} {float(best['value']):.4g}")
    started, ended = st.get("started_at"), st.get("ended_at") or time.time()
    if started:
        parts.append(f"after {minutes(float(ended) - float(started))}")
    nxt = "logs" if event in ("failed", "stale") else "status"
    return (
        "; ".join(parts)
        + f". Next: trainward {nxt} {run}"
        + (" --tail 100" if nxt == "logs" else "")
    )


_HEADLINE: dict[str, str] = {
    "finished": "finished",
    "failed": "failed",
    "preempted": "was preempted and has no retries left",
    "stopped": "stopped",
    "timed-out": "timed out (resources.max_runtime)",
    "stale": "is stale",
}


def payload(record: AlertRecord, fmt: str) -> JsonObject:
    """Slack-compatible (`{"text": ...}`), or the whole record (`format: json`)."""
    if fmt == "slack":
        return {"text": record.text}
    return {k: v for k, v in record.to_json().items() if k not in ("sent", "status", "error")}


# -- sending ----------------------------------------------------------------------------------


def post_json(url: str, body: bytes, timeout: float = TIMEOUT_S) -> int:
    """POST `body` as JSON; the HTTP status (an error status is returned, not raised)."""
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"trainward/{__version__}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _describe(err: Exception) -> str:
    """An error of the call, in words that cannot contain the URL."""
    if isinstance(err, urllib.error.URLError) and not isinstance(err.reason, str):
        reason = err.reason
        return f"could not reach the webhook ({getattr(reason, 'strerror', None) or type(reason).__name__})"
    if isinstance(err, TimeoutError):
        return f"the webhook did not answer within {TIMEOUT_S:.0f} s"
    return f"the call failed ({type(err).__name__})"


class AlertBook(Protocol):
    """Where alert records live: `claim` creates one unless it exists (True: ours to send)."""

    def claim(self, key: str, data: bytes) -> bool: ...

    def settle(self, key: str, data: bytes) -> None: ...


class DirBook:
    """Records in a run's directory on a mounted volume (the worker; a Modal container)."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "alerts"

    def claim(self, key: str, data: bytes) -> bool:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.dir / f"{key}.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return True

    def settle(self, key: str, data: bytes) -> None:
        atomic_write(self.dir / f"{key}.json", data)


class VolumeBook:
    """Records through a backend's volume verbs (`trainward watch`, for any backend)."""

    def __init__(self, backend: Backend, volume: str, run: str) -> None:
        self.backend, self.volume, self.run = backend, volume, run

    def claim(self, key: str, data: bytes) -> bool:
        if self.backend.stat(self.volume, alert_path(self.run, key)) is not None:
            return False
        self.backend.write_file(self.volume, alert_path(self.run, key), data)
        return True

    def settle(self, key: str, data: bytes) -> None:
        self.backend.write_file(self.volume, alert_path(self.run, key), data)


def deliver(
    record: AlertRecord,
    config: Alerts,
    book: AlertBook,
    *,
    env: Mapping[str, str] = os.environ,
    send: Send = post_json,
) -> AlertRecord | None:
    """Claim `record`, call the webhook, record the outcome. None: someone claimed it first."""
    record = dataclasses.replace(record, claimed_at=time.time())
    if not book.claim(record.key, _dumps(record)):
        return None
    url = env.get(config.webhook_env, "")
    outcome: dict[str, Any] = {}
    if not url:
        outcome["error"] = (
            f"{config.webhook_env} is not set (it comes from the secret {config.webhook_secret})"
        )
    elif urlsplit(url).scheme not in ("http", "https"):
        outcome["error"] = f"{config.webhook_env} is not an http(s) URL"
    else:
        body = json.dumps(payload(record, config.format)).encode()
        try:
            status = send(url, body)
            outcome = {"status": status, "sent": 200 <= status < 300}
        except (OSError, ValueError) as err:
            outcome["error"] = _describe(err)
    record = dataclasses.replace(record, **outcome)
    book.settle(record.key, _dumps(record))
    return record


def _dumps(record: AlertRecord) -> bytes:
    return json.dumps(record.to_json(), indent=2).encode()


def alerts_of(config: JsonObject | None) -> Alerts | None:
    """A run's alerts settings, from its resolved config (run.json); None when it has none."""
    raw = (config or {}).get("alerts")
    if not raw:
        return None
    try:
        return build(Alerts, raw, "alerts")
    except ConfigError:
        return None


def stale_after_s(config: Alerts) -> float:
    return float(parse_duration(config.stale_after))


# -- the worker's alert ------------------------------------------------------------------------


def attempts_in_call(run_dir: Path) -> int:
    """Which attempt of the current call this is: the local supervisor says so; on Modal,
    the ledger's starts since its last hand-over to a continuation (retries reset there)."""
    if os.environ.get("TRAINWARD_ATTEMPT"):
        return int(os.environ["TRAINWARD_ATTEMPT"])
    starts = 0
    for row in jsonl.read(run_dir / EVENTS_FILE):
        if row.get("event") == "continue":
            starts = 0
        elif row.get("event") in ("start", "restart"):
            starts += 1
    return max(starts, 1)


def notify_outcome(
    ctx: RunContext, code: int, *, env: Mapping[str, str] = os.environ, send: Send = post_json
) -> AlertRecord | None:
    """Send the alert of how this attempt ended, if the run asked for it and no retry
    follows. Never raises: an alert must not change how the run ends."""
    config = ctx.experiment.alerts
    if config is None:
        return None
    st = ctx.ledger.status
    event = outcome_event(
        st.get("state"),
        code,
        attempt=attempts_in_call(ctx.run_dir),
        retries=ctx.experiment.resources.retries,
        stop_requested=ctx.stop_was_asked(),
    )
    if event is None or event not in config.on:
        return None
    record = AlertRecord(
        run=ctx.run, event=event, key=event, by="worker", text=message(event, ctx.run, st)
    )
    try:
        done = deliver(record, config, DirBook(ctx.run_dir), env=env, send=send)
        ctx.commit()
    except (OSError, NotFound) as err:
        print(f"[trainward] alert {event}: not sent ({type(err).__name__})", flush=True)
        return None
    if done is not None:
        state = "sent" if done.sent else f"not sent: {done.error or done.status}"
        print(f"[trainward] alert {event}: {state}", flush=True)
    return done


__all__ = [
    "AlertBook",
    "DirBook",
    "VolumeBook",
    "alerts_of",
    "deliver",
    "message",
    "notify_outcome",
    "outcome_event",
    "payload",
    "post_json",
]
