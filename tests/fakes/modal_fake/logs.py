"""App logs: what containers print, kept per app and served by AppGetLogs / AppFetchLogs.

Entries are appended to ``<state-dir>/logs/<app-id>.jsonl`` as they arrive. Only container
output is logged here; the fake never writes a secret's value anywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modal_proto import api_pb2

from .ids import EntryIds
from .router import CallContext
from .state import Signal

if TYPE_CHECKING:
    from .context import Fake

STDOUT, STDERR = api_pb2.FILE_DESCRIPTOR_STDOUT, api_pb2.FILE_DESCRIPTOR_STDERR


@dataclass
class LogEntry:
    entry_id: str
    seq: int
    app_id: str
    timestamp: float
    fd: int
    data: str
    task_id: str = ""
    function_id: str = ""
    function_call_id: str = ""
    input_id: str = ""

    def batch(self) -> api_pb2.TaskLogsBatch:
        item = api_pb2.TaskLogs(
            data=self.data,
            file_descriptor=self.fd,  # type: ignore[arg-type]
            timestamp=self.timestamp,
            function_call_id=self.function_call_id,
            input_id=self.input_id,
            container_id=self.task_id,
        )
        return api_pb2.TaskLogsBatch(
            entry_id=self.entry_id,
            task_id=self.task_id,
            function_id=self.function_id,
            input_id=self.input_id,
            items=[item],
        )


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.entries: dict[str, list[LogEntry]] = {}
        self.ids = EntryIds()
        self.appended = Signal()
        for path in sorted(root.glob("*.jsonl")):
            rows = [LogEntry(**json.loads(line)) for line in path.read_text().splitlines() if line]
            self.entries[path.stem] = rows
            if rows:
                self.ids.resume_after(max(r.seq for r in rows))

    def append(self, app_id: str, fd: int, data: str, **labels: str) -> LogEntry:
        entry_id = self.ids.next()
        entry = LogEntry(entry_id, EntryIds.seq(entry_id), app_id, time.time(), fd, data, **labels)
        self.entries.setdefault(app_id, []).append(entry)
        with (self.root / f"{app_id}.jsonl").open("a") as f:
            f.write(json.dumps(asdict(entry)) + "\n")
        self.appended.fire()
        return entry

    def query(
        self, app_id: str, after_seq: int = 0, req: _Filterable | None = None
    ) -> list[LogEntry]:
        rows = [e for e in self.entries.get(app_id, []) if e.seq > after_seq]
        return [e for e in rows if req is None or _matches(e, req)]


_Filterable = api_pb2.AppGetLogsRequest | api_pb2.AppFetchLogsRequest


def _matches(e: LogEntry, req: _Filterable) -> bool:
    checks = [
        (req.function_id, e.function_id),
        (req.function_call_id, e.function_call_id),
        (req.task_id, e.task_id),
    ]
    if any(want and want != have for want, have in checks):
        return False
    source = getattr(req, "source", 0)  # AppFetchLogs: stdout, stderr or info (system)
    if source and source != e.fd:
        return False
    return not req.search_text or req.search_text in e.data


class LogService:
    """AppGetLogs (streaming, used by ``modal run`` and ``app logs -f``), AppFetchLogs, AppCountLogs."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    async def AppGetLogs(
        self, req: api_pb2.AppGetLogsRequest, ctx: CallContext
    ) -> AsyncIterator[api_pb2.TaskLogsBatch]:
        logs, state = self.fake.logs, self.fake.state
        deadline = time.time() + min(req.timeout, 55.0)
        after = EntryIds.seq(req.last_entry_id)
        while True:
            rows = logs.query(req.app_id, after, req)
            for row in rows:
                yield row.batch()
            if rows:
                return
            app = state.apps.get(req.app_id)
            if app is None or app.stopped_at:
                yield api_pb2.TaskLogsBatch(app_done=True)
                return
            if time.time() >= deadline:
                return
            await logs.appended.wait(min(1.0, deadline - time.time()))

    async def AppFetchLogs(
        self, req: api_pb2.AppFetchLogsRequest, ctx: CallContext
    ) -> api_pb2.AppFetchLogsResponse:
        rows = self._window(req)
        if req.limit:
            rows = rows[-req.limit :]
        return api_pb2.AppFetchLogsResponse(batches=[r.batch() for r in rows])

    async def AppCountLogs(
        self, req: api_pb2.AppCountLogsRequest, ctx: CallContext
    ) -> api_pb2.AppCountLogsResponse:
        fetch = api_pb2.AppFetchLogsRequest(
            app_id=req.app_id,
            since=req.since,
            until=req.until,
            function_id=req.function_id,
            function_call_id=req.function_call_id,
            task_id=req.task_id,
            search_text=req.search_text,
        )
        width = req.bucket_secs or 3600
        buckets: dict[int, api_pb2.AppCountLogsResponse.LogBucket] = {}
        for row in self._window(fetch):
            start = int(row.timestamp // width * width)
            bucket = buckets.setdefault(start, _new_bucket(start))
            if row.fd == STDERR:
                bucket.stderr_logs += 1
            else:
                bucket.stdout_logs += 1
        return api_pb2.AppCountLogsResponse(
            app_id=req.app_id, buckets=[buckets[k] for k in sorted(buckets)]
        )

    def _window(self, req: api_pb2.AppFetchLogsRequest) -> list[LogEntry]:
        since = req.since.ToNanoseconds() / 1e9 if req.HasField("since") else 0.0
        until = req.until.ToNanoseconds() / 1e9 if req.HasField("until") else float("inf")
        rows = self.fake.logs.query(req.app_id, 0, req)
        return [r for r in rows if since <= r.timestamp < until]


def _new_bucket(start: int) -> api_pb2.AppCountLogsResponse.LogBucket:
    bucket = api_pb2.AppCountLogsResponse.LogBucket()
    bucket.bucket_start_at.FromSeconds(start)
    return bucket
