"""Checkpoints wherever a program writes them: found by the config's patterns, indexed once
complete, and handed back to the program when the run resumes.

`checkpoints.paths` are patterns relative to the run directory; one ending in `/` matches
folders (`out/checkpoint-*/`, as Hugging Face writes them), others files. A match is
*complete* once nothing in it has changed for `checkpoints.settle` seconds (or when the
program has exited). It is then indexed in the ledger as `latest` with its size, its step
(the last number in its name) and its sha256: of the file, or, for a folder, of the
manifest written beside its files (`.trainward-manifest.json`, the sha256 of every file),
so `pull` verifies a folder file by file. A program that indexes its own checkpoints
through the ledger API is left to do so.
"""

from __future__ import annotations

import glob
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from trainward.core.fileio import sha256_bytes, sha256_file
from trainward.data.manifest import MANIFEST, loads, write_local_manifest
from trainward.errors import TrainwardError
from trainward.runs.context import RunContext

SCAN_EVERY_S = 10.0


@dataclass(frozen=True)
class Found:
    rel: str  # relative to the run directory
    is_dir: bool
    signature: tuple[int, int, float]  # files, bytes, newest mtime


def _signature(path: Path) -> tuple[int, int, float]:
    if path.is_file():
        st = path.stat()
        return 1, st.st_size, st.st_mtime
    files = [p for p in path.rglob("*") if p.is_file() and p.name != MANIFEST]
    stats = [p.stat() for p in files]
    return len(stats), sum(s.st_size for s in stats), max((s.st_mtime for s in stats), default=0.0)


def find(run_dir: Path, patterns: list[str]) -> list[Found]:
    """Every match of the patterns under `run_dir`, oldest first (by newest content)."""
    out = []
    for pattern in patterns:
        folders = pattern.endswith("/")
        for hit in glob.glob(str(run_dir / pattern.rstrip("/"))):
            path = Path(hit)
            if path.is_dir() != folders or path.name.startswith("."):
                continue
            rel = path.relative_to(run_dir).as_posix()
            out.append(Found(rel, folders, _signature(path)))
    return sorted(out, key=lambda f: f.signature[2])


def step_of(name: str) -> int | None:
    """`checkpoint-500` -> 500: the last number in a checkpoint's name, if any."""
    numbers = re.findall(r"\d+", Path(name).name)
    return int(numbers[-1]) if numbers else None


class CheckpointWatcher:
    """Scans for new complete checkpoints while a program runs; indexes the newest."""

    def __init__(self, ctx: RunContext) -> None:
        cfg = ctx.experiment.checkpoints
        self.ctx = ctx
        self.patterns = list(cfg.paths)
        self.settle = float(cfg.settle)
        self._seen: dict[str, tuple[tuple[int, int, float], float]] = {}
        self._indexed: str | None = None
        self._last_scan = 0.0

    def scan(self, *, final: bool = False) -> None:
        now = time.time()
        if not final and now - self._last_scan < SCAN_EVERY_S:
            return
        self._last_scan = now
        if self._program_indexes_its_own():
            return
        complete = [
            f for f in find(self.ctx.run_dir, self.patterns) if self._settled(f, now, final)
        ]
        if complete and complete[-1].rel + str(complete[-1].signature) != self._indexed:
            self._index(complete[-1])

    def _settled(self, f: Found, now: float, final: bool) -> bool:
        before = self._seen.get(f.rel)
        if before is None or before[0] != f.signature:
            self._seen[f.rel] = (f.signature, now)
            return final
        return final or now - before[1] >= self.settle

    def _program_indexes_its_own(self) -> bool:
        entries = (self.ctx.ledger.status.get("checkpoints") or {}).values()
        return any(e.get("by") != "watcher" for e in entries)

    def _index(self, f: Found) -> None:
        path = self.ctx.run_dir / f.rel
        if f.is_dir:
            manifest = write_local_manifest(path)
            digest, size = sha256_bytes(manifest.read_bytes()), f.signature[1]
        else:
            digest, size = sha256_file(path), os.path.getsize(path)
        index = self.ctx.ledger.status.get("checkpoints") or {}
        if "latest" in index and index["latest"].get("path") != f.rel:
            self.ctx.ledger.status["checkpoints"]["previous"] = index["latest"]
        self.ctx.ledger.record_checkpoint(
            "latest", f.rel, step=step_of(f.rel) or 0, epoch=0, sha256=digest, size=size,
            kind="folder" if f.is_dir else "file", files=f.signature[0], by="watcher",
        )  # fmt: skip
        self._indexed = f.rel + str(f.signature)


def verified(run_dir: Path, entry: dict[str, object]) -> bool:
    """Whether a checkpoint on disk still is what the ledger indexed (sha256 of the file, or of
    a folder's manifest and of every file it lists)."""
    path = run_dir / str(entry.get("path") or "")
    try:
        if entry.get("kind") == "folder":
            raw = (path / MANIFEST).read_bytes()
            if sha256_bytes(raw) != entry.get("sha256"):
                return False
            files = loads(raw).files.values()
            return all(sha256_file(path / f.path) == f.sha256 for f in files)
        return sha256_file(path) == entry.get("sha256")
    except (OSError, TrainwardError):
        return False


def resume_point(ctx: RunContext) -> str | None:
    """What a program resumes from: the launch's explicit `--resume` checkpoint, else this
    run's newest indexed checkpoint that still verifies (latest, then previous); None at the
    first start. A checkpoint that no longer matches the ledger is skipped, with a warning."""
    if ctx.resume_from is not None:
        return str(ctx.resume_from)
    index = ctx.ledger.status.get("checkpoints") or {}
    for which in ("latest", "previous"):
        entry = index.get(which)
        if not entry:
            continue
        if verified(ctx.run_dir, dict(entry)):
            return str(ctx.run_dir / entry["path"])
        ctx.ledger.warn(
            f"checkpoint {entry['path']} ({which}) no longer matches the ledger; not resuming from it"
        )
    return None
