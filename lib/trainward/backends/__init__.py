"""Backends: where runs execute and volumes live. `get_backend(name)` builds the default one."""

from __future__ import annotations

from trainward.backends.base import Backend, ReadOnly, ReadOnlyBackend
from trainward.errors import UsageError

BACKENDS = ("local", "modal")


def get_backend(name: str) -> Backend:
    """The real backend called `name` (local or modal). The Modal SDK is imported lazily."""
    if name == "local":
        from trainward.backends.local import LocalBackend

        return LocalBackend()
    if name == "modal":
        from trainward.backends.modal import ModalBackend

        return ModalBackend()
    raise UsageError(f"unknown backend {name!r}", hint=f"use one of: {', '.join(BACKENDS)}")


def get_reader(name: str) -> ReadOnlyBackend:
    """A read-only view of backend `name`: all that status, pull, runs, logs and doctor receive."""
    return ReadOnly(get_backend(name))


__all__ = ["BACKENDS", "Backend", "ReadOnly", "ReadOnlyBackend", "get_backend", "get_reader"]
