"""Volume verbs of the Modal backend (v1 and v2 alike, through the SDK)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainward.backends.base import FileEntry, Progress
from trainward.backends.modal.client import ModalClient
from trainward.errors import NotFound


class ModalVolumes(ModalClient):
    def _vol(self, name: str, create: bool = False) -> Any:
        import modal

        return modal.Volume.from_name(
            name, create_if_missing=create, environment_name=self.environment
        )

    def volume_exists(self, volume: str) -> bool:
        try:
            self._call(lambda: self._vol(volume).hydrate(), f"looking up volume {volume}")
        except NotFound:
            return False
        return True

    def _entries(self, volume: str, path: str, recursive: bool) -> list[FileEntry]:
        from modal.types import FileEntryType

        def listing() -> list[FileEntry]:
            out = []
            for e in self._vol(volume).listdir(path or "/", recursive=recursive):
                out.append(
                    FileEntry(
                        e.path.lstrip("/"),
                        int(e.size),
                        float(e.mtime),
                        e.type == FileEntryType.DIRECTORY,
                    )
                )
            return out

        return self._call(listing, f"listing {volume}:{path or '/'}")

    def stat(self, volume: str, path: str) -> FileEntry | None:
        clean = path.strip("/")
        parent = clean.rpartition("/")[0]
        try:
            entries = self._entries(volume, parent, False)
        except NotFound:
            return None
        return next((e for e in entries if e.path.strip("/") == clean), None)

    def list_files(
        self, volume: str, path: str = "", *, recursive: bool = False
    ) -> list[FileEntry]:
        try:
            return sorted(self._entries(volume, path.strip("/"), recursive), key=lambda e: e.path)
        except NotFound:
            raise NotFound(
                f"'{path}' does not exist on Modal volume '{volume}'",
                hint=f"modal volume ls {volume}   (or create it: modal volume create {volume})",
            ) from None

    def read_file(self, volume: str, path: str) -> bytes:
        def read() -> bytes:
            return b"".join(self._vol(volume).read_file(path.strip("/")))

        try:
            return self._call(read, f"reading {volume}:{path}")
        except NotFound:
            raise NotFound(f"'{path}' does not exist on Modal volume '{volume}'") from None

    def download_file(
        self,
        volume: str,
        path: str,
        dest: Path,
        *,
        offset: int = 0,
        progress: Progress | None = None,
    ) -> None:
        """Stream into dest; with offset, skip (re-read, not re-write) the bytes already there."""
        total = (self.stat(volume, path) or FileEntry(path, 0, 0)).size

        def fetch() -> None:
            seen = 0
            with open(dest, "ab" if offset else "wb") as fh:
                for chunk in self._vol(volume).read_file(path.strip("/")):
                    start = max(0, offset - seen)
                    seen += len(chunk)
                    if start < len(chunk):
                        fh.write(chunk[start:])
                    if progress:
                        progress(seen, total)

        self._call(fetch, f"downloading {volume}:{path}", timeout=max(self.timeout, total / 5e6))

    def ensure_volume(self, volume: str) -> None:
        self._call(lambda: self._vol(volume, create=True).hydrate(), f"creating volume {volume}")

    def upload_files(
        self, volume: str, files: Sequence[tuple[Path, str]], *, progress: Progress | None = None
    ) -> None:
        """One batch_upload(force=True) for the whole list (v1 and v2 alike)."""
        total = sum(Path(src).stat().st_size for src, _ in files)

        def upload() -> None:
            with self._vol(volume).batch_upload(force=True) as batch:
                for src, dst in files:
                    batch.put_file(str(src), "/" + dst.strip("/"))

        self._call(
            upload,
            f"uploading {len(files)} file(s) to {volume}",
            timeout=max(self.timeout, total / 2e6),
        )
        if progress:
            progress(total, total)

    def write_file(self, volume: str, path: str, data: bytes) -> None:
        def upload() -> None:
            with self._vol(volume).batch_upload(force=True) as batch:
                batch.put_file(io.BytesIO(data), "/" + path.strip("/"))

        self._call(upload, f"writing {volume}:{path}")

    def remove_file(self, volume: str, path: str) -> None:
        self._call(
            lambda: self._vol(volume).remove_file(path.strip("/"), recursive=True),
            f"removing {volume}:{path}",
        )

    # -- apps and runs ------------------------------------------------------------------------
