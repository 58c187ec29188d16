"""Bounded calls to the modal client and CLI, with its errors translated to trainward's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from trainward.backends.modal.support import TOKEN_FIX
from trainward.errors import AuthError, NotFound, RemoteUnavailable, TrainwardError

T = TypeVar("T")


_IMPORT_LOCK = threading.Lock()


def import_modal() -> None:
    """Import the modal SDK once, under a lock: status reads compute and ledger from two threads,
    and two threads importing modal at once can meet a partly initialised module."""
    with _IMPORT_LOCK:
        import modal  # noqa: F401


class ModalClient:
    """Token checks, deadline-bounded SDK calls and bounded CLI calls."""

    name = "modal"

    def __init__(self, *, timeout: float | None = None, environment: str | None = None) -> None:
        self.timeout = timeout or float(os.environ.get("TRAINWARD_MODAL_TIMEOUT", "60"))
        self.environment = environment

    def __repr__(self) -> str:
        return "ModalBackend()"

    # -- plumbing -----------------------------------------------------------------------------
    @staticmethod
    def token_present() -> bool:
        if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
            return True
        import_modal()
        from modal.config import config

        return bool(config.get("token_id") and config.get("token_secret"))

    def _require_token(self) -> None:
        if not self.token_present():
            raise AuthError("no Modal token is configured", hint=f"run: {TOKEN_FIX}")

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
        """Run one client call with a deadline, translating the client's errors to ours."""
        self._require_token()
        import_modal()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as err:  # re-raised in the caller's thread
                box["error"] = err

        thread = threading.Thread(target=target, daemon=True, name=f"modal:{what}")
        thread.start()
        thread.join(timeout or self.timeout)
        if thread.is_alive():
            raise RemoteUnavailable(
                f"Modal did not answer within {timeout or self.timeout:.0f} s while {what}",
                hint="check your network and MODAL_SERVER_URL; the call was abandoned, nothing was changed by us",
            )
        if "error" in box:
            raise self._translate(box["error"], what) from None
        return box["value"]  # type: ignore[no-any-return,unused-ignore]

    def _rpc(self, fn: Callable[[Any, Any], Awaitable[T]], what: str) -> T:
        """One control-plane RPC the SDK has no public wrapper for (listing apps, an app's
        tags and calls), run on the client's own event loop and bounded like `_call`.
        `fn(client, api_pb2)` awaits `client._stub.<Rpc>(request)`, as modal's CLI does."""
        from modal._utils.async_utils import synchronizer
        from modal.client import _Client
        from modal_proto import api_pb2

        async def run() -> T:
            return await fn(await _Client.from_env(), api_pb2)

        return self._call(synchronizer.create_blocking(run), what)

    @staticmethod
    def _translate(err: BaseException, what: str) -> BaseException:
        import modal.exception as mx

        if isinstance(err, TrainwardError):
            return err
        if isinstance(err, mx.AuthError):
            return AuthError(f"Modal rejected the token while {what}", hint=f"run: {TOKEN_FIX}")
        if isinstance(err, (mx.NotFoundError, FileNotFoundError)):
            return NotFound(f"not found while {what}: {err}")
        text = str(err)
        if (
            isinstance(err, (mx.ConnectionError, OSError, TimeoutError))
            or "UNAVAILABLE" in text
            or "StreamTerminated" in text
        ):
            return RemoteUnavailable(
                f"Modal is unreachable while {what}: {text.splitlines()[0] if text else type(err).__name__}",
                hint="retry in a minute; check status.modal.com and your network",
            )
        return TrainwardError(f"Modal error while {what}: {type(err).__name__}: {text}")

    def _cli(self, *args: str, timeout: float | None = None) -> str:
        """Run the modal CLI (`python -m modal ...`), bounded; returns stdout."""
        self._require_token()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "modal", *args],
                capture_output=True,
                text=True,
                timeout=timeout or self.timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise RemoteUnavailable(
                f"`modal {' '.join(args)}` did not finish within {timeout or self.timeout:.0f} s",
                hint="retry; check your network",
            ) from None
        if proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            msg = next((line for line in reversed(err) if line.strip()), "no output")
            if "Token" in msg or "token" in msg:
                raise AuthError(
                    f"`modal {args[0]} {args[1]}` failed: {msg}", hint=f"run: {TOKEN_FIX}"
                )
            if "UNAVAILABLE" in msg or "connect" in msg.lower():
                raise RemoteUnavailable(
                    f"`modal {args[0]} {args[1]}` failed: {msg}", hint="retry in a minute"
                )
            raise TrainwardError(f"`modal {' '.join(args)}` failed: {msg}")
        return proc.stdout

    # -- volumes ------------------------------------------------------------------------------
