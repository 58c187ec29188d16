"""Incremental, resumable upload of a dataset directory to a volume (`trainward data push`).

1. Hash every non-hidden file under DIR: in parallel, cached by stat signature (`filetree`).
2. Plan against the manifest at PATH/.trainward-manifest.json on the volume (`manifest`): a
   file is current when its size and sha256 match its entry. A manifest that does not parse
   or match its schema is not trusted (everything is sent again). With `verify`, the
   volume's listing of PATH is checked too: an entry whose file is missing or has another
   size is not trusted.
3. Upload new and changed files in batches through `Backend.upload_files` (`batch_upload`
   on Modal, reflink-or-copy on the local backend). The invariant: every manifest entry
   describes bytes that are on the volume. So the entries of changed files are dropped
   before their upload starts, a batch is recorded only after it returns, and a file whose
   stat changed since it was hashed is sent but not recorded (the next push sends it again).
   The manifest is rewritten after each batch, so a rerun after an interruption sends only
   what is missing.
4. Remove files that exist only on the volume: only with `delete` and `yes`.

One push per destination at a time, refused rather than queued (`pushlease`).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainward.backends.base import Backend, Progress, VolumeReader
from trainward.data.lease import Lease, push_lease, read_lease
from trainward.data.manifest import MANIFEST, FileInfo, ManifestError, check_dest, dumps, loads
from trainward.data.tree import HashCache, LocalFile, Signature, hash_tree
from trainward.errors import NotFound, Refused

BATCH_BYTES = 256 << 20
BATCH_FILES = 1000
PATHS_SHOWN = 100


@dataclass
class SyncPlan:
    """What a push would do (or did). Lists hold volume paths relative to `dest`."""

    source: str
    volume: str
    dest: str
    files: int = 0
    bytes: int = 0
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    remote_only: list[str] = field(default_factory=list)
    unchanged: int = 0
    upload_bytes: int = 0
    remote_manifest: str = "missing"  # ok | incomplete | missing | invalid
    remote_manifest_error: str | None = None
    verified: dict[str, Any] | None = None
    push_in_progress: dict[str, Any] | None = None
    hashing: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    uploaded_files: int = 0
    uploaded_bytes: int = 0
    deleted: list[str] = field(default_factory=list)
    not_recorded: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def up_to_date(self) -> bool:
        return not (self.new or self.changed)

    @property
    def manifest_path(self) -> str:
        return f"{self.dest}/{MANIFEST}"

    def to_dict(self) -> dict[str, Any]:
        lists = ("new", "changed", "remote_only", "deleted", "not_recorded")
        out = {k: v for k, v in asdict(self).items() if k not in lists}
        out.update({k: len(getattr(self, k)) for k in lists})
        out.update(
            files_to_upload=len(self.new) + len(self.changed),
            up_to_date=self.up_to_date,
            manifest_path=self.manifest_path,
            paths={k: getattr(self, k)[:PATHS_SHOWN] for k in lists},
            paths_truncated=any(len(getattr(self, k)) > PATHS_SHOWN for k in lists),
        )
        if self.verified:
            out["verified"] = {
                k: v[:PATHS_SHOWN] if isinstance(v, list) else v for k, v in self.verified.items()
            }
        return out


def plan_push(
    volume: VolumeReader,
    src: Path,
    name: str,
    dest: str,
    *,
    verify: bool = False,
    hash_progress: Progress | None = None,
) -> tuple[SyncPlan, dict[str, LocalFile], dict[str, FileInfo]]:
    """Hash `src`, read the remote manifest, and diff. Read-only on the volume."""
    dest = check_dest(dest)
    with HashCache.open() as cache:
        local, stats = hash_tree(Path(src), cache=cache, progress=hash_progress)
    plan, remote = _compare(
        volume, SyncPlan(str(src), name, dest, hashing=asdict(stats)), local, verify
    )
    return plan, local, remote


def _compare(
    volume: VolumeReader, plan: SyncPlan, local: dict[str, LocalFile], verify: bool
) -> tuple[SyncPlan, dict[str, FileInfo]]:
    remote: dict[str, FileInfo] = {}
    listed: set[str] = set()
    if volume.volume_exists(plan.volume):
        remote = _read_remote(volume, plan)
        plan.push_in_progress = read_lease(volume, plan.volume, plan.dest)
        if verify:
            remote, listed = _verify(volume, plan, remote)
    return _diff(plan, local, remote, listed), remote


def _read_remote(volume: VolumeReader, plan: SyncPlan) -> dict[str, FileInfo]:
    try:
        raw = volume.read_file(plan.volume, plan.manifest_path)
    except NotFound:
        return {}
    try:
        doc = loads(raw)
    except ManifestError as err:
        plan.remote_manifest, plan.remote_manifest_error = "invalid", err.message
        return {}
    plan.remote_manifest = "ok" if doc.complete else "incomplete"
    return doc.files


def _verify(
    volume: VolumeReader, plan: SyncPlan, remote: dict[str, FileInfo]
) -> tuple[dict[str, FileInfo], set[str]]:
    """Drop manifest entries whose file is missing from the listing or has another size."""
    try:
        listing = volume.list_files(plan.volume, plan.dest, recursive=True)
    except NotFound:
        listing = []
    prefix = plan.dest + "/"
    sizes = {
        e.path[len(prefix) :]: e.size for e in listing if not e.is_dir and e.path.startswith(prefix)
    }
    sizes = {
        p: s for p, s in sizes.items() if not any(part.startswith(".") for part in p.split("/"))
    }
    missing = sorted(p for p in remote if p not in sizes)
    mismatch = sorted(p for p in remote if p in sizes and sizes[p] != remote[p].size)
    plan.verified = {
        "listed": len(sizes),
        "missing": missing,
        "size_mismatch": mismatch,
        "unrecorded": sorted(set(sizes) - set(remote)),
    }
    bad = set(missing) | set(mismatch)
    return {p: f for p, f in remote.items() if p not in bad}, set(sizes)


def _diff(
    plan: SyncPlan, local: dict[str, LocalFile], remote: dict[str, FileInfo], listed: set[str]
) -> SyncPlan:
    for rel, f in local.items():
        old = remote.get(rel)
        if old is None:
            plan.new.append(rel)
        elif old.size != f.sig.size or old.sha256 != f.sha256:
            plan.changed.append(rel)
        else:
            plan.unchanged += 1
            continue
        plan.upload_bytes += f.sig.size
    plan.files, plan.bytes = len(local), sum(f.sig.size for f in local.values())
    plan.remote_only = sorted((set(remote) | listed) - set(local))
    return plan


def status(
    volume: VolumeReader,
    src: Path,
    name: str,
    dest: str,
    *,
    verify: bool = False,
    hash_progress: Progress | None = None,
) -> SyncPlan:
    """The difference between `src` and `name:dest` (read-only)."""
    plan = plan_push(volume, src, name, dest, verify=verify, hash_progress=hash_progress)[0]
    plan.dry_run = True
    return plan


def push(
    backend: Backend,
    src: Path,
    name: str,
    dest: str,
    *,
    delete: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    verify: bool = False,
    progress: Progress | None = None,
    hash_progress: Progress | None = None,
    batch_bytes: int = BATCH_BYTES,
    batch_files: int = BATCH_FILES,
) -> SyncPlan:
    """Upload what changed under `src` to `name:dest`; remove remote-only files only with delete+yes."""
    started = time.monotonic()
    plan, local, remote = plan_push(
        backend, src, name, dest, verify=verify, hash_progress=hash_progress
    )
    plan.dry_run = dry_run
    if dry_run or not _has_work(plan, delete):
        plan.seconds = round(time.monotonic() - started, 3)
        return plan
    _check_delete(plan, delete, yes)
    backend.ensure_volume(name)
    with push_lease(backend, name, plan.dest) as lease:
        # Compare again under the lease: another push may have moved the remote since we planned.
        fresh = SyncPlan(plan.source, plan.volume, plan.dest, hashing=plan.hashing)
        plan, remote = _compare(backend, fresh, local, verify)
        plan.push_in_progress = None
        _check_delete(plan, delete, yes)
        if _has_work(plan, delete):
            _Upload(backend, plan, local, remote, lease).run(
                progress, batch_bytes, batch_files, delete=delete
            )
    plan.seconds = round(time.monotonic() - started, 3)
    return plan


def _check_delete(plan: SyncPlan, delete: bool, yes: bool) -> None:
    if delete and plan.remote_only and not yes:
        raise _refuse_delete(plan)


def _has_work(plan: SyncPlan, delete: bool) -> bool:
    dropped = plan.verified is not None and (
        plan.verified["missing"] or plan.verified["size_mismatch"]
    )
    return bool(
        not plan.up_to_date
        or (delete and plan.remote_only)
        or plan.remote_manifest != "ok"
        or dropped
    )


def _refuse_delete(plan: SyncPlan) -> Refused:
    shown = plan.remote_only[:20]
    more = f" and {len(plan.remote_only) - 20} more" if len(plan.remote_only) > 20 else ""
    return Refused(
        f"--delete would remove {len(plan.remote_only)} file(s) from {plan.volume}:{plan.dest} that are not in "
        f"{plan.source}: {', '.join(shown)}{more}",
        hint="add --yes to delete them, or drop --delete to keep them (nothing was uploaded or deleted)",
        files=plan.remote_only[:PATHS_SHOWN],
    )


class _Upload:
    """One push's uploads, manifest writes and deletions, keeping the manifest invariant."""

    def __init__(
        self,
        backend: Backend,
        plan: SyncPlan,
        local: dict[str, LocalFile],
        remote: dict[str, FileInfo],
        lease: Lease,
    ) -> None:
        self.backend, self.plan, self.local, self.lease = backend, plan, local, lease
        changed = set(plan.changed)
        self.manifest = {
            p: (_info(local[p]) if p in local else f) for p, f in remote.items() if p not in changed
        }

    def run(
        self, progress: Progress | None, batch_bytes: int, batch_files: int, *, delete: bool
    ) -> None:
        if self.plan.changed:
            self._write(complete=False)  # the old entries no longer describe what will be there
        batches = _batches(self.plan.new + self.plan.changed, self.local, batch_bytes, batch_files)
        for i, batch in enumerate(batches):
            self._upload(batch, progress)
            if i < len(batches) - 1:
                self._write(complete=False)
                self.lease.renew()
        if delete:
            self._delete()
        self._write(complete=True)

    def _upload(self, batch: list[str], progress: Progress | None) -> None:
        plan, base = self.plan, self.plan.uploaded_bytes
        total = plan.upload_bytes
        cb: Progress | None = (lambda done, _t: progress(base + done, total)) if progress else None
        files = [(Path(self.local[p].abspath), f"{plan.dest}/{p}") for p in batch]
        try:
            self.backend.upload_files(plan.volume, files, progress=cb)
        except FileNotFoundError as err:
            raise NotFound(
                f"{err.filename} vanished during the push",
                hint="push again: the batches sent before are recorded",
            ) from None
        for p in batch:
            plan.uploaded_files += 1
            plan.uploaded_bytes += self.local[p].sig.size
            if _unchanged_since_hash(self.local[p]):
                self.manifest[p] = _info(self.local[p])
            else:
                plan.not_recorded.append(p)

    def _delete(self) -> None:
        for p in self.plan.remote_only:
            with contextlib.suppress(NotFound):
                self.backend.remove_file(self.plan.volume, f"{self.plan.dest}/{p}")
            self.manifest.pop(p, None)
            self.plan.deleted.append(p)

    def _write(self, *, complete: bool) -> None:
        self.backend.write_file(
            self.plan.volume,
            self.plan.manifest_path,
            dumps(self.manifest.values(), complete=complete),
        )


def _info(f: LocalFile) -> FileInfo:
    return FileInfo(f.path, f.sig.size, f.sig.mtime_ns / 1e9, f.sha256)


def _unchanged_since_hash(f: LocalFile) -> bool:
    try:
        return Signature.of(os.stat(f.abspath)) == f.sig
    except OSError:
        return False


def _batches(
    todo: list[str], local: dict[str, LocalFile], max_bytes: int, max_files: int
) -> list[list[str]]:
    out: list[list[str]] = [[]]
    size = 0
    for rel in todo:
        if out[-1] and (size + local[rel].sig.size > max_bytes or len(out[-1]) >= max_files):
            out.append([])
            size = 0
        out[-1].append(rel)
        size += local[rel].sig.size
    return out if out[0] else []
