"""The fake's state: entities, projects and runs, kept in memory behind one lock.

A run comes from either side: seeded through the control API (synthetic history of any
length) or created by a real client's `upsertBucket` and filled through `file_stream`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .history import History, LoggedHistory, SyntheticHistory

VIEWER = {"entity": "fake-entity", "username": "fake-user", "email": "fake@example.com"}


def iso(ts: float | None) -> str | None:
    """W&B's timestamp format: ISO 8601, UTC, no offset suffix."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def new_run_id() -> str:
    return secrets.token_hex(4)


@dataclass
class Run:
    entity: str
    project: str
    id: str
    display_name: str
    state: str = "running"
    created_at: float = field(default_factory=time.time)
    heartbeat_at: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: History = field(default_factory=LoggedHistory)
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    stopped: bool = False
    exit_code: int | None = None
    preempting: bool = False
    files: list[str] = field(default_factory=list)
    console_lines: int = 0
    seq: int = 0  # creation order, breaks created_at ties

    @property
    def storage_id(self) -> str:
        return base64.b64encode(f"Run:v1:{self.id}:{self.project}:{self.entity}".encode()).decode()

    def full_summary(self) -> dict[str, Any]:
        out = self.history.latest()
        out.update(self.summary)
        return out

    def config_json(self) -> str:
        wrapped = {
            k: v if _is_wrapped(v) else {"value": v, "desc": None} for k, v in self.config.items()
        }
        return json.dumps(wrapped)

    def node(self) -> dict[str, Any]:
        """The run as GraphQL returns it: a superset of RunFragment and the light fragment."""
        return {
            "id": self.storage_id,
            "projectId": "1",
            "name": self.id,
            "displayName": self.display_name,
            "tags": self.tags,
            "sweepName": None,
            "state": self.state,
            "config": self.config_json(),
            "group": self.group,
            "jobType": self.job_type,
            "commit": None,
            "readOnly": False,
            "createdAt": iso(self.created_at),
            "heartbeatAt": iso(self.heartbeat_at),
            "description": self.notes,
            "notes": self.notes,
            "systemMetrics": "{}",
            "summaryMetrics": json.dumps(self.full_summary()),
            "historyLineCount": len(self.history),
            "historyKeys": self.history.history_keys(),
            "user": {"name": VIEWER["username"], "username": VIEWER["username"]},
            "stopped": self.stopped,
        }

    def matches(self, filters: dict[str, Any]) -> bool:
        return _match(self, filters)


def _is_wrapped(v: Any) -> bool:
    return isinstance(v, dict) and set(v) <= {"value", "desc"} and "value" in v


_FIELDS = {
    "name": lambda r: r.id,
    "id": lambda r: r.id,
    "display_name": lambda r: r.display_name,
    "displayName": lambda r: r.display_name,
    "state": lambda r: r.state,
    "group": lambda r: r.group,
    "jobType": lambda r: r.job_type,
    "tags": lambda r: r.tags,
}


def _field(run: Run, key: str) -> Any:
    if key in _FIELDS:
        return _FIELDS[key](run)
    if key.startswith("config."):
        parts = key.split(".")[1:]
        if parts[-1] == "value":
            parts = parts[:-1]
        return run.config.get(".".join(parts))
    if key.startswith(("summary_metrics.", "summaryMetrics.")):
        return run.full_summary().get(key.split(".", 1)[1])
    return None


def _match_value(actual: Any, cond: Any) -> bool:
    if not isinstance(cond, dict):
        return (
            actual in cond
            if isinstance(actual, list) and not isinstance(cond, list)
            else actual == cond
        )
    ops = {
        "$eq": lambda a, v: a == v,
        "$ne": lambda a, v: a != v,
        "$in": lambda a, v: a in v,
        "$nin": lambda a, v: a not in v,
        "$regex": lambda a, v: a is not None and re.search(v, str(a)) is not None,
        "$exists": lambda a, v: (a is not None) == bool(v),
        "$gt": lambda a, v: a is not None and a > v,
        "$gte": lambda a, v: a is not None and a >= v,
        "$lt": lambda a, v: a is not None and a < v,
        "$lte": lambda a, v: a is not None and a <= v,
    }
    return all(op in ops and ops[op](actual, v) for op, v in cond.items())


def _match(run: Run, filters: dict[str, Any]) -> bool:
    for key, cond in filters.items():
        if key == "$and" and not all(_match(run, f) for f in cond):
            return False
        if key == "$or" and not any(_match(run, f) for f in cond):
            return False
        if key == "$nor" and any(_match(run, f) for f in cond):
            return False
        if not key.startswith("$") and not _match_value(_field(run, key), cond):
            return False
    return True


_ORDER = {
    "created_at": lambda r: (r.created_at, r.seq),
    "createdAt": lambda r: (r.created_at, r.seq),
    "heartbeat_at": lambda r: (r.heartbeat_at or 0.0, r.seq),
    "heartbeatAt": lambda r: (r.heartbeat_at or 0.0, r.seq),
    "name": lambda r: (r.id, r.seq),
    "display_name": lambda r: (r.display_name, r.seq),
}


class Store:
    """Projects are (entity, project) pairs that exist once a run was seeded or upserted."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs: dict[tuple[str, str, str], Run] = {}
        self.projects: set[tuple[str, str]] = set()
        self._seq = 0

    def add(self, run: Run) -> Run:
        with self.lock:
            self._seq += 1
            run.seq = self._seq
            self.runs[(run.entity, run.project, run.id)] = run
            self.projects.add((run.entity, run.project))
            return run

    def get(self, entity: str, project: str, run_id: str) -> Run | None:
        with self.lock:
            return self.runs.get((entity, project, run_id))

    def has_project(self, entity: str, project: str) -> bool:
        with self.lock:
            return (entity, project) in self.projects

    def query(self, entity: str, project: str, filters: dict[str, Any], order: str) -> list[Run]:
        desc = order.startswith("-")
        key = _ORDER.get(order.lstrip("+-"), _ORDER["created_at"])
        with self.lock:
            found = [
                r
                for (e, p, _), r in self.runs.items()
                if e == entity and p == project and r.matches(filters)
            ]
        return sorted(found, key=key, reverse=desc)

    def seed(self, spec: dict[str, Any]) -> Run:
        """Create a run with a synthetic history from a control-API request."""
        now = time.time()
        rows = int(spec.get("rows", 0))
        created = float(spec.get("created_at") or now - rows * 0.1)
        history = SyntheticHistory(rows, t0=created, val_every=int(spec.get("val_every") or 1000))
        run = Run(
            entity=spec["entity"],
            project=spec["project"],
            id=spec.get("id") or new_run_id(),
            display_name=spec.get("name") or spec.get("id") or "seeded-run",
            state=spec.get("state", "running"),
            created_at=created,
            heartbeat_at=spec.get("heartbeat_at", now),
            config=dict(spec.get("config") or {}),
            summary=dict(spec.get("summary") or {}),
            history=history,
            tags=list(spec.get("tags") or []),
        )
        return self.add(run)
