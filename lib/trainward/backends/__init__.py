"""Backends: where runs execute and volumes live. `get_backend(name)` builds the default one."""

from __future__ import annotations

from trainward.backends.base import Backend, ReadOnly, ReadOnlyBackend
from trainward.errors import UsageError

BACKENDS = ("local", "modal")


def get_backend(name: str, *, timeout: float | None = None) -> Backend:
    """The real backend called `name` (local or modal). The Modal SDK is imported lazily.
    `timeout` bounds each remote call (Modal; default TRAINWARD_MODAL_TIMEOUT or 60 s)."""
    if name == "local":
        from trainward.backends.local import LocalBackend

        return LocalBackend()
    if name == "modal":
        from trainward.backends.modal import ModalBackend

        return ModalBackend(timeout=timeout)
    raise UsageError(f"unknown backend {name!r}", hint=f"use one of: {', '.join(BACKENDS)}")


def get_reader(name: str, *, timeout: float | None = None) -> ReadOnlyBackend:
    """A read-only view of backend `name`: all that status, pull, runs, logs and doctor receive."""
    return ReadOnly(get_backend(name, timeout=timeout))


__all__ = ["BACKENDS", "Backend", "ReadOnly", "ReadOnlyBackend", "get_backend", "get_reader"]
