"""Bytes on disk: content-addressed files, blobs, v2 blocks and volume directories.

Layout under ``<state-dir>``::

    content/<sha256>     file contents named by sha256 (MountPutFile, v1 volume uploads, mounts)
    blobs/<bl-id>        blobs uploaded by HTTP PUT after BlobCreate
    blocks/<sha256>      v2 volume blocks (trailing zero bytes stripped, as the client hashes them)
    volumes/<vo-id>/     a volume's files, as plain files: the one copy every reader and writer uses
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

BLOCK_SIZE = 8 * 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


class StorageError(Exception):
    """A path that escapes its volume, or a file that is not there."""


@dataclass
class UploadLedger:
    """Counts the bytes clients send, so tests can assert that unchanged files are not re-sent."""

    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unattributed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    files: list[dict[str, Any]] = field(default_factory=list)

    def received(self, kind: str, sha256_hex: str, n: int) -> None:
        self.by_kind[kind] += n
        self.unattributed[sha256_hex] += n

    def attribute(self, volume: str, path: str, sha256s: list[str]) -> None:
        n = sum(self.unattributed.pop(s, 0) for s in sha256s)
        self.files.append({"volume": volume, "path": path.lstrip("/"), "bytes": n})

    def summary(self) -> dict[str, Any]:
        return {
            "total": sum(self.by_kind.values()),
            "by_kind": dict(self.by_kind),
            "files": list(self.files),
        }


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("content", "blobs", "blocks", "volumes", "tasks"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.uploads = UploadLedger()

    # ---- content / blobs / blocks -------------------------------------------------------------
    def content_path(self, sha256_hex: str) -> Path:
        return self.root / "content" / _safe_name(sha256_hex)

    def has_content(self, sha256_hex: str) -> bool:
        return sha256_hex == EMPTY_SHA256 or self.content_path(sha256_hex).exists()

    def put_content(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        _write_atomic(self.content_path(sha), data)
        return sha

    def read_content(self, sha256_hex: str) -> bytes:
        if sha256_hex == EMPTY_SHA256:
            return b""
        return self.content_path(sha256_hex).read_bytes()

    def blob_path(self, blob_id: str) -> Path:
        return self.root / "blobs" / _safe_name(blob_id)

    def block_path(self, sha256_hex: str) -> Path:
        return self.root / "blocks" / _safe_name(sha256_hex)

    def has_block(self, sha256_hex: str) -> bool:
        return sha256_hex == EMPTY_SHA256 or self.block_path(sha256_hex).exists()

    def read_block(self, sha256_hex: str) -> bytes:
        if sha256_hex == EMPTY_SHA256:
            return b""
        return self.block_path(sha256_hex).read_bytes()

    # ---- volumes -----------------------------------------------------------------------------
    def volume_root(self, volume_id: str) -> Path:
        path = self.root / "volumes" / _safe_name(volume_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def resolve(self, volume_id: str, path: str) -> Path:
        """Map a volume path (``/a/b``, ``a/b`` or ``""``) to a host path inside the volume."""
        root = self.volume_root(volume_id)
        parts = [p for p in PurePosixPath("/" + path).parts[1:] if p not in ("", ".")]
        if ".." in parts:
            raise StorageError(f"path {path!r} leaves the volume")
        return root.joinpath(*parts)

    def write_file(self, volume_id: str, path: str, chunks: list[bytes], mode: int) -> None:
        target = self.resolve(volume_id, path)
        if target == self.volume_root(volume_id) or target.is_dir():
            raise StorageError(f"{path}: is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, (mode & 0o7777) or 0o644)
        os.replace(tmp, target)

    def remove(self, volume_id: str, path: str, recursive: bool) -> None:
        target = self.resolve(volume_id, path)
        if target == self.volume_root(volume_id):
            if not recursive:
                raise StorageError("refusing to remove the volume root without recursive=True")
            for child in target.iterdir():
                _remove_tree(child)
            return
        if not target.exists():
            raise FileNotFoundError(path)
        if target.is_dir() and not recursive and any(target.iterdir()):
            raise StorageError(f"{path} is a non-empty directory; pass recursive=True")
        _remove_tree(target)

    def delete_volume(self, volume_id: str) -> None:
        shutil.rmtree(self.root / "volumes" / _safe_name(volume_id), ignore_errors=True)


def _safe_name(name: str) -> str:
    """An object id or hex digest, safe to use as a file name."""
    if not _SAFE_NAME.fullmatch(name):
        raise StorageError(f"bad object name {name!r}")
    return name


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
