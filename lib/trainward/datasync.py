"""Manifest-based incremental upload of a dataset directory to a volume.

The manifest (`<dest>/.trainward-manifest.json` on the volume) lists every file's path,
size, mtime and sha256. A push hashes the local tree, compares it with the manifest, and
uploads only new and changed files, in batches; the manifest is rewritten after each batch,
so an interrupted push resumes where it stopped. Nothing is deleted unless asked.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .backends.base import Backend, Progress, VolumeReader
from .errors import IntegrityError, NotFound, UsageError

MANIFEST = ".trainward-manifest.json"
BATCH_BYTES = 256 << 20
BATCH_FILES = 256


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    sha256: str


@dataclass
class SyncPlan:
    source: str
    volume: str
    dest: str
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    upload_bytes: int = 0
    uploaded_bytes: int = 0
    seconds: float = 0.0

    @property
    def up_to_date(self) -> bool:
        return not (self.new or self.changed)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["up_to_date"] = self.up_to_date
        d["files_to_upload"] = len(self.new) + len(self.changed)
        return d


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def scan(src: Path) -> dict[str, FileInfo]:
    """Every file under `src` (hidden files skipped), with its sha256."""
    if not src.is_dir():
        raise NotFound(f"data source {src} is not a directory", hint="check data.source in the experiment")
    out = {}
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src).as_posix()
        if p.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            st = p.stat()
            out[rel] = FileInfo(rel, st.st_size, st.st_mtime, sha256_file(p))
    return out


def remote_manifest(volume: VolumeReader, name: str, dest: str) -> dict[str, FileInfo]:
    try:
        raw = volume.read_file(name, f"{dest}/{MANIFEST}")
    except NotFound:
        return {}
    try:
        doc = json.loads(raw)
        return {f["path"]: FileInfo(**f) for f in doc["files"]}
    except (ValueError, KeyError, TypeError) as err:
        raise IntegrityError(f"the manifest {dest}/{MANIFEST} on volume {name} is unreadable: {err}",
                             hint=f"push again with --force to rebuild it") from None  # fmt: skip


def diff(local: dict[str, FileInfo], remote: dict[str, FileInfo], plan: SyncPlan) -> SyncPlan:
    for rel, info in local.items():
        old = remote.get(rel)
        if old is None:
            plan.new.append(rel)
            plan.upload_bytes += info.size
        elif old.sha256 != info.sha256 or old.size != info.size:
            plan.changed.append(rel)
            plan.upload_bytes += info.size
        else:
            plan.unchanged += 1
    plan.deleted = sorted(set(remote) - set(local))
    return plan


def plan_push(volume: VolumeReader, src: Path, name: str, dest: str) -> tuple[SyncPlan, dict[str, FileInfo], dict[str, FileInfo]]:
    dest = dest.strip("/")
    plan = SyncPlan(str(src), name, dest)
    local = scan(src)
    remote = remote_manifest(volume, name, dest) if volume.volume_exists(name) else {}
    return diff(local, remote, plan), local, remote


def _write_manifest(backend: Backend, name: str, dest: str, files: dict[str, FileInfo]) -> None:
    doc = {"version": 1, "written_at": time.time(), "files": [asdict(f) for f in sorted(files.values(), key=lambda f: f.path)]}
    backend.write_file(name, f"{dest}/{MANIFEST}", json.dumps(doc).encode())


def push(
    backend: Backend,
    src: Path,
    name: str,
    dest: str,
    *,
    delete: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SyncPlan:
    """Upload what changed under `src` to `name:dest`. Deletes remote-only files only if `delete`."""
    started = time.monotonic()
    plan, local, remote = plan_push(backend, src, name, dest)
    dest = plan.dest
    if dry_run:
        return plan
    if not dest:
        raise UsageError("refusing to sync to the volume root", hint="pass a destination path such as datasets/NAME")
    backend.ensure_volume(name)
    manifest = {k: v for k, v in remote.items() if k in local and k not in plan.changed}
    todo = plan.new + plan.changed
    batch: list[str] = []
    size = 0
    for i, rel in enumerate(todo):
        batch.append(rel)
        size += local[rel].size
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES or i == len(todo) - 1:
            base = plan.uploaded_bytes
            backend.upload_files(
                name, [(src / r, f"{dest}/{r}") for r in batch],
                progress=(lambda d, t: progress(base + d, plan.upload_bytes)) if progress else None,
            )  # fmt: skip
            plan.uploaded_bytes += size
            manifest.update({r: local[r] for r in batch})
            _write_manifest(backend, name, dest, manifest)
            if on_batch:
                on_batch(len(batch))
            batch, size = [], 0
    if delete:
        for rel in plan.deleted:
            try:
                backend.remove_file(name, f"{dest}/{rel}")
            except NotFound:
                pass
    if todo or delete or not remote:
        _write_manifest(backend, name, dest, {k: local[k] for k in local})
    plan.seconds = round(time.monotonic() - started, 3)
    return plan
