"""The fake's HTTP side: blob and block transfers (S3's role) and the control API for tests.

Transfers::

    PUT /blob/<bl-id>[?sha256=..]   body stored; ETag = md5 (the client checks it)
    GET /blob/<bl-id>               blob bytes (BlobGet download URL)
    PUT /block/<sha256>             a v2 volume block; answers a put_response the client echoes
    GET /volume/read?volume_id=&sha256=&start=&len=  one block of a file snapshot (VolumeGetFile2 URLs)

Control (JSON; see README.md and client.py)::

    GET  /control/calls            every RPC received, in order
    POST /control/reset_calls
    GET  /control/uploads          bytes received by uploads
    POST /control/unavailable      {"seconds": s}: every RPC answers UNAVAILABLE for s seconds
    POST /control/fail_next        {"count": n, "status": "UNAVAILABLE"}: the next n RPCs fail so
    POST /control/image_build      {"delay_s": s, "fail": null | "message"}
    POST /control/delay_rpc        {"method": "FunctionMap", "seconds": s}: hold the next call of that
                                   RPC for s seconds after it was received (a window to interrupt in)
    POST /control/billing_rates    {"gpu.h100": "0.001097", ...} (what `modal billing rates` answers)
    POST /control/kill_container   {"target": fc-/ap-/ta- id or app name}
    GET  /control/volume_dir?name= host directory of a volume's files
    POST /control/volume_version   {"name": name | "default", "version": 1 | 2}
    GET  /control/state            apps, calls, inputs and tasks (for assertions and debugging)
    GET  /control/served           the RPCs the fake serves (the others answer UNIMPLEMENTED)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from grpclib import Status

from .storage import StorageError

if TYPE_CHECKING:
    from .context import Fake

_CHUNK = 1024 * 1024


async def _receive(request: web.Request, directory: Path) -> tuple[Path, str, str, int]:
    """Stream a request body to a temp file; return (path, md5, sha256, size)."""
    md5, sha, size = hashlib.md5(), hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    with os.fdopen(fd, "wb") as f:
        async for chunk in request.content.iter_chunked(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
            f.write(chunk)
    return Path(tmp), md5.hexdigest(), sha.hexdigest(), size


def _checked(to_path: Callable[[str], Path], name: str) -> Path:
    try:
        return to_path(name)
    except StorageError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


class HttpApi:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**3)
        app.add_routes(
            [
                web.put("/blob/{blob_id}", self.put_blob),
                web.get("/blob/{blob_id}", self.get_blob),
                web.put("/block/{sha256}", self.put_block),
                web.get("/volume/read", self.read_volume),
                web.get("/control/calls", self.calls),
                web.post("/control/reset_calls", self.reset_calls),
                web.get("/control/uploads", self.uploads),
                web.post("/control/unavailable", self.unavailable),
                web.post("/control/fail_next", self.fail_next),
                web.post("/control/image_build", self.image_build),
                web.post("/control/delay_rpc", self.delay_rpc),
                web.post("/control/billing_rates", self.set_billing_rates),
                web.post("/control/kill_container", self.kill_container),
                web.get("/control/volume_dir", self.volume_dir),
                web.post("/control/volume_version", self.volume_version),
                web.get("/control/state", self.state),
                web.get("/control/served", self.served),
            ]
        )
        return app

    # ---- transfers --------------------------------------------------------------------------
    async def put_blob(self, request: web.Request) -> web.Response:
        store = self.fake.storage
        target = _checked(store.blob_path, request.match_info["blob_id"])
        tmp, md5, sha, size = await _receive(request, target.parent)
        expected = request.query.get("sha256")
        if expected and expected != sha:
            tmp.unlink()
            return web.Response(status=400, text=f"sha256 mismatch: {sha} != {expected}")
        os.replace(tmp, target)
        store.uploads.received("blob", sha, size)
        return web.Response(status=200, headers={"ETag": f'"{md5}"'})

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        path = _checked(self.fake.storage.blob_path, request.match_info["blob_id"])
        if not path.exists():
            return web.Response(status=404, text="no such blob")
        return web.FileResponse(path)

    async def put_block(self, request: web.Request) -> web.Response:
        store = self.fake.storage
        want = request.match_info["sha256"]
        target = _checked(store.block_path, want)
        tmp, _, sha, size = await _receive(request, target.parent)
        if sha != want:
            tmp.unlink()
            return web.Response(status=400, text=f"block sha256 mismatch: {sha} != {want}")
        os.replace(tmp, target)
        store.uploads.received("block", sha, size)
        return web.Response(status=200, body=f"modal-fake-put:{sha}".encode())

    async def read_volume(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("volume_id") not in self.fake.state.volumes:
            return web.Response(status=404, text="no such volume")
        try:
            sha, start, length = q["sha256"], int(q["start"]), int(q["len"])
        except (KeyError, ValueError) as exc:
            return web.Response(status=400, text=f"bad read request: {exc!r}")
        if not self.fake.storage.has_content(sha):
            return web.Response(status=404, text="no such content")
        data = self.fake.storage.read_content(sha)[start : start + length]
        return web.Response(body=data, content_type="application/octet-stream")

    # ---- control ----------------------------------------------------------------------------
    async def calls(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": self.fake.recorder.calls})

    async def reset_calls(self, request: web.Request) -> web.Response:
        self.fake.recorder.reset()
        return web.json_response({"ok": True})

    async def uploads(self, request: web.Request) -> web.Response:
        return web.json_response(self.fake.storage.uploads.summary())

    async def unavailable(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fake.faults.unavailable_until = time.time() + float(body["seconds"])
        return web.json_response({"until": self.fake.faults.unavailable_until})

    async def fail_next(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            status = Status[str(body.get("status", "UNAVAILABLE"))]
        except KeyError:
            return web.json_response(
                {"error": f"no gRPC status {body.get('status')!r}"}, status=400
            )
        self.fake.faults.fail_next, self.fake.faults.fail_status = int(body["count"]), status
        return web.json_response({"count": self.fake.faults.fail_next, "status": status.name})

    async def set_billing_rates(self, request: web.Request) -> web.Response:
        self.fake.billing_rates = {str(k): str(v) for k, v in (await request.json()).items()}
        return web.json_response(self.fake.billing_rates)

    async def delay_rpc(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fake.faults.delays[str(body["method"])] = float(body["seconds"])
        return web.json_response({"delays": self.fake.faults.delays})

    async def image_build(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fake.image_build.delay_s = float(body.get("delay_s", 0.0))
        self.fake.image_build.fail = body.get("fail")
        return web.json_response(dataclasses.asdict(self.fake.image_build))

    async def kill_container(self, request: web.Request) -> web.Response:
        body = await request.json()
        killed = self.fake.runner.kill(str(body["target"]), reason="killed")
        return web.json_response({"killed": killed})

    async def volume_dir(self, request: web.Request) -> web.Response:
        name = request.query.get("name", "")
        vol = self.fake.state.volume_named(name) or self.fake.state.volumes.get(name)
        if vol is None:
            return web.json_response({"error": f"no volume named {name!r}"}, status=404)
        return web.json_response({"path": str(self.fake.storage.volume_root(vol.volume_id))})

    async def volume_version(self, request: web.Request) -> web.Response:
        body = await request.json()
        name, version = body.get("name") or "default", int(body["version"])
        if version not in (1, 2):
            return web.json_response({"error": "version must be 1 or 2"}, status=400)
        state = self.fake.state
        if name == "default":
            state.default_volume_version = version
        else:
            state.volume_versions[name] = version
            vol = state.volume_named(name)
            if vol is not None:
                vol.version = version
        state.touch()
        return web.json_response({"name": name, "version": version})

    async def served(self, request: web.Request) -> web.Response:
        return web.json_response({"served": self.fake.served})

    async def state(self, request: web.Request) -> web.Response:
        state = self.fake.state

        def rows(table: dict[str, Any], drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
            out = []
            for rec in table.values():
                d = dataclasses.asdict(rec)
                for key in drop:
                    d.pop(key, None)
                out.append(d)
            return out

        return web.json_response(
            {
                "apps": rows(state.apps),
                "calls": rows(state.calls),
                "inputs": rows(state.inputs, ("payload", "output")),
                "tasks": rows(state.tasks, ("token",)),
                "volumes": rows(state.volumes),
                "secrets": [
                    {"name": s.name, "keys": sorted(s.env)} for s in state.secrets.values()
                ],
            }
        )
