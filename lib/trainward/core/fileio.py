"""Small file primitives every layer uses: atomic replace, sha256 of a file, and a file lock."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from io import BufferedReader
from pathlib import Path

CHUNK = 1 << 20


def atomic_write(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write `data` to `path` through a temp file and a rename: readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def sha256_stream(fh: BufferedReader) -> str:
    """The sha256 of what is left to read in an open binary file."""
    return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_file(path: Path | str) -> str:
    """The sha256 of a file's bytes (hex)."""
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """An exclusive flock on `lock_path` (created if missing); the kernel releases it if we die."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
