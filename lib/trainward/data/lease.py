"""One push per destination at a time: refused, not queued.

Two layers, because neither is enough alone:
- this machine: an exclusive `flock` on $TRAINWARD_HOME/locks/push-<key>.lock, released by
  the kernel when the process dies, so it never goes stale;
- other machines: a lease file `<dest>/.trainward-push.lock` on the volume, written and then
  read back (the Backend protocol has no atomic create, so of two racing writers the one
  whose token is read back wins). A lease is stale when its pid is gone on this host, or
  when it was not renewed for LEASE_TTL seconds; a stale lease is taken over. The pusher
  renews it between batches, so a batch must finish within LEASE_TTL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

from trainward.backends.base import Backend, VolumeReader
from trainward.core import paths
from trainward.core.proc import pid_alive
from trainward.errors import NotFound, Refused, TrainwardError

LEASE = ".trainward-push.lock"
LEASE_TTL = 900.0


def read_lease(volume: VolumeReader, name: str, dest: str) -> dict[str, Any] | None:
    """The push lease on `name:dest`, with `stale` set; None when there is none (or it is garbage)."""
    try:
        doc = json.loads(volume.read_file(name, f"{dest}/{LEASE}"))
    except (NotFound, ValueError):
        return None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("pid"), int)
        or not isinstance(doc.get("token"), str)
    ):
        return None
    renewed = doc.get("renewed_at")
    if not isinstance(renewed, int | float):
        return None
    expired = time.time() - renewed > LEASE_TTL
    doc["stale"] = expired or (
        doc.get("host") == socket.gethostname() and not pid_alive(doc["pid"])
    )
    return doc


class Lease:
    """This push's claim on a destination, on the volume."""

    def __init__(self, backend: Backend, volume: str, dest: str) -> None:
        self.backend, self.volume, self.path = backend, volume, f"{dest}/{LEASE}"
        now = time.time()
        self.doc: dict[str, Any] = {
            "token": secrets.token_hex(8),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "renewed_at": now,
        }

    def claim(self) -> None:
        dest = self.path.rsplit("/", 1)[0]
        held = read_lease(self.backend, self.volume, dest)
        if held and not held["stale"]:
            raise _refuse_busy(self.volume, dest, held)
        self._write()
        back = read_lease(self.backend, self.volume, dest)
        if not back or back["token"] != self.doc["token"]:
            raise _refuse_busy(self.volume, dest, back or {})

    def renew(self) -> None:
        if time.time() - float(self.doc["renewed_at"]) > LEASE_TTL / 3:
            self.doc["renewed_at"] = time.time()
            self._write()

    def release(self) -> None:
        with contextlib.suppress(TrainwardError):
            held = read_lease(self.backend, self.volume, self.path.rsplit("/", 1)[0])
            if held and held["token"] == self.doc["token"]:
                self.backend.remove_file(self.volume, self.path)

    def _write(self) -> None:
        self.backend.write_file(self.volume, self.path, json.dumps(self.doc).encode())


def _refuse_busy(volume: str, dest: str, held: dict[str, Any]) -> Refused:
    age = time.time() - float(held.get("started_at") or time.time())
    who = f"host {held.get('host', '?')}, pid {held.get('pid', '?')}, started {age:.0f} s ago"
    return Refused(
        f"another push to {volume}:{dest} is in progress ({who})",
        hint=f"wait for it to finish and push again; a push that died frees the destination once its "
        f"pid is gone on that host, or after {LEASE_TTL / 60:.0f} minutes",
    )


@contextlib.contextmanager
def push_lease(backend: Backend, volume: str, dest: str) -> Iterator[Lease]:
    """Hold this machine's lock and the volume lease on `volume:dest` for the duration."""
    with _machine_lock(backend, volume, dest):
        lease = Lease(backend, volume, dest)
        lease.claim()
        try:
            yield lease
        finally:
            lease.release()


@contextlib.contextmanager
def _machine_lock(backend: Backend, volume: str, dest: str) -> Iterator[None]:
    key = f"{backend.name}|{getattr(backend, 'home', '')}|{volume}|{dest}"
    path = paths.home() / "locks" / f"push-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise _refuse_busy(volume, dest, {"host": socket.gethostname(), "pid": pid}) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
