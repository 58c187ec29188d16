"""`trainward logs`: the last lines of a run's output, filtered the same way on every backend.

Fetches and returns: nothing here follows a log (an assistant's tool call must end).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from trainward.backends.base import LogQuery, ReadOnlyBackend, RunHandle
from trainward.errors import UsageError
from trainward.runs.registry import Registry

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """`2h`, `30m`, `1d`, `90s` ago, or an ISO 8601 time (naive means UTC) -> epoch seconds."""
    now = time.time() if now is None else now
    m = _RELATIVE.match(text.strip())
    if m:
        return now - float(m[1]) * _UNIT_S[m[2]]
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid --since {text!r}", hint="use e.g. 30m, 2h, 1d or 2026-11-30T07:00:00"
        ) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


@dataclass
class Logs:
    run: str
    tail: int
    lines: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)


def read_logs(
    registry: Registry,
    reader_for: Callable[[str], ReadOnlyBackend],
    run: str,
    *,
    tail: int,
    query: LogQuery,
    filters: dict[str, str],
) -> Logs:
    rec = registry.resolve(run)
    reader = reader_for(rec.backend)
    handle = RunHandle(rec.backend, rec.run, dict(rec.ids)) if rec.ids else reader.find_run(rec.run)
    future = query.since is not None and query.since > time.time()
    text = reader.logs(handle, tail=tail, query=query) if handle and not future else ""
    return Logs(rec.run, tail, text.splitlines(), filters)
