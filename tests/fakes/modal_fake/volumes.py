"""Volume RPCs, v1 and v2, over plain directories (``storage.volume_root``).

The client never chooses the version itself; it follows what VolumeGetOrCreate answers. The
version of a new volume comes from ``State.volume_versions[name]`` or else
``State.default_volume_version`` (both set through the control API). Reads are served as HTTP
GET URLs on the fake's HTTP server, one per 8 MiB block, as Modal's block store does.
"""

from __future__ import annotations

import shutil
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from .ids import new_id
from .objects import ANONYMOUS, CREATE_IF_MISSING, FAIL_IF_EXISTS, list_page
from .router import CallContext
from .state import VolumeRecord
from .storage import BLOCK_SIZE, StorageError

if TYPE_CHECKING:
    from .context import Fake

FILE, DIRECTORY = api_pb2.FileEntry.FileType.FILE, api_pb2.FileEntry.FileType.DIRECTORY
MissingBlock = api_pb2.VolumePutFiles2Response.MissingBlock


class VolumeService:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    # ---- objects ----------------------------------------------------------------------------
    async def VolumeGetOrCreate(
        self, req: api_pb2.VolumeGetOrCreateRequest, ctx: CallContext
    ) -> api_pb2.VolumeGetOrCreateResponse:
        state, env = self.fake.state, self.fake.env_name(req.environment_name)
        kind = req.object_creation_type
        existing = state.volume_named(req.deployment_name, env) if req.deployment_name else None
        if kind in ANONYMOUS:
            vol = self._create("", env, req.version)
        elif existing and kind == FAIL_IF_EXISTS:
            raise GRPCError(Status.ALREADY_EXISTS, f"Volume '{req.deployment_name}' already exists")
        elif existing:
            vol = existing
        elif kind in (CREATE_IF_MISSING, FAIL_IF_EXISTS):
            vol = self._create(req.deployment_name, env, req.version)
        else:
            raise GRPCError(Status.NOT_FOUND, f"Volume '{req.deployment_name}' not found")
        return api_pb2.VolumeGetOrCreateResponse(
            volume_id=vol.volume_id,
            version=vol.version,  # type: ignore[arg-type]
            metadata=volume_metadata(vol),
        )

    def _create(self, name: str, env: str, requested: int) -> VolumeRecord:
        state = self.fake.state
        version = requested or state.volume_versions.get(name) or state.default_volume_version
        vol = VolumeRecord(new_id("vo"), name, env, version, time.time())
        state.volumes[vol.volume_id] = vol
        self.fake.storage.volume_root(vol.volume_id)
        state.touch()
        return vol

    async def VolumeGetById(
        self, req: api_pb2.VolumeGetByIdRequest, ctx: CallContext
    ) -> api_pb2.VolumeGetByIdResponse:
        vol = self._volume(req.volume_id)
        return api_pb2.VolumeGetByIdResponse(volume_id=vol.volume_id, metadata=volume_metadata(vol))

    async def VolumeList(
        self, req: api_pb2.VolumeListRequest, ctx: CallContext
    ) -> api_pb2.VolumeListResponse:
        env = self.fake.env_name(req.environment_name)
        rows = list_page(self.fake.state.volumes.values(), env, req.pagination)
        items = [
            api_pb2.VolumeListItem(
                label=v.name,
                volume_id=v.volume_id,
                created_at=v.created_at,
                metadata=volume_metadata(v),
            )
            for v in rows
        ]
        return api_pb2.VolumeListResponse(items=items, environment_name=env)

    async def VolumeDelete(self, req: api_pb2.VolumeDeleteRequest, ctx: CallContext) -> Empty:
        self._volume(req.volume_id)
        del self.fake.state.volumes[req.volume_id]
        self.fake.storage.delete_volume(req.volume_id)
        self.fake.state.touch()
        return Empty()

    async def VolumeRename(self, req: api_pb2.VolumeRenameRequest, ctx: CallContext) -> Empty:
        vol = self._volume(req.volume_id)
        if self.fake.state.volume_named(req.name, vol.environment):
            raise GRPCError(Status.ALREADY_EXISTS, f"Volume '{req.name}' already exists")
        vol.name = req.name
        self.fake.state.touch()
        return Empty()

    async def VolumeHeartbeat(self, req: api_pb2.VolumeHeartbeatRequest, ctx: CallContext) -> Empty:
        return Empty()

    async def VolumeCommit(
        self, req: api_pb2.VolumeCommitRequest, ctx: CallContext
    ) -> api_pb2.VolumeCommitResponse:
        self._volume(req.volume_id)  # writes go straight to the directory: nothing to do
        return api_pb2.VolumeCommitResponse(skip_reload=False)

    async def VolumeReload(self, req: api_pb2.VolumeReloadRequest, ctx: CallContext) -> Empty:
        self._volume(req.volume_id)
        return Empty()

    def _volume(self, volume_id: str) -> VolumeRecord:
        vol = self.fake.state.volumes.get(volume_id)
        if vol is None:
            raise GRPCError(Status.NOT_FOUND, f"Volume {volume_id!r} not found")
        return vol

    def _path(self, volume_id: str, path: str) -> Path:
        self._volume(volume_id)
        try:
            return self.fake.storage.resolve(volume_id, path)
        except StorageError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from exc

    # ---- listing ----------------------------------------------------------------------------
    async def VolumeListFiles(
        self, req: api_pb2.VolumeListFilesRequest, ctx: CallContext
    ) -> AsyncIterator[api_pb2.VolumeListFilesResponse]:
        for chunk in self._list(req.volume_id, req.path, req.recursive, req.max_entries):
            yield api_pb2.VolumeListFilesResponse(entries=chunk)

    async def VolumeListFiles2(
        self, req: api_pb2.VolumeListFiles2Request, ctx: CallContext
    ) -> AsyncIterator[api_pb2.VolumeListFiles2Response]:
        for chunk in self._list(req.volume_id, req.path, req.recursive, req.max_entries):
            yield api_pb2.VolumeListFiles2Response(entries=chunk)

    def _list(
        self, volume_id: str, path: str, recursive: bool, limit: int
    ) -> list[list[api_pb2.FileEntry]]:
        target = self._path(volume_id, path)
        root = self.fake.storage.volume_root(volume_id)
        if not target.exists():
            raise GRPCError(Status.NOT_FOUND, f"No such file or directory: {path}")
        if target.is_dir():
            found = sorted(target.rglob("*") if recursive else target.iterdir())
        else:
            found = [target]
        entries = [_entry(p, root) for p in found if not p.name.startswith(".upload-")]
        if limit:
            entries = entries[:limit]
        return [entries[i : i + 100] for i in range(0, len(entries), 100)] or [[]]

    # ---- reading ----------------------------------------------------------------------------
    async def VolumeGetFile2(
        self, req: api_pb2.VolumeGetFile2Request, ctx: CallContext
    ) -> api_pb2.VolumeGetFile2Response:
        target = self._path(req.volume_id, req.path)
        if not target.is_file():
            raise GRPCError(Status.NOT_FOUND, f"No such file: {req.path}")
        # Serve a snapshot, as Modal does (blocks are immutable): a writer replacing the file
        # between this call and the block GETs must not produce a torn read.
        sha = self.fake.storage.put_content(target.read_bytes())
        size = len(self.fake.storage.read_content(sha))
        start = min(req.start, size)
        end = min(size, start + req.len) if req.len else size
        urls, pos = [], start
        while pos < end:
            block_end = min(end, (pos // BLOCK_SIZE + 1) * BLOCK_SIZE)
            query = urllib.parse.urlencode(
                {"volume_id": req.volume_id, "sha256": sha, "start": pos, "len": block_end - pos}
            )
            urls.append(f"{self.fake.http_url}/volume/read?{query}")
            pos = block_end
        return api_pb2.VolumeGetFile2Response(
            get_urls=urls, size=size, start=start, len=end - start
        )

    async def VolumeGetFile(
        self, req: api_pb2.VolumeGetFileRequest, ctx: CallContext
    ) -> api_pb2.VolumeGetFileResponse:
        target = self._path(req.volume_id, req.path)
        if not target.is_file():
            raise GRPCError(Status.NOT_FOUND, f"No such file: {req.path}")
        data = target.read_bytes()
        end = req.start + req.len if req.len else len(data)
        return api_pb2.VolumeGetFileResponse(
            data=data[req.start : end], size=len(data), start=req.start, len=end - req.start
        )

    # ---- writing ----------------------------------------------------------------------------
    async def VolumePutFiles(self, req: api_pb2.VolumePutFilesRequest, ctx: CallContext) -> Empty:
        store = self.fake.storage
        self._check_overwrite(
            req.volume_id, [f.filename for f in req.files], req.disallow_overwrite_existing_files
        )
        for f in req.files:
            if not store.has_content(f.sha256_hex):
                raise GRPCError(Status.FAILED_PRECONDITION, f"{f.filename}: content not uploaded")
        for f in req.files:
            data = store.read_content(f.sha256_hex)
            self._write(req.volume_id, f.filename, [data], f.mode)
            store.uploads.attribute(self._name(req.volume_id), f.filename, [f.sha256_hex])
        return Empty()

    async def VolumePutFiles2(
        self, req: api_pb2.VolumePutFiles2Request, ctx: CallContext
    ) -> api_pb2.VolumePutFiles2Response:
        store = self.fake.storage
        self._check_overwrite(
            req.volume_id, [f.path for f in req.files], req.disallow_overwrite_existing_files
        )
        missing = []
        for file_index, f in enumerate(req.files):
            for block_index, block in enumerate(f.blocks):
                if not store.has_block(block.contents_sha256.hex()):
                    url = f"{self.fake.http_url}/block/{block.contents_sha256.hex()}"
                    missing.append(
                        MissingBlock(file_index=file_index, block_index=block_index, put_url=url)
                    )
        if missing:
            return api_pb2.VolumePutFiles2Response(missing_blocks=missing)
        for f in req.files:
            chunks = []
            for i, block in enumerate(f.blocks):
                expected = min(BLOCK_SIZE, f.size - i * BLOCK_SIZE)
                chunks.append(store.read_block(block.contents_sha256.hex()).ljust(expected, b"\0"))
            self._write(req.volume_id, f.path, chunks, f.mode)
            shas = [b.contents_sha256.hex() for b in f.blocks]
            store.uploads.attribute(self._name(req.volume_id), f.path, shas)
        return api_pb2.VolumePutFiles2Response()

    def _check_overwrite(self, volume_id: str, paths: list[str], disallow: bool) -> None:
        for path in paths:
            target = self._path(volume_id, path)
            if target.is_dir() or (disallow and target.exists()):
                raise GRPCError(
                    Status.ALREADY_EXISTS,
                    f"{path}: already exists (disallow_overwrite_existing_files={disallow})",
                )

    def _write(self, volume_id: str, path: str, chunks: list[bytes], mode: int) -> None:
        try:
            self.fake.storage.write_file(volume_id, path, chunks, mode)
        except StorageError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from exc

    def _name(self, volume_id: str) -> str:
        return self._volume(volume_id).name or volume_id

    async def VolumeRemoveFile(
        self, req: api_pb2.VolumeRemoveFileRequest, ctx: CallContext
    ) -> Empty:
        return self._remove(req.volume_id, req.path, req.recursive)

    async def VolumeRemoveFile2(
        self, req: api_pb2.VolumeRemoveFile2Request, ctx: CallContext
    ) -> Empty:
        return self._remove(req.volume_id, req.path, req.recursive)

    def _remove(self, volume_id: str, path: str, recursive: bool) -> Empty:
        self._volume(volume_id)
        try:
            self.fake.storage.remove(volume_id, path, recursive)
        except FileNotFoundError as exc:
            raise GRPCError(Status.NOT_FOUND, f"No such file or directory: {path}") from exc
        except StorageError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from exc
        return Empty()

    async def VolumeCopyFiles(self, req: api_pb2.VolumeCopyFilesRequest, ctx: CallContext) -> Empty:
        return self._copy(req)

    async def VolumeCopyFiles2(
        self, req: api_pb2.VolumeCopyFiles2Request, ctx: CallContext
    ) -> Empty:
        return self._copy(req)

    def _copy(self, req: Any) -> Empty:
        dst = self._path(req.volume_id, req.dst_path)
        into_dir = dst.is_dir() or len(req.src_paths) > 1 or req.dst_path.endswith("/")
        for src_path in req.src_paths:
            src = self._path(req.volume_id, src_path)
            if not src.exists():
                raise GRPCError(Status.NOT_FOUND, f"Source file not found: {src_path}")
            if src.is_dir() and not req.recursive:
                raise GRPCError(Status.INVALID_ARGUMENT, f"{src_path} is a directory")
            target = dst / src.name if into_dir else dst
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_tree(src, target)
        return Empty()


def volume_metadata(vol: VolumeRecord) -> api_pb2.VolumeMetadata:
    info = api_pb2.CreationInfo(created_at=vol.created_at, created_by="modal-fake")
    return api_pb2.VolumeMetadata(version=vol.version, name=vol.name, creation_info=info)  # type: ignore[arg-type]


def _entry(path: Path, root: Path) -> api_pb2.FileEntry:
    st = path.stat()
    kind = DIRECTORY if path.is_dir() else FILE
    return api_pb2.FileEntry(
        path=path.relative_to(root).as_posix(),
        type=kind,
        mtime=int(st.st_mtime),
        size=0 if kind == DIRECTORY else st.st_size,
    )


def _copy_tree(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copyfile(src, dst)
