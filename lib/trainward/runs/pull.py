"""Download checkpoints or a results folder from a run's volume, verified by size and sha256.

Read-only on the remote: everything here receives a read-only backend. Each download goes to
`<dest>.part` and resumes from its size when a previous pull was interrupted; only a file
that passes verification is renamed over `dest`, so a corrupt transfer never replaces a good
local file.

`pull_checkpoint` verifies against the ledger's checkpoint index. `pull_folder` verifies each
file of `runs/<run>/<folder>/` against, in order: the folder's `.trainward-manifest.json`
(written by the trainer with `trainward.data.manifest.write_local_manifest`), else the ledger's
checkpoint index, else the size in the volume's listing, since no backend can hash a file
remotely. The sha256 of every file it wrote is recorded in `<to>/.trainward-pull.json`, so a
size-only copy can be re-checked later, and so an unchanged file is not fetched twice.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from trainward.backends.base import FileEntry, Progress, ReadOnlyBackend
from trainward.core.fileio import atomic_write, sha256_bytes, sha256_file
from trainward.core.paths import run_path
from trainward.data.manifest import MANIFEST, FileInfo, ManifestError, loads, safe_path
from trainward.errors import IntegrityError, NotFound, UsageError
from trainward.runs import adopted
from trainward.runs.ledger import LedgerReader

CHUNK = 1 << 20
PULL_RECORD = ".trainward-pull.json"


def checkpoint_entry(reader: ReadOnlyBackend, volume: str, run: str, which: str) -> dict[str, Any]:
    ledger = LedgerReader(reader, volume, run)
    st = ledger.status()
    info = ledger.run_info() if st is None else None
    if info is not None and adopted.is_adopted(info.config):  # its files, by size
        st = adopted.observe(reader, volume, run, info, None, time.time())
    if st is None:
        raise NotFound(
            f"run '{run}' has no ledger on volume '{volume}'",
            hint="the run may not have started yet: `trainward status " + run + "`",
        )
    entry = (st.get("checkpoints") or {}).get(which)
    if not entry:
        have = ", ".join(sorted(st.get("checkpoints") or {})) or "none yet"
        raise NotFound(
            f"run '{run}' has no '{which}' checkpoint (available: {have})",
            hint="checkpoints appear after the first checkpoint interval or epoch",
        )
    return dict(entry)


def destination(to: Path, run: str, which: str) -> Path:
    if to.suffix in (".pt", ".pth", ".bin", ".ckpt"):
        return to
    return to / f"{run}-{which}.pt"


def download_verified(
    reader: ReadOnlyBackend,
    volume: str,
    remote: str,
    dest: Path,
    *,
    size: int,
    sha256: str | None,
    progress: Progress | None = None,
    against: str = "the ledger",
) -> dict[str, Any]:
    """Fetch `remote` into `dest` through `dest.part`; resume a partial; verify; rename.

    With `sha256=None` only the size is checked, and the result carries the local sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if sha256 and dest.exists() and dest.stat().st_size == size and sha256_file(dest) == sha256:
        return {
            "path": str(dest),
            "size": size,
            "sha256": sha256,
            "downloaded_bytes": 0,
            "already_present": True,
        }
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        part.unlink()
        offset = 0
    if offset < size:
        reader.download_file(volume, remote, part, offset=offset, progress=progress)
    got = part.stat().st_size
    digest = sha256_file(part)
    if got != size or (sha256 and digest != sha256):
        part.unlink()
        raise IntegrityError(
            f"downloaded {remote} does not match {against}: size {got} vs {size}, "
            f"sha256 {digest[:12]} vs {(sha256 or 'unknown')[:12]}",
            hint=f"nothing was overwritten ({dest} is untouched); pull again — if the run is writing a new "
            "checkpoint right now, the next pull gets the new one",
        )
    os.replace(part, dest)
    return {
        "path": str(dest),
        "size": size,
        "sha256": digest,
        "downloaded_bytes": size - offset,
        "already_present": False,
    }


def pull_checkpoint(
    reader: ReadOnlyBackend,
    volume: str,
    run: str,
    which: str,
    to: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Download `latest` or `best` of `run`. Retries once if the run replaced the file meanwhile.
    A folder checkpoint (Hugging Face's `checkpoint-N/`) is verified through its manifest,
    whose sha256 the ledger holds, then file by file."""
    dest = destination(to, run, which)
    for attempt in (1, 2):
        entry = checkpoint_entry(reader, volume, run, which)
        if entry.get("kind") == "folder":
            return _pull_folder_checkpoint(reader, volume, run, which, entry, to, progress)
        against = "the ledger" if entry.get("sha256") else "the volume's listing (size only)"
        remote = f"{run_path(run)}/{entry['path']}"
        try:
            result = download_verified(
                reader,
                volume,
                remote,
                dest,
                size=int(entry["size"]),
                sha256=entry.get("sha256"),
                progress=progress,
                against=against,
            )
        except IntegrityError:
            fresh = checkpoint_entry(reader, volume, run, which)
            same = ("sha256", "size", "time", "path")
            if attempt == 2 or all(fresh.get(k) == entry.get(k) for k in same):
                raise
            continue  # the running job wrote a newer checkpoint during the download
        return {
            "run": run,
            "which": which,
            "step": entry.get("step"),
            "epoch": entry.get("epoch"),
            "remote": remote,
            "verified": True,
            "verified_by": "sha256" if entry.get("sha256") else "size",
            **result,
        }
    raise AssertionError("unreachable")


def _pull_folder_checkpoint(
    reader: ReadOnlyBackend,
    volume: str,
    run: str,
    which: str,
    entry: dict[str, Any],
    to: Path,
    progress: Progress | None,
) -> dict[str, Any]:
    manifest = f"{run_path(run)}/{entry['path']}/{MANIFEST}"
    digest = sha256_bytes(reader.read_file(volume, manifest)) if entry.get("sha256") else None
    if digest != entry.get("sha256"):
        raise IntegrityError(
            f"checkpoint {entry['path']} of run '{run}' no longer matches the ledger "
            f"(manifest sha256 {(digest or '')[:12]} vs {str(entry.get('sha256'))[:12]})",
            hint="nothing was downloaded; if the run is still writing it, pull again in a moment",
        )
    dest = to / f"{run}-{which}"
    result = pull_folder(reader, volume, run, str(entry["path"]), dest, progress=progress)
    return {"run": run, "which": which, "step": entry.get("step"), "kind": "folder",
            "path": str(dest), "verified": True, **result}  # fmt: skip


def pull_folder(
    reader: ReadOnlyBackend,
    volume: str,
    run: str,
    folder: str,
    to: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Download `runs/<run>/<folder>/` into `to`, verifying every file (see the module doc)."""
    folder = "/".join(p for p in folder.strip().split("/") if p not in ("", "."))
    if not safe_path(folder):
        raise UsageError(
            f"--folder {folder!r} must be a path inside the run directory",
            hint="e.g. --folder results",
        )
    base = f"{run_path(run)}/{folder}"
    remote = _remote_files(reader, volume, run, base)
    expected, source, warnings = _expected(reader, volume, run, base, folder)
    record = _load_record(to)
    total, state = sum(e.size for e in remote.values()), {"done": 0}
    items, failures = [], []
    for rel in sorted(set(remote) | set(expected)):
        try:
            items.append(
                _pull_one(
                    reader,
                    volume,
                    base,
                    rel,
                    remote.get(rel),
                    expected.get(rel),
                    to,
                    record,
                    _shifted(progress, state, total),
                    source,
                )
            )
        except IntegrityError as err:
            failures.append(f"{rel}: {err.message}")
        state["done"] += remote[rel].size if rel in remote else 0
    _save_record(to, record, run, base, items)
    if failures:
        raise IntegrityError(
            f"{len(failures)} of {len(set(remote) | set(expected))} file(s) in {base} failed verification: "
            + "; ".join(failures[:5]),
            hint="nothing was overwritten for those (the previous local copies are untouched); the "
            "other files are in place. Pull again: a running job may be rewriting them",
            failures=failures,
        )
    return _folder_summary(run, base, to, source, items, warnings)


def _remote_files(
    reader: ReadOnlyBackend, volume: str, run: str, base: str
) -> dict[str, FileEntry]:
    try:
        listing = reader.list_files(volume, base, recursive=True)
    except NotFound:
        try:
            have = [
                e.path.rsplit("/", 1)[-1]
                for e in reader.list_files(volume, run_path(run))
                if e.is_dir
            ]
        except NotFound:
            have = []
        raise NotFound(
            f"folder {base} does not exist on volume '{volume}'",
            hint=f"folders of run '{run}': {', '.join(have) or 'none'}",
        ) from None
    prefix = base + "/"
    rels = {e.path[len(prefix) :]: e for e in listing if not e.is_dir and e.path.startswith(prefix)}
    return {r: e for r, e in rels.items() if not any(p.startswith(".") for p in r.split("/"))}


def _expected(
    reader: ReadOnlyBackend, volume: str, run: str, base: str, folder: str
) -> tuple[dict[str, FileInfo], str, list[str]]:
    """The sizes and sha256s to verify against, and where they came from."""
    try:
        return loads(reader.read_file(volume, f"{base}/{MANIFEST}")).files, "manifest", []
    except NotFound:
        warnings = []
    except ManifestError as err:
        warnings = [f"{base}/{MANIFEST} was ignored: {err.message}"]
    st = LedgerReader(reader, volume, run).status() or {}
    index = {}
    for entry in (st.get("checkpoints") or {}).values():
        path = str(entry.get("path") or "")
        if path.startswith(folder + "/") and entry.get("sha256") and entry.get("size") is not None:
            rel = path[len(folder) + 1 :]
            index[rel] = FileInfo(rel, int(entry["size"]), 0.0, str(entry["sha256"]))
    return index, "ledger" if index else "size", warnings


def _pull_one(
    reader: ReadOnlyBackend,
    volume: str,
    base: str,
    rel: str,
    entry: FileEntry | None,
    exp: FileInfo | None,
    to: Path,
    record: dict[str, Any],
    progress: Progress | None,
    source: str,
) -> dict[str, Any]:
    if not safe_path(rel):
        raise IntegrityError(f"unsafe path {rel!r} on the volume; not written")
    if entry is None:
        raise IntegrityError(f"listed in the {source} but not on the volume")
    dest, prev = to / rel, record.get(rel) or {}
    if (
        exp is None
        and prev.get("size") == entry.size
        and prev.get("remote_mtime") == entry.mtime
        and dest.is_file()
        and sha256_file(dest) == prev.get("sha256")
    ):
        return {
            "path": rel,
            "size": entry.size,
            "sha256": prev["sha256"],
            "verified": "size",
            "downloaded_bytes": 0,
            "already_present": True,
            "remote_mtime": entry.mtime,
        }
    result = download_verified(
        reader,
        volume,
        f"{base}/{rel}",
        dest,
        size=exp.size if exp else entry.size,
        sha256=exp.sha256 if exp else None,
        progress=progress,
        against=f"the {source}" if exp else "the volume's listing",
    )
    return {
        **result,
        "path": rel,
        "verified": "sha256" if exp else "size",
        "remote_mtime": entry.mtime,
    }


def _shifted(progress: Progress | None, state: dict[str, int], total: int) -> Progress | None:
    if progress is None:
        return None
    base = state["done"]
    return lambda done, _total: progress(base + done, total)


def _load_record(to: Path) -> dict[str, Any]:
    try:
        doc = json.loads((to / PULL_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    files = doc.get("files") if isinstance(doc, dict) else None
    return files if isinstance(files, dict) else {}


def _save_record(
    to: Path, record: dict[str, Any], run: str, base: str, items: list[dict[str, Any]]
) -> None:
    now = time.time()
    for it in items:
        record[it["path"]] = {
            "run": run,
            "remote": f"{base}/{it['path']}",
            "size": it["size"],
            "sha256": it["sha256"],
            "verified": it["verified"],
            "remote_mtime": it["remote_mtime"],
            "pulled_at": now,
        }
    to.mkdir(parents=True, exist_ok=True)
    atomic_write(
        to / PULL_RECORD,
        json.dumps({"schema": "trainward.pull", "files": record}, indent=1).encode(),
    )


def _folder_summary(
    run: str, base: str, to: Path, source: str, items: list[dict[str, Any]], warnings: list[str]
) -> dict[str, Any]:
    return {
        "run": run,
        "remote": base,
        "to": str(to),
        "verified_by": source,
        "files": len(items),
        "bytes": sum(i["size"] for i in items),
        "downloaded_bytes": sum(i["downloaded_bytes"] for i in items),
        "already_present": sum(1 for i in items if i["already_present"]),
        "verified_sha256": sum(1 for i in items if i["verified"] == "sha256"),
        "verified_size_only": sum(1 for i in items if i["verified"] == "size"),
        "record": str(to / PULL_RECORD),
        "warnings": warnings,
        "items": [
            {k: i[k] for k in ("path", "size", "sha256", "verified", "already_present")}
            for i in items[:100]
        ],
    }
