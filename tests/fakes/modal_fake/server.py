"""Start the gRPC and HTTP servers of the fake and run them until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys

from aiohttp import web
from grpclib.server import Server

from .apps import AppService
from .container import ContainerService
from .context import Fake, Settings
from .functions import FunctionService
from .http_api import HttpApi
from .logs import LogService
from .objects import ObjectService
from .router import Router
from .runner import Runner
from .volumes import VolumeService


def build_router(fake: Fake) -> Router:
    services = [
        AppService(fake),
        ContainerService(fake),
        FunctionService(fake),
        LogService(fake),
        ObjectService(fake),
        VolumeService(fake),
    ]

    def task_lookup(token: str) -> str | None:
        task = fake.state.task_by_token(token) if token else None
        return task.task_id if task else None

    token = (fake.settings.token_id, fake.settings.token_secret)
    return Router(services, fake.recorder, fake.faults, token, task_lookup)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; print the READY line once both servers listen."""
    fake = Fake(settings)
    fake.runner = Runner(fake, settings.max_containers)

    grpc_sock, http_sock = (
        _listen(settings.host, settings.grpc_port),
        _listen(settings.host, settings.http_port),
    )
    fake.grpc_url = f"http://{settings.host}:{grpc_sock.getsockname()[1]}"
    fake.http_url = f"http://{settings.host}:{http_sock.getsockname()[1]}"

    router = build_router(fake)
    fake.served = router.served
    grpc = Server([router])
    await grpc.start(sock=grpc_sock)
    runner = web.AppRunner(HttpApi(fake).app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, http_sock).start()
    scheduler = asyncio.create_task(fake.runner.run())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY grpc={fake.grpc_url} http={fake.http_url}", flush=True)

    await stop.wait()
    scheduler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await scheduler
    await fake.runner.shutdown()
    fake.state.save()
    grpc.close()
    with contextlib.suppress(TimeoutError):  # long-polls in flight would hold it up to 55 s
        await asyncio.wait_for(grpc.wait_closed(), 1.0)
    await runner.cleanup()
    print("modal_fake: stopped", file=sys.stderr, flush=True)
