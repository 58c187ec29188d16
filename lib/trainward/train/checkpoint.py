"""Checkpoints: what they hold, how they are written, and which one a run resumes from.

    run_dir/checkpoints/latest.pt        newest; written every checkpoint_every steps and
                                         at each epoch end (and on stop / hand-over)
    run_dir/checkpoints/latest.prev.pt   the one before (keep_checkpoints=2 keeps two)
    run_dir/checkpoints/best.pt          a copy of latest.pt when the best metric improved

A file is written to a temp name while its sha256 is computed, fsynced, then the older
ones are rotated (latest -> latest.prev) and it is renamed into place, and the directory
is fsynced: a crash leaves the old file or the new one, never half of one. Contents: see
`snapshot`. They load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from trainward.config.experiment import config_differences
from trainward.errors import CheckpointWriteError, ConfigMismatch, IntegrityError

FORMAT = "trainward-checkpoint"
VERSION = 1


def rotation(directory: Path, keep: int) -> list[Path]:
    """latest.pt, latest.prev.pt, latest.prev2.pt, ... (keep of them)."""
    names = ["latest.pt", "latest.prev.pt"] + [f"latest.prev{i}.pt" for i in range(2, keep)]
    return [directory / n for n in names[: max(1, keep)]]


# -- contents ---------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    np_state: tuple[Any, ...] = np.random.get_state()  # type: ignore[assignment]
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if (
        state["cuda"]
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_cpu(obj: Any, non_blocking: bool) -> Any:
    """A deep copy with every tensor copied to CPU (safe to write while training goes on).

    With `non_blocking`, CUDA tensors are copied into pinned memory asynchronously, ordered
    on the current stream before any later in-place update; wait on an event before reading.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return {k: _to_cpu(v, non_blocking) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v, non_blocking) for v in obj)
    return obj


def snapshot(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             position: dict[str, int], best: dict[str, Any] | None, experiment: Any,
             non_blocking: bool = False) -> dict[str, Any]:  # fmt: skip
    """Everything a resume needs, copied to CPU (see `_to_cpu` for `non_blocking`)."""
    return _to_cpu({
        "format": FORMAT, "version": VERSION,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "step": position["step"], "epoch": position["epoch"], "loader": position,
        "best": best, "rng": rng_state(),
        "config": {"hash": experiment.config_hash, "identity": experiment.identity(),
                   "experiment": experiment.to_dict()},
    }, non_blocking)  # fmt: skip


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 of the state_dict, canonically: sorted names, dtype, shape, raw bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint, or raise IntegrityError naming the file and what is wrong with it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise IntegrityError(f"checkpoint {path} is truncated or corrupt ({reason})",
                             hint="it will be skipped; an earlier checkpoint is used if one is valid") from None  # fmt: skip
    missing = [
        k for k in ("model", "optimizer", "scheduler", "step", "rng", "config") if k not in state
    ]
    if not isinstance(state, dict) or state.get("format") != FORMAT or missing:
        raise IntegrityError(
            f"{path} is not a trainward checkpoint (missing {', '.join(missing) or 'format'})"
        )
    return state


# -- writing ----------------------------------------------------------------------------------
class _HashingWriter:
    """Hashes what torch.save writes. torch turns an exception raised here into a vague
    RuntimeError ("unexpected pos ..."), so the real OSError is kept to be re-raised."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            self.fh.write(data)
        except OSError as err:
            self.error = err
            raise
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def save(self, state: dict[str, Any]) -> None:
        try:
            torch.save(state, self)  # type: ignore[arg-type]
        except RuntimeError:
            if self.error is not None:
                raise self.error from None
            raise

    def flush(self) -> None:
        self.fh.flush()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _cleanup_on_failure(tmp: Path, target: Path) -> Iterator[None]:
    """A failed write removes its temp file (freeing the space it took, so the ledger can still
    record why) and leaves `target` and the older checkpoints as they were."""
    try:
        yield
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointWriteError(
                f"no space left on the volume while writing checkpoint {target} ({os.strerror(err.errno)}); "
                "the previous checkpoints are intact",
                hint="free space on the volume (or use a larger one), then resume the run with --resume RUN",
            ) from None
        if isinstance(err, OSError):
            raise CheckpointWriteError(
                f"cannot write checkpoint {target}: {err.strerror}; the previous checkpoints are intact"
            ) from None
        raise


def write(state: dict[str, Any], targets: list[Path]) -> tuple[str, int]:
    """Write `state` atomically to targets[0], rotating targets[0] -> targets[1] -> ...

    Returns (sha256, size) of the bytes written.
    """
    path = targets[0]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with _cleanup_on_failure(tmp, path), open(tmp, "wb") as fh:
        writer = _HashingWriter(fh)
        writer.save(state)
        fh.flush()
        os.fsync(fh.fileno())
    for older, newer in zip(reversed(targets[1:]), reversed(targets[:-1]), strict=True):
        if newer.exists():
            os.replace(newer, older)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return writer.digest.hexdigest(), writer.size


def copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    with _cleanup_on_failure(tmp, dst):
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete temp files of earlier writers (a process killed mid-write leaves one behind).
    One process writes a run's checkpoints at a time, so any temp file not ours is stale."""
    mine = f".{os.getpid()}.tmp"
    stale = [p for p in directory.glob(".*.tmp") if not p.name.endswith(mine)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@dataclass
class Written:
    which: str  # "latest" or "best"
    path: Path
    step: int
    epoch: int
    sha256: str
    size: int


def write_checkpoint(
    state: dict[str, Any], directory: Path, *, keep: int, best: bool, ready: Any = None
) -> list[Written]:
    """latest.pt (rotated), and best.pt as a copy of it when `best`.

    `ready` (a CUDA event recorded after a non-blocking snapshot) is waited on first.
    """
    if ready is not None:
        ready.synchronize()
    targets = rotation(directory, keep)
    sha, size = write(state, targets)
    step, epoch = state["step"], state["epoch"]
    out = [Written("latest", targets[0], step, epoch, sha, size)]
    if best:
        copy(targets[0], directory / "best.pt")
        out.append(Written("best", directory / "best.pt", step, epoch, sha, size))
    return out


class Checkpointer:
    """Writes checkpoints (in a background thread when `async_write`) and indexes them.

    The ledger is not thread-safe, so a finished background write is recorded from the
    training thread, by `poll()` (each step) or `close()`. At most one write is in flight.
    """

    def __init__(self, run_dir: Path, ledger: Any, *, keep: int, async_write: bool) -> None:
        self.run_dir, self.dir = run_dir, run_dir / "checkpoints"
        self.dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.dir)
        self.ledger, self.keep = ledger, keep
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
            if async_write
            else None
        )
        self._pending: Future[list[Written]] | None = None

    def save(self, state: dict[str, Any], *, best: bool, ready: Any = None) -> None:
        self.wait()
        args = {"keep": self.keep, "best": best, "ready": ready}
        if self._pool is None:
            self._record(write_checkpoint(state, self.dir, **args))
        else:
            self._pending = self._pool.submit(write_checkpoint, state, self.dir, **args)

    def poll(self) -> None:
        if self._pending is not None and self._pending.done():
            self.wait()

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._record(pending.result())

    def close(self) -> None:
        self.wait()
        if self._pool is not None:
            self._pool.shutdown()

    def _record(self, written: list[Written]) -> None:
        for w in written:
            self.ledger.record_checkpoint(w.which, w.path.relative_to(self.run_dir).as_posix(),
                                          step=w.step, epoch=w.epoch, sha256=w.sha256, size=w.size)  # fmt: skip


# -- choosing what to resume from --------------------------------------------------------------
def candidates(directory: Path, keep: int) -> list[Path]:
    """Checkpoint files present in a run's directory, newest first by construction."""
    names = [*rotation(directory, max(keep, 2)), directory / "best.pt"]
    return [p for p in names if p.exists()]


def newest_valid(
    directory: Path, keep: int, warn: Callable[[str], None]
) -> tuple[Path, dict[str, Any]] | None:
    """The newest loadable checkpoint of a run (None if it has none); warns on each bad file.

    Tried in order: latest.pt, latest.prev.pt, ... (newest first), then best.pt as a last
    resort. Raises IntegrityError when checkpoints exist but none is valid: a run with
    checkpoints never silently starts over.
    """
    found = candidates(directory, keep)
    for path in found:
        try:
            return path, load(path)
        except IntegrityError as err:
            warn(f"{err.message}; falling back to an earlier checkpoint")
    if found:
        raise IntegrityError(
            f"no valid checkpoint in {directory}: {', '.join(p.name for p in found)} are all truncated or corrupt",
            hint="restore a checkpoint from a copy, or start a new run under another name",
        )
    return None


def check_config(state: dict[str, Any], experiment: Any, path: Path) -> None:
    """Raise ConfigMismatch (exit 2) listing the keys whose change would alter the math."""
    diffs = config_differences(
        state["config"]["identity"], experiment.identity(), experiment.resume_may_change
    )
    if not diffs:
        return
    listed = "; ".join(f"{k}: {old!r} in the checkpoint, {new!r} now" for k, old, new in diffs)
    raise ConfigMismatch(
        f"cannot resume from {path}: the config differs from the checkpoint's "
        f"(hash {state['config']['hash'][:12]} vs {experiment.config_hash[:12]}) in {len(diffs)} "
        f"key(s): {listed}",
        hint="resume with the checkpoint's config, or start a new run; only "
        + ", ".join(sorted(experiment.resume_may_change))
        + " may change on resume",
        keys=[k for k, _, _ in diffs],
    )


def say(message: str) -> None:
    print(f"[trainward] {message}", file=sys.stderr, flush=True)
