"""The embedded default backend: detached local processes and directory volumes.

    $TRAINWARD_HOME/volumes/<volume>/...          a volume is a directory
    $TRAINWARD_HOME/local/runs/<run>/spec.json    what the supervisor runs
                                    proc.json     written by the supervisor itself: pid, start
                                    exit.json     written when it ends: exit code, state
                                    output.log    stdout and stderr of every attempt
    $TRAINWARD_HOME/local/sweeps/<sweep>/         a sweep's controller: plan.json, output.log

`launch` starts `trainward.backends.supervisor` in its own session with stdin closed and
output to the log, so it survives the launcher and the launcher's terminal. The supervisor
runs the worker, retries it like Modal would, and records how it ended. State comes from
the pid plus the exit file: running, finished, failed (with the exit code), stopped, or
lost (the pid vanished with no exit record).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from trainward.backends import outputlog
from trainward.backends.base import (
    Check,
    ComputeState,
    FileEntry,
    LaunchSpec,
    LogQuery,
    Progress,
    RunHandle,
)
from trainward.config.experiment import Secret
from trainward.core import paths
from trainward.core.contracts import Document, WorkerSpec
from trainward.core.fileio import atomic_write
from trainward.core.proc import pid_alive, same_process
from trainward.core.sweep_contracts import SweepPlan
from trainward.errors import NotFound, RunExists, UsageError

CHUNK = 1 << 20
# A wandb-core service of the launching process must not be inherited: the detached run
# would attach to it and lose W&B when the launcher exits.
INHERITED_ENV_DROP = frozenset({"WANDB_SERVICE"})
FICLONE = 0x40049409  # Linux ioctl: copy-on-write clone (btrfs, xfs)


def clean_path(path: str) -> str:
    """Normalise a volume path and refuse anything that escapes the volume."""
    parts = PurePosixPath("/" + path.strip()).parts[1:]
    if ".." in parts:
        raise UsageError(
            f"volume path {path!r} escapes the volume", hint="use a path inside the volume"
        )
    return "/".join(parts)


def copy_file(
    src: Path, dst: Path, progress: Progress | None = None, done: int = 0, total: int = 0
) -> int:
    """Copy src to dst via a temp file and rename; try a reflink first. Returns bytes copied."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    size = src.stat().st_size
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        cloned = False
        if hasattr(os, "O_RDONLY") and sys.platform.startswith("linux"):
            try:
                import fcntl

                fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
                cloned = True
            except OSError:
                cloned = False
        if not cloned:
            while chunk := fin.read(CHUNK):
                fout.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        elif progress:
            progress(done + size, total)
    os.replace(tmp, dst)
    shutil.copystat(src, dst)
    return size


def spawn_grace_s() -> float:
    """How long after its spec is written a supervisor may still start. A supervisor that
    starts later refuses to run (half of this), so readers that see no supervisor after the
    grace can say "never started" without racing one that is about to begin."""
    return float(os.environ.get("TRAINWARD_SPAWN_GRACE_S", "40"))


def spawn_detached(argv: list[str], env: dict[str, str], log: Path) -> int:
    """Start argv in a new session (no controlling terminal), stdin from /dev/null and
    stdout+stderr appended to `log`. Returns the pid. posix_spawn leaves no Popen object
    behind to wait on: the process is reaped by `pid_alive` or, once we exit, by init."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)


@dataclass(frozen=True)
class ProcSpec(Document):
    """local/runs/<run>/spec.json: what the supervisor runs (written by `launch`)."""

    run: str
    volume: str
    volume_root: str
    worker_spec: WorkerSpec
    version: int = 1
    retries: int = 0
    timeout_s: int | None = None
    secrets: tuple[str, ...] = ()


class LocalBackend:
    name = "local"

    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home) if home else paths.home()
        self.volumes = self.home / "volumes"
        self.procs = self.home / "local" / "runs"

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.home)!r})"

    # -- volumes ------------------------------------------------------------------------------
    def volume_root(self, volume: str) -> Path:
        return self.volumes / volume

    def _path(self, volume: str, path: str) -> Path:
        root = self.volume_root(volume)
        if not root.is_dir():
            raise NotFound(
                f"volume '{volume}' does not exist on the local backend",
                hint=f"create it with `trainward data push DIR --volume {volume} --to PATH` or launch a run using it",
            )
        rel = clean_path(path)
        return root / rel if rel else root

    def volume_exists(self, volume: str) -> bool:
        return self.volume_root(volume).is_dir()

    def stat(self, volume: str, path: str) -> FileEntry | None:
        try:
            p = self._path(volume, path)
            st = p.stat()
        except (NotFound, FileNotFoundError, NotADirectoryError):
            return None
        return FileEntry(clean_path(path), st.st_size, st.st_mtime, p.is_dir())

    def list_files(
        self, volume: str, path: str = "", *, recursive: bool = False
    ) -> list[FileEntry]:
        base = self._path(volume, path)
        if not base.exists():
            raise NotFound(f"'{path}' does not exist on volume '{volume}'")
        if base.is_file():
            st = base.stat()
            return [FileEntry(clean_path(path), st.st_size, st.st_mtime)]
        root = self.volume_root(volume)
        it = base.rglob("*") if recursive else base.iterdir()
        out = []
        for p in it:
            if p.name.startswith(".") and p.name.endswith((".tmp", ".part")):
                continue  # a write in progress
            st = p.stat()
            out.append(
                FileEntry(p.relative_to(root).as_posix(), st.st_size, st.st_mtime, p.is_dir())
            )
        return sorted(out, key=lambda e: e.path)

    def read_file(self, volume: str, path: str) -> bytes:
        p = self._path(volume, path)
        try:
            return p.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"'{path}' does not exist on volume '{volume}'") from None

    def download_file(
        self,
        volume: str,
        path: str,
        dest: Path,
        *,
        offset: int = 0,
        progress: Progress | None = None,
    ) -> None:
        src = self._path(volume, path)
        if not src.is_file():
            raise NotFound(f"'{path}' does not exist on volume '{volume}'")
        total = src.stat().st_size
        with open(src, "rb") as fin, open(dest, "ab" if offset else "wb") as fout:
            fin.seek(offset)
            done = offset
            while chunk := fin.read(CHUNK):
                fout.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)

    def ensure_volume(self, volume: str) -> None:
        self.volume_root(volume).mkdir(parents=True, exist_ok=True)

    def upload_files(
        self, volume: str, files: Sequence[tuple[Path, str]], *, progress: Progress | None = None
    ) -> None:
        total = sum(Path(src).stat().st_size for src, _ in files)
        done = 0
        for src, dst in files:
            done += copy_file(Path(src), self._path(volume, dst), progress, done, total)

    def write_file(self, volume: str, path: str, data: bytes) -> None:
        target = self._path(volume, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)

    def remove_file(self, volume: str, path: str) -> None:
        target = self._path(volume, path)
        if not target.exists():
            raise NotFound(f"'{path}' does not exist on volume '{volume}'")
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    # -- runs ---------------------------------------------------------------------------------
    def proc_dir(self, run: str) -> Path:
        return self.procs / run

    def launch(self, spec: LaunchSpec, *, on_spawn: Callable[[], None] = lambda: None) -> RunHandle:
        """Start the run detached: its own session, stdin closed, output to output.log.
        `on_spawn` is called right before the supervisor is spawned."""
        pdir = self.proc_dir(spec.run)
        old = self._read_json(pdir / "proc.json")
        if old and pid_alive(old.get("pid")) and not (pdir / "exit.json").exists():
            raise RunExists(f"run '{spec.run}' is still running locally (pid {old['pid']})")
        pdir.mkdir(parents=True, exist_ok=True)
        self.ensure_volume(spec.volume)
        for name in ("exit.json", "proc.json", "stop.json"):
            with contextlib.suppress(FileNotFoundError):
                (pdir / name).rename(pdir / f"{name}.prev")
        doc = ProcSpec(
            run=spec.run,
            volume=spec.volume,
            volume_root=str(self.volume_root(spec.volume)),
            worker_spec=spec.worker_spec,
            retries=spec.retries,
            timeout_s=spec.timeout_s,
            secrets=tuple(s.name for s in spec.secrets),
        )
        atomic_write(pdir / "spec.json", json.dumps(doc.to_json(), indent=2).encode())
        cwd = str(spec.code_dir) if spec.code_dir else os.getcwd()
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_ENV_DROP}
        env.update({"PYTHONUNBUFFERED": "1", "TRAINWARD_CWD": cwd})
        on_spawn()
        pid = spawn_detached(
            [sys.executable, "-m", "trainward.backends.supervisor", str(pdir)],
            env,
            pdir / "output.log",
        )
        return RunHandle(self.name, spec.run, {"pid": pid, "proc_dir": str(pdir)})

    def launch_sweep(self, plan: SweepPlan) -> dict[str, Any]:
        """The sweep's controller, detached like a run's supervisor (trainward.sweep.local)."""
        pdir = self.home / "local" / "sweeps" / plan.sweep
        pdir.mkdir(parents=True, exist_ok=True)
        plan_file = pdir / "plan.json"
        atomic_write(plan_file, json.dumps(plan.to_json(), indent=2).encode())
        self.ensure_volume(plan.volume)
        env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
        argv = [sys.executable, "-m", "trainward.sweep.local", str(plan_file)]
        return {"pid": spawn_detached(argv, env, pdir / "output.log"), "proc_dir": str(pdir)}

    def settle_launch(self, run: str, token: str | None) -> RunHandle | None:
        """A dead launcher's run: there when its spec was written and its supervisor started
        (or may still start, within the spawn grace)."""
        return self.find_run(run)

    def find_run(self, run: str) -> RunHandle | None:
        """The run if its supervisor started, or may still start (see `spawn_grace_s`)."""
        pdir = self.proc_dir(run)
        if not (pdir / "spec.json").exists():
            return None
        proc = self._read_json(pdir / "proc.json")
        if proc is None and self._spec_age(pdir) > spawn_grace_s():
            return None  # launched by a launcher that died before the spawn: never started
        return RunHandle(self.name, run, {"pid": (proc or {}).get("pid"), "proc_dir": str(pdir)})

    @staticmethod
    def _spec_age(pdir: Path) -> float:
        try:
            return time.time() - (pdir / "spec.json").stat().st_mtime
        except FileNotFoundError:
            return float("inf")

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def state(self, handle: RunHandle) -> ComputeState:
        pdir = self.proc_dir(handle.run)
        exit_doc = self._read_json(pdir / "exit.json")
        proc = self._read_json(pdir / "proc.json")
        started = proc.get("started_at") if proc else None
        if exit_doc:
            return ComputeState(
                state=exit_doc.get("state", "failed"),
                exit_code=exit_doc.get("exit_code"),
                reason=exit_doc.get("reason"),
                started_at=started,
                ended_at=exit_doc.get("ended_at"),
                detail={"attempts": exit_doc.get("attempts"), "pid": proc and proc.get("pid")},
            )
        if proc is None:
            if self._spec_age(pdir) <= spawn_grace_s():
                return ComputeState("pending", reason="the supervisor is starting")
            return ComputeState(
                "lost", reason="the supervisor never started (its launcher died before the spawn)"
            )
        pid = proc.get("pid")
        if same_process(pid, proc.get("start_token")):
            return ComputeState(
                "running", started_at=started, detail={"pid": pid, "attempt": proc.get("attempt")}
            )
        # The exit file may land between our two reads: look once more before saying lost.
        exit_doc = self._read_json(pdir / "exit.json")
        if exit_doc:
            return self.state(handle)
        return ComputeState(
            "lost",
            started_at=started,
            reason=f"process {pid} vanished without an exit record",
            detail={"pid": pid},
        )

    def logs(self, handle: RunHandle, *, tail: int = 100, query: LogQuery | None = None) -> str:
        """The last `tail` lines of the run's output that pass `query`, read from the end of
        its output.log (bounded)."""
        q = query or LogQuery()
        lines = outputlog.read(
            self.proc_dir(handle.run) / "output.log",
            tail=tail,
            since=q.since,
            search=q.search,
            source=q.source,
        )
        return "\n".join(
            (f"{outputlog.stamp(ln.time)} " if q.timestamps and ln.time else "") + ln.text
            for ln in lines
        )

    def stop(self, handle: RunHandle) -> None:
        """End the run: SIGTERM to its process group (the trainer checkpoints), SIGKILL after 20 s."""
        pdir = self.proc_dir(handle.run)
        proc = self._read_json(pdir / "proc.json") or {}
        pid, token = proc.get("pid"), proc.get("start_token")
        atomic_write(pdir / "stop.json", json.dumps({"requested_at": time.time()}).encode())
        if not isinstance(pid, int) or not same_process(pid, token):
            return  # never signal a pid that is no longer this run's supervisor
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.time() + 20
        while time.time() < deadline and same_process(pid, token):
            time.sleep(0.1)
        if same_process(pid, token):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if not (pdir / "exit.json").exists():
            doc = {
                "state": "stopped",
                "exit_code": None,
                "reason": "stopped by `trainward stop`",
                "ended_at": time.time(),
            }
            atomic_write(pdir / "exit.json", json.dumps(doc).encode())

    def live_rates(self) -> dict[str, float] | None:
        """Local runs cost nothing we can price."""
        return None

    # -- doctor -------------------------------------------------------------------------------
    def checks(self, *, volume: str | None, secrets: Sequence[Secret] = ()) -> list[Check]:
        out = []
        writable = os.access(self.home if self.home.exists() else self.home.parent, os.W_OK)
        out.append(
            Check(
                "home",
                writable,
                f"state directory {self.home}",
                None if writable else "export TRAINWARD_HOME=/a/writable/dir",
            )
        )
        free = shutil.disk_usage(self.home if self.home.exists() else self.home.parent).free
        out.append(
            Check(
                "disk",
                free > 1 << 30,
                f"{free / 2**30:.1f} GiB free",
                None if free > 1 << 30 else "free some disk space",
            )
        )
        if volume:
            exists = self.volume_exists(volume)
            out.append(
                Check(
                    f"volume:{volume}",
                    exists,
                    f"{self.volume_root(volume)}"
                    + ("" if exists else " does not exist yet (launch creates it)"),
                    None if exists else f"trainward data push DIR --volume {volume} --to PATH",
                    level="error" if exists else "warning",
                )
            )
        for secret in secrets:
            missing = [k for k in secret.required_keys if not os.environ.get(k)]
            out.append(
                Check(
                    f"secret:{secret.name}",
                    not missing,
                    "local runs read secrets from the environment"
                    + (f"; missing {', '.join(missing)}" if missing else ""),
                    f"export {missing[0]}=... (never paste the value into a chat)"
                    if missing
                    else None,
                )
            )
        return out
