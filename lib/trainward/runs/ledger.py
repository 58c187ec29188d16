"""The run ledger: what a training run writes on its volume, and how status reads it back.

    runs/<run>/run.json        immutable identity: name, resolved config, hash, backend, gpu, price
    runs/<run>/status.json     replaced atomically: state, progress, latest metrics, validation
                               rows, best metric, checkpoint index
    runs/<run>/metrics.jsonl   append-only rows (every log call)
    runs/<run>/events.jsonl    start, resume, checkpoint, preempt, finish, fail, continue
    runs/<run>/checkpoints/    written by the trainer as temp + rename

`status.json` is written to a temp file, flushed and renamed over the old one, so a reader
never sees a torn file. Progress writes are throttled (`min_interval`); validation rows,
checkpoints and terminal states are written at once. Any trainer can use the writer:
`open_run()` attaches to the run the worker started, from the environment.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trainward.backends.base import VolumeReader
from trainward.core.contracts import (
    LEDGER_VERSION,
    CheckpointEntry,
    ContractError,
    JsonObject,
    LedgerStatus,
    RunInfo,
    ledger_status_from_json,
    new_ledger_status,
)
from trainward.core.fileio import atomic_write, locked
from trainward.core.paths import EVENTS_FILE, METRICS_FILE, RUN_FILE, STATUS_FILE, run_path
from trainward.core.states import LedgerState
from trainward.errors import IntegrityError, NotFound, UsageError

SCHEMA = LEDGER_VERSION

#: Environment variables a worker sets for the code it runs.
ENV_RUN = "TRAINWARD_RUN"
ENV_RUN_DIR = "TRAINWARD_RUN_DIR"
ENV_ATTEMPT = "TRAINWARD_ATTEMPT"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=_json_default, allow_nan=True)


def _json_default(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        return item()
    return str(obj)


def _lock_path(run_dir: Path) -> Path:
    """A lock beside the process, not on the volume (a network volume may not lock): the
    writers of one ledger always run on the same machine or in the same container."""
    key = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"trainward-ledger-{key}.lock"


class LedgerWriter:
    """The trainer's side of the ledger. One writer per process; not thread-safe.

    `commit` is called after checkpoints, validation rows and terminal states (and at most
    every `commit_interval` seconds otherwise); on Modal it commits the volume.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        commit: Callable[[], None] | None = None,
        min_interval: float = 2.0,
        commit_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "checkpoints").mkdir(exist_ok=True)
        self._commit = commit
        self._clock = clock
        self.min_interval = min_interval
        self.commit_interval = commit_interval
        self._last_write = 0.0
        self._last_commit = clock()
        self._dirty = False
        self._metrics_fh: Any = None
        self.status: LedgerStatus = self._load_status() or new_ledger_status(self.dir.name)
        self._written: dict[str, Any] = copy.deepcopy(dict(self.status))

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def start(cls, run_dir: Path, run_info: RunInfo | JsonObject, **kw: Any) -> LedgerWriter:
        """Begin a new attempt of a run: write run.json once, bump the attempt, log `start`."""
        if not isinstance(run_info, RunInfo):
            run_info = RunInfo.from_json(run_info)
        writer = cls(run_dir, **kw)
        for stale in writer.dir.glob(".*.tmp"):  # left by an attempt killed mid-write
            if not stale.name.endswith(f".{os.getpid()}.tmp"):
                stale.unlink(missing_ok=True)
        run_file = writer.dir / RUN_FILE
        if not run_file.exists():
            atomic_write(run_file, json.dumps(run_info.to_json(), indent=2, default=str).encode())
        st = writer.status
        first = st.get("attempt", 0) == 0
        st["attempt"] = st.get("attempt", 0) + 1
        st["state"] = "running"
        st["reason"] = None
        st["host"] = socket.gethostname()
        st["started_at"] = st.get("started_at") or writer._clock()
        st["attempt_started_at"] = writer._clock()
        writer.event("start" if first else "restart", attempt=st["attempt"])
        writer.flush(force=True, commit=True)
        return writer

    @classmethod
    def attach(cls, run_dir: Path | None = None, **kw: Any) -> LedgerWriter:
        """Attach to the current attempt started by the worker (for your own training code)."""
        path = run_dir or os.environ.get(ENV_RUN_DIR)
        if not path:
            raise UsageError(
                f"no run to attach to: {ENV_RUN_DIR} is not set",
                hint="launch the script with `trainward launch CONFIG` (it sets the run directory), "
                "or pass run_dir explicitly",
            )
        writer = cls(Path(path), **kw)
        if not (writer.dir / RUN_FILE).exists():
            raise NotFound(
                f"no run ledger at {path}",
                hint="the worker creates it; launch with `trainward launch`",
            )
        return writer

    def _load_status(self) -> LedgerStatus | None:
        path = self.dir / STATUS_FILE
        if not path.exists():
            return None
        try:
            return ledger_status_from_json(json.loads(path.read_bytes()), where=str(path))
        except ValueError as err:
            raise IntegrityError(f"{path} is not valid JSON: {err}") from None

    # -- writes ------------------------------------------------------------------------------
    def _metrics(self) -> Any:
        if self._metrics_fh is None:
            self._metrics_fh = open(self.dir / METRICS_FILE, "a", buffering=1 << 16)  # noqa: SIM115
        return self._metrics_fh

    def event(self, kind: str, **fields: Any) -> None:
        row = {"t": self._clock(), "event": kind, "attempt": self.status.get("attempt"), **fields}
        with open(self.dir / EVENTS_FILE, "a") as fh:
            fh.write(_dumps(row) + "\n")

    def plan(
        self, *, epochs: int | None, steps_per_epoch: int | None, steps_total: int | None = None
    ) -> None:
        st = self.status
        st["epochs"] = epochs
        st["steps_per_epoch"] = steps_per_epoch
        if steps_total is None and epochs and steps_per_epoch:
            steps_total = epochs * steps_per_epoch
        st["steps_total"] = steps_total
        self.flush(force=True)

    def log(
        self,
        metrics: JsonObject,
        *,
        step: int | None = None,
        epoch: int | None = None,
        batch: int | None = None,
    ) -> None:
        """Append a metrics row and update progress. Cheap: status.json is rewritten throttled."""
        now = self._clock()
        st = self.status
        if step is not None:
            st["step"] = step
        if epoch is not None:
            st["epoch"] = epoch
        if batch is not None:
            st["batch"] = batch
        total = st.get("steps_total")
        if total:
            st["pct"] = round(100.0 * st["step"] / total, 2)
        st["latest"].update(metrics)
        st["last_log_at"] = now
        self._metrics().write(
            _dumps({"t": now, "step": st["step"], "attempt": st["attempt"], **metrics}) + "\n"
        )
        self._dirty = True
        self.flush()

    def output_seen(self, at: float) -> None:
        """The program printed a line at `at` (the worker watches its output)."""
        if self.status.get("last_output_at") != at:
            self.status["last_output_at"] = at
            self._dirty = True
            self.flush()

    def heartbeat(self) -> None:
        self.status["heartbeat_at"] = self._clock()
        self._dirty = True
        self.flush()

    def log_validation(self, epoch: int, metrics: JsonObject, *, step: int | None = None) -> None:
        """Record one per-epoch validation row (written and committed at once)."""
        now = self._clock()
        st = self.status
        row = {"epoch": epoch, "step": st["step"] if step is None else step, "t": now, **metrics}
        st["validation"] = [r for r in st["validation"] if r.get("epoch") != epoch] + [row]
        st["latest"].update(metrics)
        st["last_log_at"] = now
        self._metrics().write(
            _dumps(
                {"t": now, "step": row["step"], "attempt": st["attempt"], "epoch": epoch, **metrics}
            )
            + "\n"
        )
        self.flush(force=True, commit=True)

    def epoch_time(self, epoch: int, seconds: float) -> None:
        times = [t for t in self.status["epoch_times"] if t.get("epoch") != epoch]
        self.status["epoch_times"] = [*times, {"epoch": epoch, "seconds": round(seconds, 3)}]

    def best(self, metric: str, value: float, *, mode: str, epoch: int, step: int) -> None:
        self.status["best"] = {
            "metric": metric,
            "value": value,
            "mode": mode,
            "epoch": epoch,
            "step": step,
        }

    def record_checkpoint(
        self, which: str, path: str, *, step: int, epoch: int, sha256: str, size: int, **extra: Any
    ) -> None:
        """Index a checkpoint (path relative to the run directory) after it was renamed into place."""
        entry: CheckpointEntry = {
            "path": path,
            "step": step,
            "epoch": epoch,
            "sha256": sha256,
            "size": size,
            "time": self._clock(),
            **extra,  # type: ignore[typeddict-item]
        }
        self.status["checkpoints"][which] = entry
        self.event("checkpoint", which=which, path=path, step=step, sha256=sha256, size=size)
        self.flush(force=True, commit=True)

    def resumed(self, *, step: int, epoch: int, source: str) -> None:
        """Note a resume from a checkpoint at `step`: rows logged after it by a dead attempt are dropped."""
        st = self.status
        st["resumes"] = st.get("resumes", 0) + 1
        st["step"] = step
        st["epoch"] = epoch
        st["validation"] = [r for r in st["validation"] if r.get("step", 0) <= step]
        st["epoch_times"] = [t for t in st["epoch_times"] if t.get("epoch", 0) <= epoch]
        self.event("resume", step=step, epoch=epoch, source=source)
        self.flush(force=True, commit=True)

    def set_tracker(self, info: JsonObject | None) -> None:
        self.status["tracker"] = info
        self.flush(force=True)

    def warn(self, message: str) -> None:
        self.status.setdefault("warnings", []).append({"t": self._clock(), "message": message})
        self.event("warning", message=message)
        self.flush(force=True)

    def _terminal(self, state: LedgerState, kind: str, **fields: Any) -> None:
        st = self.status
        st["state"] = state
        st["ended_at"] = self._clock()
        st.update(fields)  # type: ignore[typeddict-item]
        self.event(kind, **fields)
        self.flush(force=True, commit=True)
        self._close_metrics()

    def finish(self, summary: JsonObject | None = None) -> None:
        if summary:
            self.status["latest"].update(summary)
        if self.status.get("steps_total"):
            self.status["pct"] = 100.0
        self._terminal("finished", "finish", reason=None)

    def fail(self, reason: str, exit_code: int | None = None) -> None:
        self._terminal("failed", "fail", reason=reason, exit_code=exit_code)

    def preempted(self, reason: str = "preempted") -> None:
        """The attempt is being stopped by the platform; a retry will resume."""
        self._terminal("preempted", "preempt", reason=reason)

    def stopped(self, reason: str = "stopped by `trainward stop`") -> None:
        """The run was stopped on request; nothing retries it (resume it with --resume)."""
        self._terminal("stopped", "stop", reason=reason)

    def timed_out(self, reason: str = "reached resources.max_runtime") -> None:
        """The run reached its wall-time limit; nothing retries it (resume it with --resume)."""
        self._terminal("timed-out", "timeout", reason=reason)

    def continued(self, next_call: str | None, *, attempt_elapsed: float) -> None:
        """This attempt hands over to a chained continuation (runs beyond the 24 h limit)."""
        st = self.status
        st["state"] = "running"
        st["continuations"] = st.get("continuations", 0) + 1
        self.event("continue", next_call=next_call, attempt_elapsed=attempt_elapsed)
        self.flush(force=True, commit=True)

    def flush(self, *, force: bool = False, commit: bool = False) -> None:
        now = self._clock()
        if not force and (not self._dirty or now - self._last_write < self.min_interval):
            return
        if self._metrics_fh is not None:
            self._metrics_fh.flush()
        st = self.status
        st["updated_at"] = now
        st["heartbeat_at"] = now
        with locked(_lock_path(self.dir)):
            self._merge_from_disk()
            atomic_write(self.dir / STATUS_FILE, _dumps(self.status).encode(), fsync=force)
        self._written = copy.deepcopy(dict(self.status))
        self._last_write = now
        self._dirty = False
        if self._commit and (commit or now - self._last_commit >= self.commit_interval):
            self._commit()
            self._last_commit = now

    def _merge_from_disk(self) -> None:
        """Two writers may share a ledger (the worker watching a program, and the program's own
        `open_run()`): keep what the other wrote since our last write, and lay our own changes
        over it (checkpoint and metric maps merge entry by entry)."""
        disk = self._load_status()
        if disk is None:
            return
        mine = dict(self.status)
        merged: dict[str, Any] = dict(disk)
        for key, value in mine.items():
            if value == self._written.get(key):
                continue  # not ours to change: the file's value stands
            if key in ("checkpoints", "latest") and isinstance(value, dict):
                ours = {k: v for k, v in value.items() if self._written.get(key, {}).get(k) != v}
                theirs: dict[str, Any] = dict(disk.get(key) or {})  # type: ignore[call-overload]
                merged[key] = {**theirs, **ours}
            else:
                merged[key] = value
        self.status = merged  # type: ignore[assignment]

    def _close_metrics(self) -> None:
        if self._metrics_fh is not None:
            self._metrics_fh.close()
            self._metrics_fh = None

    def close(self) -> None:
        """Write what is pending (only if anything is) and release the metrics file."""
        if self._dirty:
            self.flush(force=True)
        self._close_metrics()

    def __del__(self) -> None:
        fh = getattr(self, "_metrics_fh", None)
        if fh is not None and not fh.closed:
            fh.close()

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_run(**kw: Any) -> LedgerWriter:
    """For your own trainer: attach to the run that `trainward launch` started for this process."""
    return LedgerWriter.attach(**kw)


class LedgerReader:
    """Read a run's ledger through any backend's volume read verbs (never writes)."""

    def __init__(self, volume: VolumeReader, volume_name: str, run: str) -> None:
        self.volume = volume
        self.volume_name = volume_name
        self.run = run
        self.base = run_path(run)

    def _json(self, name: str, attempts: int = 3) -> JsonObject | None:
        """Parse a ledger JSON file. A parse failure is retried: on a network volume a read can
        race a replace even though the writer renames atomically."""
        for attempt in range(attempts):
            try:
                raw = self.volume.read_file(self.volume_name, f"{self.base}/{name}")
            except NotFound:
                return None
            try:
                data = json.loads(raw)
            except ValueError as err:
                if attempt < attempts - 1:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise IntegrityError(
                    f"{self.base}/{name} on volume {self.volume_name} is not valid JSON: {err}",
                    hint="the ledger is written atomically; this file was changed by something else",
                ) from None
            if not isinstance(data, dict):
                raise ContractError(
                    f"{self.base}/{name} on volume {self.volume_name} is not an object"
                )
            return data
        return None

    def exists(self) -> bool:
        return self.volume.stat(self.volume_name, f"{self.base}/{RUN_FILE}") is not None

    def run_info(self) -> RunInfo | None:
        data = self._json(RUN_FILE)
        return None if data is None else RunInfo.from_json(data)

    def status(self) -> LedgerStatus | None:
        data = self._json(STATUS_FILE)
        where = f"{self.base}/{STATUS_FILE} on volume {self.volume_name}"
        return None if data is None else ledger_status_from_json(data, where=where)

    def events(self, tail: int = 50) -> list[JsonObject]:
        return list(self._jsonl(EVENTS_FILE))[-tail:]

    def metrics(self) -> Iterator[JsonObject]:
        """Every metrics row, the newest attempt winning for a repeated step (for plots)."""
        rows = list(self._jsonl(METRICS_FILE))
        last_attempt_at: dict[int, int] = {}
        for row in rows:
            last_attempt_at[row.get("step", 0)] = row.get("attempt", 0)
        for row in rows:
            if row.get("attempt", 0) == last_attempt_at.get(row.get("step", 0)):
                yield row

    def _jsonl(self, name: str) -> Iterator[JsonObject]:
        try:
            raw = self.volume.read_file(self.volume_name, f"{self.base}/{name}")
        except NotFound:
            return
        for line in raw.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a row being appended right now
