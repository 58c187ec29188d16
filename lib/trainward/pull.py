"""Download a checkpoint from a run's volume, verified against the ledger's size and sha256.

Read-only on the remote. The download goes to `<dest>.part` and resumes from its size when
a previous pull was interrupted; only a file whose size and sha256 match the ledger's index
is renamed over `dest`, so a corrupt transfer never replaces a good local file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .backends.base import Progress, ReadOnlyBackend
from .errors import IntegrityError, NotFound
from .ledger import LedgerReader, run_path

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def checkpoint_entry(reader: ReadOnlyBackend, volume: str, run: str, which: str) -> dict[str, Any]:
    st = LedgerReader(reader, volume, run).status()
    if st is None:
        raise NotFound(f"run '{run}' has no ledger on volume '{volume}'",
                       hint="the run may not have started yet: `trainward status " + run + "`")  # fmt: skip
    entry = (st.get("checkpoints") or {}).get(which)
    if not entry:
        have = ", ".join(sorted(st.get("checkpoints") or {})) or "none yet"
        raise NotFound(f"run '{run}' has no '{which}' checkpoint (available: {have})",
                       hint="checkpoints appear after the first checkpoint interval or epoch")  # fmt: skip
    return dict(entry)


def destination(to: Path, run: str, which: str) -> Path:
    if to.suffix in (".pt", ".pth", ".bin", ".ckpt"):
        return to
    return to / f"{run}-{which}.pt"


def download_verified(reader: ReadOnlyBackend, volume: str, remote: str, dest: Path, *, size: int, sha256: str,
                      progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Fetch `remote` into `dest` through `dest.part`; resume a partial; verify; rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.stat().st_size == size and sha256_of(dest) == sha256:
        return {"path": str(dest), "size": size, "sha256": sha256, "downloaded_bytes": 0, "already_present": True}
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        part.unlink()
        offset = 0
    if offset < size:
        reader.download_file(volume, remote, part, offset=offset, progress=progress)
    got = part.stat().st_size
    digest = sha256_of(part)
    if got != size or digest != sha256:
        part.unlink()
        raise IntegrityError(
            f"downloaded {remote} does not match the ledger: size {got} vs {size}, sha256 {digest[:12]} vs {sha256[:12]}",
            hint=f"nothing was overwritten ({dest} is untouched); pull again — if the run is writing a new "
            "checkpoint right now, the next pull gets the new one",
        )
    os.replace(part, dest)
    return {"path": str(dest), "size": size, "sha256": sha256, "downloaded_bytes": size - offset, "already_present": False}


def pull_checkpoint(reader: ReadOnlyBackend, volume: str, run: str, which: str, to: Path,
                    progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Download `latest` or `best` of `run`. Retries once if the run replaced the file meanwhile."""
    dest = destination(to, run, which)
    for attempt in (1, 2):
        entry = checkpoint_entry(reader, volume, run, which)
        remote = f"{run_path(run)}/{entry['path']}"
        try:
            result = download_verified(reader, volume, remote, dest, size=int(entry["size"]), sha256=entry["sha256"],
                                       progress=progress)  # fmt: skip
        except IntegrityError:
            fresh = checkpoint_entry(reader, volume, run, which)
            if attempt == 2 or fresh.get("sha256") == entry.get("sha256"):
                raise
            continue  # the running job wrote a newer checkpoint during the download
        return {"run": run, "which": which, "step": entry.get("step"), "epoch": entry.get("epoch"),
                "remote": remote, "verified": True, **result}  # fmt: skip
    raise AssertionError("unreachable")
