"""The narrow I/O seam between trainward's policy and the place runs execute.

A backend owns two things: *volumes* (named file stores that runs read data from and write
their ledger and checkpoints to) and *runs* (detached executions of a worker). Policy code
(launch, status, pull, sweep) receives a backend through its constructor; tests hand in the
local backend or the Modal backend pointed at our fake control plane, never a patch.

`ReadOnly(backend)` exposes the read verbs only. The status, pull, runs, logs and doctor paths
receive nothing else, so a read path cannot write by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from trainward.config.experiment import Secret
from trainward.core.contracts import ResourcePlan, SecretRef, WorkerSpec
from trainward.core.sweep_contracts import SweepPlan

# progress(bytes_done, bytes_total); bytes_total may be 0 when unknown.
Progress = Callable[[int, int], None]

#: Compute states a backend reports. `lost` means the process vanished with no exit record.
COMPUTE_STATES = ("pending", "running", "finished", "failed", "stopped", "lost", "unknown")


@dataclass(frozen=True)
class FileEntry:
    """A file or directory on a volume. `path` is volume-relative, posix, without a leading /."""

    path: str
    size: int
    mtime: float
    is_dir: bool = False


@dataclass
class RunHandle:
    """How a backend finds a run again: its name plus backend-specific ids (pid, app_id, ...)."""

    backend: str
    run: str
    ids: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunHandle:
        return cls(backend=data["backend"], run=data["run"], ids=dict(data.get("ids") or {}))


@dataclass
class ComputeState:
    """What the compute side says about a run, independent of any metrics."""

    state: str  # one of COMPUTE_STATES
    exit_code: int | None = None
    reason: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ("pending", "running")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Check:
    """One doctor check. `fix` is the exact command that repairs a failing check."""

    name: str
    ok: bool
    detail: str = ""
    fix: str | None = None
    code: int = 2  # the exit code when this check blocks an action (5: remote/auth)
    level: str = "error"  # "warning": reported with its fix, but it blocks nothing
    retryable: bool = False  # an outage that may pass (a rejected token never does)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LogQuery:
    """Which output lines `logs` returns (every backend answers the same filters)."""

    since: float | None = None  # epoch seconds: only lines logged at or after it
    search: str | None = None  # only lines containing this text
    source: str | None = None  # stdout, stderr or system
    timestamps: bool = False  # prefix each line with its time (UTC)


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a backend needs to start one detached run of the worker.

    `worker_spec` is the document the worker reads (`trainward.runs.worker`): the resolved
    experiment, the run name, the volume, the resume source. Backends pass it on as it is.
    `resources` sizes the compute (Modal declares its function from it; the local backend
    enforces the per-attempt timeout and the retries), `secrets` are attached by name.
    """

    run: str
    volume: str
    worker_spec: WorkerSpec
    resources: ResourcePlan
    secrets: tuple[SecretRef, ...] = ()
    code_dir: Path | None = None
    deployed_app: str | None = None  # Modal: spawn from this deployed app instead of a new one
    # An adopted Modal function (`entrypoint: {modal_function: ...}`): its keyword arguments
    # come from `worker_spec.args`, and these variables (the run's identity) reach it.
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def timeout_s(self) -> int:
        return self.resources.timeout_s

    @property
    def retries(self) -> int:
        return self.resources.retries


@runtime_checkable
class VolumeReader(Protocol):
    def volume_exists(self, volume: str) -> bool: ...

    def stat(self, volume: str, path: str) -> FileEntry | None: ...

    def list_files(
        self, volume: str, path: str = "", *, recursive: bool = False
    ) -> list[FileEntry]:
        """Entries under `path`. Raises NotFound when the volume or path does not exist."""
        ...

    def read_file(self, volume: str, path: str) -> bytes:
        """The whole file. Raises NotFound. Use download_file for large files."""
        ...

    def download_file(
        self,
        volume: str,
        path: str,
        dest: Path,
        *,
        offset: int = 0,
        progress: Progress | None = None,
    ) -> None:
        """Stream the file into `dest`. With offset > 0, append bytes [offset:] to `dest`."""
        ...


@runtime_checkable
class VolumeWriter(Protocol):
    def ensure_volume(self, volume: str) -> None: ...

    def upload_files(
        self, volume: str, files: Sequence[tuple[Path, str]], *, progress: Progress | None = None
    ) -> None:
        """Upload (local path, volume path) pairs, replacing existing files."""
        ...

    def write_file(self, volume: str, path: str, data: bytes) -> None: ...

    def remove_file(self, volume: str, path: str) -> None: ...


@runtime_checkable
class ReadOnlyBackend(VolumeReader, Protocol):
    """What the read paths receive: volume reads plus run state and bounded logs."""

    name: str

    def find_run(self, run: str) -> RunHandle | None: ...

    def state(self, handle: RunHandle) -> ComputeState: ...

    def logs(self, handle: RunHandle, *, tail: int = 100, query: LogQuery | None = None) -> str:
        """The last `tail` lines of the run's output that pass `query`. Fetches and returns:
        no backend follows."""
        ...

    def checks(self, *, volume: str | None, secrets: Sequence[Secret] = ()) -> list[Check]:
        """Doctor checks for this backend: reachability, the volume, the secrets (by name)."""
        ...

    def live_rates(self) -> dict[str, float] | None:
        """The account's own prices, USD per hour by GPU type, when the backend can read them."""
        ...


@runtime_checkable
class Backend(ReadOnlyBackend, VolumeWriter, Protocol):
    """The full backend: read verbs, write verbs, launch (always detached) and stop."""

    def launch(self, spec: LaunchSpec, *, on_spawn: Callable[[], None] = ...) -> RunHandle:
        """Start the run detached. `on_spawn` is called right before the step after which the
        run exists (the launcher then holds SIGINT/SIGTERM until the run is recorded)."""
        ...

    def settle_launch(self, run: str, token: str | None) -> RunHandle | None:
        """For a claim whose launcher died: the run it started, or None (after cleaning up what
        it left half-made, so the name is free)."""
        ...

    def stop(self, handle: RunHandle) -> None: ...


@runtime_checkable
class SweepBackend(Protocol):
    """Optional: a backend that can start a sweep's controller where the sweep's runs run
    (a detached local process; a CPU function in the sweep's one Modal app). Returns the
    controller's ids. `trainward sweep` refuses a backend without it."""

    def launch_sweep(self, plan: SweepPlan) -> dict[str, Any]: ...


READ_VERBS = frozenset(
    {
        "name",
        "volume_exists",
        "stat",
        "list_files",
        "read_file",
        "download_file",
        "find_run",
        "state",
        "logs",
        "checks",
        "live_rates",
    }
)


class ReadOnly:
    """A view of a backend with only the read verbs. Anything else raises AttributeError.

    This is a wrapper, not a flag: the read paths are handed this object and have no way to
    reach the write verbs of the backend inside it.
    """

    __slots__ = ("_backend",)

    def __init__(self, backend: ReadOnlyBackend) -> None:
        object.__setattr__(self, "_backend", backend)

    def __getattr__(self, attr: str) -> Any:
        if attr not in READ_VERBS:
            raise AttributeError(f"{attr!r} is not available on a read-only backend")
        return getattr(object.__getattribute__(self, "_backend"), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("a read-only backend cannot be modified")

    def __repr__(self) -> str:
        return f"ReadOnly({object.__getattribute__(self, '_backend')!r})"
