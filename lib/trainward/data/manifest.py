"""The manifest: which files a directory on a volume holds, with their sizes and sha256s.

    <dir>/.trainward-manifest.json
    {"schema": "trainward.manifest", "version": 1, "written_at": 1700000000.0,
     "complete": true, "files": [{"path": "a/b.npy", "size": 123, "mtime": 1699.5,
                                  "sha256": "<64 hex>"}, ...]}

`trainward data push` writes it next to the data; a trainer may write one next to its
results (`write_local_manifest`) so `trainward pull RUN --folder` can verify every byte.
`complete` is false while a push is still uploading. A manifest is trusted only when it
parses and every entry matches the schema: a posix path inside the directory, a
non-negative integer size, and a 64-character hex sha256. Anything else is a ManifestError.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainward.core.fileio import atomic_write
from trainward.data.tree import HashCache, hash_tree
from trainward.errors import ManifestError, UsageError

MANIFEST = ".trainward-manifest.json"
SCHEMA = "trainward.manifest"
VERSION = 1
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "mtime": self.mtime, "sha256": self.sha256}


@dataclass
class Manifest:
    files: dict[str, FileInfo]
    complete: bool = True
    written_at: float = 0.0


def safe_path(path: str) -> bool:
    """A relative posix path with no empty, `.` or `..` component, no backslash and no NUL."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def check_dest(dest: str) -> str:
    """A volume directory for a push: normalised, inside the volume, and not its root."""
    cleaned = "/".join(p for p in dest.strip().split("/") if p not in ("", "."))
    if not cleaned:
        raise UsageError(
            f"refusing to push to the volume root ({dest!r})", hint="pass --to datasets/NAME"
        )
    if not safe_path(cleaned) or any(p.startswith(".") for p in cleaned.split("/")):
        raise UsageError(
            f"destination {dest!r} is not a plain path inside the volume",
            hint="use a relative path without '..' or hidden components, e.g. datasets/NAME",
        )
    return cleaned


def dumps(files: Iterable[FileInfo], *, complete: bool) -> bytes:
    doc = {
        "schema": SCHEMA,
        "version": VERSION,
        "written_at": time.time(),
        "complete": complete,
        "files": [f.to_dict() for f in sorted(files, key=lambda f: f.path)],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def loads(raw: bytes) -> Manifest:
    """Parse and validate a manifest; raise ManifestError saying what is wrong."""
    try:
        doc = json.loads(raw)
    except ValueError as err:
        raise ManifestError(f"not JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("version") != VERSION:
        raise ManifestError(f"not a {SCHEMA} version {VERSION} document")
    entries = doc.get("files")
    if not isinstance(entries, list) or not isinstance(doc.get("complete"), bool):
        raise ManifestError("'files' must be a list and 'complete' a boolean")
    files: dict[str, FileInfo] = {}
    for entry in entries:
        info = _entry(entry)
        if info.path in files:
            raise ManifestError(f"{info.path!r} is listed twice")
        files[info.path] = info
    return Manifest(files, doc["complete"], float(doc.get("written_at") or 0.0))


def _entry(entry: Any) -> FileInfo:
    try:
        path, size, mtime, sha = entry["path"], entry["size"], entry["mtime"], entry["sha256"]
    except (TypeError, KeyError):
        raise ManifestError(
            f"entry {str(entry)[:80]!r} lacks path, size, mtime or sha256"
        ) from None
    if not isinstance(path, str) or not safe_path(path):
        raise ManifestError(f"unsafe path {path!r}")
    if (
        type(size) is not int
        or size < 0
        or not isinstance(mtime, int | float)
        or isinstance(mtime, bool)
    ):
        raise ManifestError(f"{path!r}: size must be an integer >= 0 and mtime a number")
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise ManifestError(f"{path!r}: sha256 must be 64 lowercase hex characters")
    return FileInfo(path, size, float(mtime), sha)


def write_local_manifest(directory: Path) -> Path:
    """For trainers: hash every file under `directory` and write its manifest there, atomically.

    Call it after the last write to a results folder; `trainward pull RUN --folder` then
    verifies each downloaded file by sha256 instead of by size alone.
    """
    with HashCache.open() as cache:
        files, _ = hash_tree(directory, cache=cache)
    infos = [FileInfo(f.path, f.sig.size, f.sig.mtime_ns / 1e9, f.sha256) for f in files.values()]
    target = Path(directory) / MANIFEST
    atomic_write(target, dumps(infos, complete=True))
    return target
