"""Generic gRPC routing over every RPC the pinned client knows.

``modal_proto.api_grpc.ModalClientBase.__mapping__`` lists each RPC path with its request and
response types. The router builds a grpclib handler for every one of them: a call reaches the
service method of the same name when one exists, and answers ``UNIMPLEMENTED`` otherwise. Every
call is recorded, auth is checked, and the fault switches apply before any handler runs.

Service methods take ``(request, ctx)``. Unary methods return the response message;
server-streaming methods are async generators of response messages.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpclib.const
from grpclib import GRPCError, Status
from grpclib.exceptions import ProtocolError, StreamTerminatedError
from grpclib.server import Stream
from modal_proto import api_grpc, api_pb2

CLIENT_TYPE_CONTAINER = str(api_pb2.CLIENT_TYPE_CONTAINER)
TASK_TOKEN_HEADER = "x-modal-fake-task-token"


@dataclass
class CallContext:
    """What a handler may need to know about the caller."""

    method: str
    metadata: dict[str, str]
    task_id: str = ""  # set for calls made from a container the fake started


@dataclass
class Faults:
    """Switches the control API flips to make the fake misbehave on purpose."""

    unavailable_until: float = 0.0
    fail_next: int = 0  # the next N calls answer fail_status
    fail_status: Status = Status.UNAVAILABLE
    delays: dict[str, float] = field(
        default_factory=dict
    )  # RPC name -> seconds held before answering


@dataclass
class Recorder:
    """The ordered log of every RPC the fake received."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(entry)
        return entry

    def reset(self) -> None:
        self.calls.clear()


class _NameOf:
    """Stands in for a servicer while reading ``__mapping__``: each attribute is its own name."""

    def __getattr__(self, name: str) -> str:
        return name


def rpc_table() -> dict[str, grpclib.const.Handler]:
    """Path -> Handler whose ``func`` is the RPC's method name."""
    return api_grpc.ModalClientBase.__mapping__(_NameOf())  # type: ignore[arg-type]


class Router:
    """A grpclib handler object (``__mapping__``) that routes every RPC of the pinned client."""

    def __init__(
        self,
        services: list[object],
        recorder: Recorder,
        faults: Faults,
        token: tuple[str, str],
        task_lookup: Callable[[str], str | None],
    ) -> None:
        self._impls: dict[str, Callable[..., Any]] = {}
        for service in services:
            for name, member in inspect.getmembers(service, callable):
                if name[:1].isupper():
                    self._impls[name] = member
        self._recorder = recorder
        self._faults = faults
        self._token = token
        self._task_lookup = task_lookup
        self._table = rpc_table()
        unknown = set(self._impls) - {h.func for h in self._table.values()}
        if unknown:
            raise RuntimeError(f"handlers for RPCs this client does not have: {sorted(unknown)}")

    @property
    def served(self) -> list[str]:
        return sorted(self._impls)

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        mapping = {}
        for path, spec in self._table.items():
            name = spec.func
            handler = self._make_handler(name, spec.cardinality)
            mapping[path] = grpclib.const.Handler(
                handler, spec.cardinality, spec.request_type, spec.reply_type
            )
        return mapping

    def _make_handler(self, name: str, cardinality: grpclib.const.Cardinality) -> Any:
        async def handle(stream: Stream[Any, Any]) -> None:
            metadata = {k: str(v) for k, v in (stream.metadata or {}).items()}
            entry = self._recorder.add(
                {
                    "method": name,
                    "t": time.time(),
                    "client_type": metadata.get("x-modal-client-type", ""),
                    "unimplemented": name not in self._impls,
                    "status": "OK",
                }
            )
            try:
                ctx = self._admit(name, metadata)
                impl = self._impls.get(name)
                if impl is None:
                    raise GRPCError(Status.UNIMPLEMENTED, f"modal_fake does not serve {name}")
                request = await stream.recv_message()
                delay = self._faults.delays.pop(name, 0.0)
                if delay:
                    entry["held_s"] = delay
                    await asyncio.sleep(delay)
                if cardinality is grpclib.const.Cardinality.UNARY_UNARY:
                    await stream.send_message(await impl(request, ctx))
                else:
                    async for message in impl(request, ctx):
                        await stream.send_message(message)
            except GRPCError as exc:
                entry["status"] = exc.status.name
                raise
            except asyncio.CancelledError:
                entry["status"] = "CANCELLED"
                raise
            except (StreamTerminatedError, ProtocolError, ConnectionError):
                entry["status"] = "CLIENT_GONE"  # the caller hung up (e.g. killed mid long-poll)
                raise
            except Exception as exc:
                # A bug in the fake. INTERNAL/UNKNOWN would make the client retry for minutes,
                # so answer a status it gives up on at once, and record the error.
                entry["status"], entry["error"] = "FAKE_BUG", repr(exc)
                traceback.print_exc(file=sys.stderr)
                raise GRPCError(
                    Status.FAILED_PRECONDITION, f"modal_fake bug in {name}: {exc!r}"
                ) from exc

        handle.__name__ = name
        return handle

    def _admit(self, name: str, metadata: dict[str, str]) -> CallContext:
        faults = self._faults
        if time.time() < faults.unavailable_until:
            raise GRPCError(Status.UNAVAILABLE, "modal_fake: injected UNAVAILABLE")
        if faults.fail_next > 0:
            faults.fail_next -= 1
            raise GRPCError(faults.fail_status, f"modal_fake: injected {faults.fail_status.name}")
        ctx = CallContext(method=name, metadata=metadata)
        if metadata.get("x-modal-client-type") == CLIENT_TYPE_CONTAINER:
            task_id = self._task_lookup(metadata.get(TASK_TOKEN_HEADER, ""))
            if task_id is None:
                raise GRPCError(Status.UNAUTHENTICATED, "unknown container task token")
            ctx.task_id = task_id
            return ctx
        token_id, token_secret = self._token
        if (
            metadata.get("x-modal-token-id") != token_id
            or metadata.get("x-modal-token-secret") != token_secret
        ):
            raise GRPCError(Status.UNAUTHENTICATED, "Invalid token id or secret")
        return ctx
