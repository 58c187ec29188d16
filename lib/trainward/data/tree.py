"""The local side of a data push: walk a directory, hash its files in parallel, cache the hashes.

Walk rules (`walk`):
- Hidden files and directories (any path component starting with `.`) are skipped. That
  covers the push manifest and lock, editor droppings and `.git`.
- A symlink to a file is followed: its target's bytes are pushed under the link's name.
- A symlink to a directory, a dangling symlink, or anything that is not a regular file
  (fifo, socket, device) is refused with a UsageError: following directory links risks
  cycles and silently pulling in a tree outside DIR, and reading a fifo would hang. `DIR`
  itself may be a symlink.

The hash cache (`$TRAINWARD_HOME/cache/hashes.sqlite3`) has one row per absolute path with
the stat signature the file was hashed at: size, mtime_ns, ctime_ns, inode and device.
ctime cannot be set back by tools that restore mtimes (tar, rsync -t), and the inode changes
when a file is replaced by a new one. A hash whose file was modified within one timestamp
tick of the hashing ("racily clean", as git calls it) is not cached, so an edit that lands
in the same tick cannot hide behind a cache hit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat as statmod
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from trainward.core import paths
from trainward.core.fileio import sha256_stream
from trainward.errors import NotFound, UsageError

Progress = Callable[[int, int], None]
CACHE_FILE = "hashes.sqlite3"
RACY_NS_FINE = 100_000_000  # filesystems with sub-second timestamps tick far faster than this
RACY_NS_COARSE = 2_000_000_000  # whole-second timestamps (FAT has 2 s)


@dataclass(frozen=True)
class Signature:
    """What identifies one version of a file without reading it."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> Signature:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    def racy(self, hashed_at_ns: int) -> bool:
        tick = RACY_NS_COARSE if self.mtime_ns % 1_000_000_000 == 0 else RACY_NS_FINE
        return max(self.mtime_ns, self.ctime_ns) + tick > hashed_at_ns


@dataclass(frozen=True)
class LocalFile:
    path: str  # posix, relative to the walked directory
    abspath: str
    sig: Signature
    sha256: str = ""
    hashed_at_ns: int = 0


def walk(root: Path) -> list[LocalFile]:
    """Every non-hidden regular file under `root`, sorted by path (rules in the module doc)."""
    if not root.is_dir():
        raise NotFound(
            f"data directory {root} does not exist or is not a directory",
            hint="pass the directory that holds the dataset",
        )
    base = os.path.realpath(root)
    out: list[LocalFile] = []
    _walk_into(base, "", out)
    return sorted(out, key=lambda f: f.path)


def _walk_into(base: str, rel: str, out: list[LocalFile]) -> None:
    with os.scandir(os.path.join(base, rel) if rel else base) as it:
        entries = [e for e in it if not e.name.startswith(".")]
    for entry in entries:
        name = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            _walk_into(base, name, out)
            continue
        out.append(LocalFile(name, entry.path, Signature.of(_file_stat(entry, name))))


def _file_stat(entry: os.DirEntry[str], name: str) -> os.stat_result:
    try:
        st = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        raise UsageError(
            f"{name} is a dangling symlink (-> {os.readlink(entry.path)})",
            hint="remove it or point it at a file",
        ) from None
    if statmod.S_ISDIR(st.st_mode):
        raise UsageError(
            f"{name} is a symlink to a directory ({os.readlink(entry.path)}); not followed",
            hint="push the target directory itself, or copy it into DIR",
        )
    if not statmod.S_ISREG(st.st_mode):
        raise UsageError(
            f"{name} is not a regular file (fifo, socket or device)", hint="remove it from DIR"
        )
    return st


def hash_signed(abspath: str) -> tuple[str, Signature, bool]:
    """(sha256, the signature of the bytes hashed, whether the file stayed unchanged meanwhile)."""
    with open(abspath, "rb") as fh:
        before = Signature.of(os.fstat(fh.fileno()))
        digest = sha256_stream(fh)
        after = Signature.of(os.fstat(fh.fileno()))
    return digest, before, before == after


def _hash_stable(f: LocalFile) -> LocalFile:
    for _ in range(3):
        started = time.time_ns()
        digest, sig, stable = hash_signed(f.abspath)
        if stable:
            return LocalFile(f.path, f.abspath, sig, digest, started)
    raise UsageError(
        f"{f.path} kept changing while it was being hashed",
        hint="stop writing to it, then push again",
    )


class HashCache:
    """sha256 by (absolute path, size, mtime_ns, ctime_ns, inode, device), in SQLite."""

    def __init__(self, conn: sqlite3.Connection | None) -> None:
        self.conn = conn

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path | None = None) -> Iterator[HashCache]:
        path = path or paths.home() / "cache" / CACHE_FILE
        conn = _connect(path)
        try:
            yield cls(conn)
        finally:
            if conn is not None:
                conn.close()

    def lookup(self, root: str) -> dict[str, tuple[Signature, str]]:
        """Cached rows for the files under `root` (an absolute, real path)."""
        if self.conn is None:
            return {}
        rows = self.conn.execute(
            "SELECT path, size, mtime_ns, ctime_ns, ino, dev, sha256 FROM hashes WHERE path > ? AND path < ?",
            (root + "/", root + "0"),  # '0' sorts right after '/'
        )
        return {r[0]: (Signature(*r[1:6]), r[6]) for r in rows}

    def update(self, fresh: list[LocalFile], gone: list[str]) -> None:
        """Store `fresh` hashes (unless racily clean) and forget the rows of files that are `gone`."""
        if self.conn is None:
            return
        fresh = [f for f in fresh if not f.sig.racy(f.hashed_at_ns)]
        with self.conn:
            self.conn.executemany("DELETE FROM hashes WHERE path = ?", [(p,) for p in gone])
            self.conn.executemany(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.abspath,
                        f.sig.size,
                        f.sig.mtime_ns,
                        f.sig.ctime_ns,
                        f.sig.ino,
                        f.sig.dev,
                        f.sha256,
                    )
                    for f in fresh
                ],
            )


def _connect(path: Path) -> sqlite3.Connection | None:
    """Open (or create) the cache. A corrupt cache is replaced; an unusable one means no cache."""
    for attempt in (1, 2):
        conn = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                " ctime_ns INTEGER, ino INTEGER, dev INTEGER, sha256 TEXT)"
            )
            return conn
        except (sqlite3.DatabaseError, OSError):
            if conn is not None:
                conn.close()
            if attempt == 1:
                with contextlib.suppress(OSError):
                    path.unlink()
    return None


@dataclass
class HashStats:
    files: int = 0
    hashed: int = 0
    cached: int = 0
    hashed_bytes: int = 0
    seconds: float = 0.0


def hash_tree(
    root: Path, *, cache: HashCache, workers: int | None = None, progress: Progress | None = None
) -> tuple[dict[str, LocalFile], HashStats]:
    """Walk `root` and return {relative path: LocalFile with sha256}, reusing cached hashes."""
    started = time.monotonic()
    files = walk(root)
    real = os.path.realpath(root)
    known = cache.lookup(real)
    done, todo = [], []
    for f in files:
        hit = known.get(f.abspath)
        if hit and hit[0] == f.sig:
            done.append(LocalFile(f.path, f.abspath, f.sig, hit[1]))
        else:
            todo.append(f)
    fresh = _hash_all(todo, workers or max(2, min(8, os.cpu_count() or 2)), progress)
    walked = {f.abspath for f in files}
    cache.update(fresh, [p for p in known if p not in walked])
    out = {f.path: f for f in sorted(done + fresh, key=lambda f: f.path)}
    stats = HashStats(
        len(files),
        len(fresh),
        len(done),
        sum(f.sig.size for f in fresh),
        round(time.monotonic() - started, 3),
    )
    return out, stats


def _hash_all(todo: list[LocalFile], workers: int, progress: Progress | None) -> list[LocalFile]:
    total = sum(f.sig.size for f in todo)
    done_bytes = 0
    out = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trainward-hash") as pool:
        futures = [pool.submit(_hash_stable, f) for f in todo]
        try:
            for fut in as_completed(futures):
                out.append(fut.result())
                done_bytes += out[-1].sig.size
                if progress:
                    progress(done_bytes, total)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return out
