"""Environment, secrets, images, mounts and blobs: the objects an app is built from."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shlex
import sys
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from .ids import new_id
from .router import CallContext
from .state import MountRecord, SecretRecord

if TYPE_CHECKING:
    from .context import Fake

IMAGE_BUILDER_VERSION = "2026.10"
CREATE_IF_MISSING = api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING
FAIL_IF_EXISTS = api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS
OVERWRITE = api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS
ANONYMOUS = (
    api_pb2.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP,
    api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL,
)
SUCCESS = api_pb2.GenericResult.GENERIC_STATUS_SUCCESS
FAILURE = api_pb2.GenericResult.GENERIC_STATUS_FAILURE


def _now_pb(ts: float | None = None) -> api_pb2.CreationInfo:
    return api_pb2.CreationInfo(created_at=ts or time.time(), created_by="modal-fake")


def list_page(records: Iterable[Any], env: str, pagination: Any) -> list[Any]:
    """Named records of `env`, newest first, paged as Modal's List calls are (ListPagination)."""
    before = pagination.created_before or float("inf")
    rows = sorted(
        (r for r in records if r.name and r.environment == env and r.created_at < before),
        key=lambda r: r.created_at,
        reverse=True,
    )
    return rows[: pagination.max_objects] if pagination.max_objects else rows


class ObjectService:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    # ---- client / environment ---------------------------------------------------------------
    async def ClientHello(self, req: Empty, ctx: CallContext) -> api_pb2.ClientHelloResponse:
        return api_pb2.ClientHelloResponse(image_builder_version=IMAGE_BUILDER_VERSION)

    async def EnvironmentGetOrCreate(
        self, req: api_pb2.EnvironmentGetOrCreateRequest, ctx: CallContext
    ) -> api_pb2.EnvironmentGetOrCreateResponse:
        name = self.fake.env_name(req.deployment_name)
        settings = api_pb2.EnvironmentSettings(image_builder_version=IMAGE_BUILDER_VERSION)
        return api_pb2.EnvironmentGetOrCreateResponse(
            environment_id="en-" + hashlib.sha256(name.encode()).hexdigest()[:22],
            metadata=api_pb2.EnvironmentMetadata(name=name, settings=settings),
        )

    # ---- secrets ----------------------------------------------------------------------------
    async def SecretGetOrCreate(
        self, req: api_pb2.SecretGetOrCreateRequest, ctx: CallContext
    ) -> api_pb2.SecretGetOrCreateResponse:
        state, env = self.fake.state, self.fake.env_name(req.environment_name)
        kind = req.object_creation_type
        existing = state.secret_named(req.deployment_name, env) if req.deployment_name else None
        if kind in ANONYMOUS:
            secret = self._new_secret("", env, dict(req.env_dict))
        elif existing and kind == FAIL_IF_EXISTS:
            raise GRPCError(Status.ALREADY_EXISTS, f"Secret '{req.deployment_name}' already exists")
        elif existing and kind == OVERWRITE:
            existing.env = dict(req.env_dict)
            secret = existing
        elif existing:
            secret = existing
        elif kind in (CREATE_IF_MISSING, FAIL_IF_EXISTS, OVERWRITE):
            secret = self._new_secret(req.deployment_name, env, dict(req.env_dict))
        else:
            raise GRPCError(Status.NOT_FOUND, f"Secret '{req.deployment_name}' not found")
        missing = [k for k in req.required_keys if k not in secret.env]
        if missing:
            raise GRPCError(
                Status.NOT_FOUND, f"Secret is missing key(s): {', '.join(sorted(missing))}"
            )
        state.touch()
        return api_pb2.SecretGetOrCreateResponse(
            secret_id=secret.secret_id, metadata=self._secret_metadata(secret)
        )

    def _new_secret(self, name: str, env: str, values: dict[str, str]) -> SecretRecord:
        secret = SecretRecord(new_id("st"), name, env, values, time.time())
        self.fake.state.secrets[secret.secret_id] = secret
        return secret

    @staticmethod
    def _secret_metadata(secret: SecretRecord) -> api_pb2.SecretMetadata:
        return api_pb2.SecretMetadata(
            name=secret.name,
            creation_info=_now_pb(secret.created_at),
            keys=sorted(secret.env),
            environment_name=secret.environment,
        )

    # ---- workspace ------------------------------------------------------------------------
    async def WorkspaceNameLookup(
        self, req: Empty, ctx: CallContext
    ) -> api_pb2.WorkspaceNameLookupResponse:
        return api_pb2.WorkspaceNameLookupResponse(
            workspace_name="fake-workspace", username="fake-user"
        )

    async def WorkspaceBillingRates(
        self, req: api_pb2.WorkspaceBillingRatesRequest, ctx: CallContext
    ) -> api_pb2.WorkspaceBillingRatesResponse:
        """Per-second rates, as `modal billing rates` reports a workspace's own price list."""
        rates = dict(self.fake.billing_rates)
        lines = [f"{k}: ${v}/s" for k, v in sorted(rates.items())]
        return api_pb2.WorkspaceBillingRatesResponse(rates=rates, formatted="\n".join(lines))

    async def SecretList(
        self, req: api_pb2.SecretListRequest, ctx: CallContext
    ) -> api_pb2.SecretListResponse:
        env = self.fake.env_name(req.environment_name)
        rows = list_page(self.fake.state.secrets.values(), env, req.pagination)
        items = [
            api_pb2.SecretListItem(
                label=s.name,
                created_at=s.created_at,
                environment_name=s.environment,
                secret_id=s.secret_id,
                metadata=self._secret_metadata(s),
            )
            for s in rows
        ]
        return api_pb2.SecretListResponse(items=items, environment_name=env)

    async def SecretGetInfo(
        self, req: api_pb2.SecretGetInfoRequest, ctx: CallContext
    ) -> api_pb2.SecretGetInfoResponse:
        secret = self._secret(req.secret_id)
        return api_pb2.SecretGetInfoResponse(metadata=self._secret_metadata(secret))

    async def SecretDelete(self, req: api_pb2.SecretDeleteRequest, ctx: CallContext) -> Empty:
        self._secret(req.secret_id)
        del self.fake.state.secrets[req.secret_id]
        self.fake.state.touch()
        return Empty()

    def _secret(self, secret_id: str) -> SecretRecord:
        secret = self.fake.state.secrets.get(secret_id)
        if secret is None:
            raise GRPCError(Status.NOT_FOUND, f"Secret {secret_id!r} not found")
        return secret

    # ---- images -----------------------------------------------------------------------------
    async def ImageGetOrCreate(
        self, req: api_pb2.ImageGetOrCreateRequest, ctx: CallContext
    ) -> api_pb2.ImageGetOrCreateResponse:
        key = hashlib.sha256(req.image.SerializeToString(deterministic=True)).hexdigest()
        state = self.fake.state
        image_id = state.images.setdefault(key, new_id("im"))
        env: dict[str, str] = {}
        for base in req.image.base_images:
            env.update(state.image_env.get(base.image_id, {}))
        state.image_env[image_id] = env | _dockerfile_env(req.image.dockerfile_commands)
        state.image_commands[image_id] = list(req.image.dockerfile_commands)
        state.touch()
        build = self.fake.image_build
        if build.delay_s or build.fail:
            return api_pb2.ImageGetOrCreateResponse(image_id=image_id)  # "building": client joins
        return api_pb2.ImageGetOrCreateResponse(
            image_id=image_id,
            result=api_pb2.GenericResult(status=SUCCESS),
            metadata=_image_metadata(req.builder_version),
        )

    async def ImageJoinStreaming(
        self, req: api_pb2.ImageJoinStreamingRequest, ctx: CallContext
    ) -> AsyncIterator[api_pb2.ImageJoinStreamingResponse]:
        build = self.fake.image_build
        log = api_pb2.TaskLogs(
            data="modal_fake: building image\n", file_descriptor=api_pb2.FILE_DESCRIPTOR_INFO
        )
        yield api_pb2.ImageJoinStreamingResponse(task_logs=[log], entry_id="1")
        await asyncio.sleep(build.delay_s)
        if build.fail:
            result = api_pb2.GenericResult(status=FAILURE, exception=build.fail)
        else:
            result = api_pb2.GenericResult(status=SUCCESS)
        yield api_pb2.ImageJoinStreamingResponse(
            result=result, entry_id="2", eof=True, metadata=_image_metadata(IMAGE_BUILDER_VERSION)
        )

    async def ImageFromId(
        self, req: api_pb2.ImageFromIdRequest, ctx: CallContext
    ) -> api_pb2.ImageFromIdResponse:
        if req.image_id not in self.fake.state.images.values():
            raise GRPCError(Status.NOT_FOUND, f"Image {req.image_id} not found")
        return api_pb2.ImageFromIdResponse(
            image_id=req.image_id, metadata=_image_metadata(IMAGE_BUILDER_VERSION)
        )

    # ---- mounts -----------------------------------------------------------------------------
    async def MountBatchedCheckExistence(
        self, req: api_pb2.MountBatchedCheckExistenceRequest, ctx: CallContext
    ) -> api_pb2.MountBatchedCheckExistenceResponse:
        store = self.fake.storage
        missing = [h for h in req.sha256_hex_hashes if not store.has_content(h)]
        return api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing)

    async def MountPutFile(
        self, req: api_pb2.MountPutFileRequest, ctx: CallContext
    ) -> api_pb2.MountPutFileResponse:
        store = self.fake.storage
        which = req.WhichOneof("data_oneof")
        if which == "data":
            data, kind = req.data, "inline"
        elif which == "data_blob_id":
            blob = store.blob_path(req.data_blob_id)
            if not blob.exists():
                raise GRPCError(Status.NOT_FOUND, f"Blob {req.data_blob_id} not found")
            data, kind = blob.read_bytes(), ""
        else:
            return api_pb2.MountPutFileResponse(exists=store.has_content(req.sha256_hex))
        if hashlib.sha256(data).hexdigest() != req.sha256_hex:
            raise GRPCError(Status.INVALID_ARGUMENT, f"sha256 mismatch for {req.sha256_hex}")
        store.put_content(data)
        if kind:
            store.uploads.received(kind, req.sha256_hex, len(data))
        return api_pb2.MountPutFileResponse(exists=True)

    async def MountGetOrCreate(
        self, req: api_pb2.MountGetOrCreateRequest, ctx: CallContext
    ) -> api_pb2.MountGetOrCreateResponse:
        # A named lookup can only be the client package mount; containers run on the host's
        # Python, which has modal installed, so an empty mount stands in for it.
        client_mount = req.deployment_name.startswith("modal-client-mount")
        if req.object_creation_type not in ANONYMOUS and not client_mount:
            raise GRPCError(Status.NOT_FOUND, f"Mount {req.deployment_name!r} not found")
        missing = [f.filename for f in req.files if not self.fake.storage.has_content(f.sha256_hex)]
        if missing:
            raise GRPCError(Status.FAILED_PRECONDITION, f"mount files not uploaded: {missing[:5]}")
        files = {f.filename: [f.sha256_hex, f.mode] for f in req.files}
        digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()
        mount = MountRecord(new_id("mo"), files)
        self.fake.state.mounts[mount.mount_id] = mount
        self.fake.state.touch()
        return api_pb2.MountGetOrCreateResponse(
            mount_id=mount.mount_id,
            handle_metadata=api_pb2.MountHandleMetadata(content_checksum_sha256_hex=digest),
        )

    # ---- blobs ------------------------------------------------------------------------------
    async def BlobCreate(
        self, req: api_pb2.BlobCreateRequest, ctx: CallContext
    ) -> api_pb2.BlobCreateResponse:
        blob_id = new_id("bl")
        sha = base64.b64decode(req.content_sha256_base64).hex() if req.content_sha256_base64 else ""
        url = f"{self.fake.http_url}/blob/{blob_id}?sha256={sha}"
        return api_pb2.BlobCreateResponse(
            blob_ids=[blob_id], upload_urls=api_pb2.UploadUrlList(items=[url])
        )

    async def BlobGet(
        self, req: api_pb2.BlobGetRequest, ctx: CallContext
    ) -> api_pb2.BlobGetResponse:
        if not self.fake.storage.blob_path(req.blob_id).exists():
            raise GRPCError(Status.NOT_FOUND, f"Blob {req.blob_id} not found")
        return api_pb2.BlobGetResponse(download_url=f"{self.fake.http_url}/blob/{req.blob_id}")


def _dockerfile_env(commands: Iterable[str]) -> dict[str, str]:
    """``ENV K=V`` lines (as ``Image.env()`` writes them); values that expand ``$`` are skipped."""
    env = {}
    for command in commands:
        if not command.startswith("ENV "):
            continue
        for pair in shlex.split(command[4:]):
            key, sep, value = pair.partition("=")
            if sep and "$" not in value:
                env[key] = value
    return env


def _image_metadata(builder_version: str) -> api_pb2.ImageMetadata:
    v = sys.version_info
    return api_pb2.ImageMetadata(
        python_version_info=f"{v.major}.{v.minor}.{v.micro}",
        image_builder_version=builder_version or IMAGE_BUILDER_VERSION,
    )
