"""The fake W&B HTTP server: GraphQL, file_stream, uploads, a request log, faults, control.

Everything a client sends is logged (method, path, GraphQL operation, bytes in and out,
status, the fault applied). Paths under `/_fake/` are the control API; they are never
logged and never faulted:

    GET  /_fake/health                      {"ok": true}
    GET  /_fake/requests                    {"requests": [entry, ...]}
    POST /_fake/requests/reset              empty the log
    POST /_fake/seed      {entity, project, name?, id?, rows, state, heartbeat_at, created_at,
                           config, summary, val_every, tags}      -> {entity, project, id, name}
    GET  /_fake/runs/<entity>/<project>/<id>   the run as stored (rows, state, summary, ...)
    POST /_fake/fault     {"mode": "status", "status": 429|500|..., "count": N?, "seconds": T?}
                          {"mode": "hang", "seconds": T?}   hold requests (T=None: until cleared)
                          {"mode": "down", "seconds": T?}   drop connections without an answer
    POST /_fake/fault/clear                 end any fault and release held requests
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import graphql
from .store import Run, Store

_FILE_STREAM = re.compile(r"^/files/([^/]+)/([^/]+)/([^/]+)/file_stream$")
_RUN_PATH = re.compile(r"^/_fake/runs/([^/]+)/([^/]+)/([^/]+)$")


@dataclass
class Faults:
    """At most one fault at a time; a new one replaces the old."""

    mode: str | None = None
    status: int = 500
    remaining: int | None = None
    until: float | None = None
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, spec: dict[str, Any]) -> None:
        with self.lock:
            self.released.set()  # let anything held by the previous fault go
            self.released = threading.Event()
            self.mode = spec["mode"]
            self.status = int(spec.get("status") or 500)
            count, seconds = spec.get("count"), spec.get("seconds")
            self.remaining = None if count is None else int(count)
            self.until = None if seconds is None else time.monotonic() + float(seconds)

    def clear(self) -> None:
        with self.lock:
            self.mode = None
            self.released.set()

    def take(self) -> tuple[str | None, int, float | None, threading.Event]:
        """The fault for the request arriving now (and use up one of its count)."""
        with self.lock:
            if self.mode and self.until is not None and time.monotonic() >= self.until:
                self.mode = None
            if self.mode and self.remaining is not None:
                if self.remaining <= 0:
                    self.mode = None
                else:
                    self.remaining -= 1
            return self.mode, self.status, self.until, self.released


class FakeState:
    def __init__(self) -> None:
        self.store = Store()
        self.faults = Faults()
        self.log: list[dict[str, Any]] = []
        self.log_lock = threading.Lock()
        self.base_url = ""

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self.log_lock:
            entry["seq"] = len(self.log) + 1
            self.log.append(entry)
        return entry


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    # --- plumbing -------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(chunks)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return raw

    def _send(self, status: int, payload: Any, entry: dict[str, Any] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)
        if entry is not None:
            entry["status"], entry["bytes_out"] = status, len(body)

    def _drop(self) -> None:
        """Close the connection with a reset and no answer (a server that is down)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def _handle(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        if path.startswith("/_fake/"):
            self._control(path, raw)
            return
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        entry = self.server.state.record(
            {
                "t": time.time(),
                "method": self.command,
                "path": path,
                "op": self._op(path, body),
                "bytes_in": len(raw),
                "bytes_out": 0,
                "status": None,
                "fault": None,
            }
        )
        if self._apply_fault(entry):
            return
        self._route(path, body, entry)

    def _op(self, path: str, body: bytes) -> str | None:
        if path.rstrip("/").endswith("/graphql"):
            try:
                return graphql.operation_name(json.loads(body or b"{}").get("query") or "")
            except ValueError:
                return "invalid-json"
        if _FILE_STREAM.match(path):
            return "file_stream"
        if path.startswith("/sdk/otel/"):
            return "telemetry"
        return None

    def _apply_fault(self, entry: dict[str, Any]) -> bool:
        mode, status, until, released = self.server.state.faults.take()
        if mode is None:
            return False
        entry["fault"] = mode if mode != "status" else str(status)
        if mode == "status":
            self._send(status, {"errors": [{"message": f"fake W&B: injected {status}"}]}, entry)
            return True
        if mode == "down":
            self._drop()
            return True
        # hang: hold the request until the window ends or the fault is cleared, then answer
        released.wait(None if until is None else max(until - time.monotonic(), 0.0))
        return False

    # --- W&B endpoints ----------------------------------------------------------------

    def _route(self, path: str, body: bytes, entry: dict[str, Any]) -> None:
        state = self.server.state
        if self.command == "POST" and path.rstrip("/").endswith("/graphql"):
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                self._send(400, {"errors": [{"message": "invalid JSON"}]}, entry)
                return
            self._send(200, graphql.execute(state.store, req, state.base_url), entry)
            return
        m = _FILE_STREAM.match(path)
        if m and self.command == "POST":
            self._send(200, self._file_stream(*m.groups(), body), entry)
            return
        if self.command == "PUT" and path.startswith("/_upload/"):
            self._send(200, b"", entry)
            return
        if path.startswith("/sdk/otel/"):  # wandb-core's own telemetry; accepted and dropped
            self._send(200, {}, entry)
            return
        self._send(404, {"error": f"fake W&B: no route for {self.command} {path}"}, entry)

    def _file_stream(self, entity: str, project: str, run_id: str, body: bytes) -> dict[str, Any]:
        req = json.loads(body or b"{}")
        store = self.server.state.store
        with store.lock:
            run = store.get(entity, project, run_id)
            if run is None:
                run = store.add(Run(entity=entity, project=project, id=run_id, display_name=run_id))
            apply_file_stream(run, req)
        return {"exitcode": None, "limits": {}}

    # --- control API ------------------------------------------------------------------

    def _control(self, path: str, raw: bytes) -> None:
        state = self.server.state
        spec = json.loads(raw or b"{}")
        if path == "/_fake/health":
            self._send(200, {"ok": True})
        elif path == "/_fake/requests":
            with state.log_lock:
                self._send(200, {"requests": list(state.log)})
        elif path == "/_fake/requests/reset":
            with state.log_lock:
                state.log.clear()
            self._send(200, {"ok": True})
        elif path == "/_fake/seed":
            run = state.store.seed(spec)
            self._send(
                200,
                {
                    "entity": run.entity,
                    "project": run.project,
                    "id": run.id,
                    "name": run.display_name,
                },
            )
        elif path == "/_fake/fault":
            state.faults.set(spec)
            self._send(200, {"ok": True})
        elif path == "/_fake/fault/clear":
            state.faults.clear()
            self._send(200, {"ok": True})
        elif m := _RUN_PATH.match(path):
            self._send_run(*m.groups())
        else:
            self._send(404, {"error": f"no control route {path}"})

    def _send_run(self, entity: str, project: str, run_id: str) -> None:
        store = self.server.state.store
        with store.lock:
            run = store.get(entity, project, run_id)
            if run is None:
                self._send(404, {"error": "no such run"})
                return
            out = {
                "id": run.id,
                "name": run.display_name,
                "state": run.state,
                "rows": len(run.history),
                "exit_code": run.exit_code,
                "preempting": run.preempting,
                "config": run.config,
                "summary": run.full_summary(),
                "files": run.files,
                "heartbeat_at": run.heartbeat_at,
                "tags": run.tags,
                "group": run.group,
            }
        self._send(200, out)


def apply_file_stream(run: Run, req: dict[str, Any]) -> None:
    """Fold one file_stream request into the run (history, summary, state, heartbeat)."""
    from .history import LoggedHistory

    run.heartbeat_at = time.time()
    files = req.get("files") or {}
    hist = files.get("wandb-history.jsonl")
    if hist and isinstance(run.history, LoggedHistory):
        run.history.put(
            int(hist.get("offset", 0)), [json.loads(line) for line in hist.get("content", [])]
        )
    summ = files.get("wandb-summary.json")
    if summ and summ.get("content"):
        run.summary = json.loads(summ["content"][-1])
    logs = files.get("output.log")
    if logs:
        run.console_lines = int(logs.get("offset", 0)) + len(logs.get("content", []))
    if req.get("uploaded"):
        run.files.extend(f for f in req["uploaded"] if f not in run.files)
    if req.get("preempting"):
        run.preempting = True
        run.state = "preempting"
    if req.get("complete"):
        run.exit_code = int(req.get("exitcode") or 0)
        run.state = "finished" if run.exit_code == 0 else "failed"
    elif run.state not in ("preempting",):
        run.state = "running"


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), Handler)
        self.state = FakeState()
        self.state.base_url = f"http://{host}:{self.server_address[1]}"


def serve(host: str = "127.0.0.1", port: int = 0) -> FakeServer:
    """Bind (port 0 picks a free one); call `serve_forever()` on the result."""
    return FakeServer(host, port)
