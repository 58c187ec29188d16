"""The control plane's records (apps, functions, calls, inputs, tasks, secrets, volumes, mounts).

Everything lives in memory and is written to ``<state-dir>/state.json`` (debounced) after each
change, so a test can inspect it and a restarted fake picks it up again. Protobuf payloads are
kept as serialized bytes and stored base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PENDING, RUNNING, DONE = "pending", "running", "done"


@dataclass
class AppRecord:
    app_id: str
    description: str
    environment: str
    state: int
    created_at: float
    name: str = ""
    stopped_at: float = 0.0
    stopped_by: str = ""
    deployed_at: float = 0.0
    last_heartbeat: float = 0.0
    client_disconnected: bool = False
    version: int = 0
    function_ids: dict[str, str] = field(default_factory=dict)
    class_ids: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class FunctionRecord:
    function_id: str
    app_id: str
    tag: str
    definition_id: str
    definition: bytes = b""  # serialized api_pb2.Function; empty until FunctionCreate
    variant_of: str = ""  # FunctionBindParams: the function this one is a variant of


@dataclass
class CallRecord:
    function_call_id: str
    function_id: str
    app_id: str
    created_at: float
    invocation_type: int = 0
    parent_input_id: str = ""
    input_ids: list[str] = field(default_factory=list)


@dataclass
class InputRecord:
    input_id: str
    function_call_id: str
    function_id: str
    app_id: str
    idx: int
    payload: bytes  # serialized api_pb2.FunctionInput
    created_at: float
    status: str = PENDING
    retry_count: int = 0
    not_before: float = 0.0
    task_id: str = ""
    output: bytes = b""  # serialized api_pb2.FunctionGetOutputsItem
    output_cleared: bool = False
    finished_at: float = 0.0


@dataclass
class TaskRecord:
    task_id: str
    token: str
    function_id: str
    app_id: str
    input_id: str
    created_at: float
    started_at: float = 0.0
    finished_at: float = 0.0
    pid: int = 0
    exit_code: int | None = None
    end_reason: str = ""  # "", "killed", "timeout", "app stopped", "exited"


@dataclass
class SecretRecord:
    secret_id: str
    name: str
    environment: str
    env: dict[str, str]
    created_at: float


@dataclass
class VolumeRecord:
    volume_id: str
    name: str
    environment: str
    version: int
    created_at: float


@dataclass
class MountRecord:
    mount_id: str
    files: dict[str, list[Any]]  # remote path -> [sha256_hex, mode]


_TABLES: dict[str, type] = {
    "apps": AppRecord,
    "functions": FunctionRecord,
    "calls": CallRecord,
    "inputs": InputRecord,
    "tasks": TaskRecord,
    "secrets": SecretRecord,
    "volumes": VolumeRecord,
    "mounts": MountRecord,
}


def _encode(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return {"__b64__": base64.b64encode(obj).decode()}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _decode(d: dict[str, Any]) -> Any:
    if set(d) == {"__b64__"}:
        return base64.b64decode(d["__b64__"])
    return d


class Signal:
    """A broadcast wake-up: waiters sleep until the next ``fire()`` or their timeout."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, timeout))


class State:
    """All records, the persistence of them, and the signals long-polls wait on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.apps: dict[str, AppRecord] = {}
        self.functions: dict[str, FunctionRecord] = {}
        self.calls: dict[str, CallRecord] = {}
        self.inputs: dict[str, InputRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.secrets: dict[str, SecretRecord] = {}
        self.volumes: dict[str, VolumeRecord] = {}
        self.mounts: dict[str, MountRecord] = {}
        self.images: dict[str, str] = {}  # sha256 of the serialized Image -> image id
        self.image_env: dict[str, dict[str, str]] = {}  # image id -> its ENV (with its bases')
        self.image_commands: dict[str, list[str]] = {}  # image id -> its own Dockerfile commands
        self.default_volume_version = 2
        self.volume_versions: dict[str, int] = {}  # name -> version for volumes created later
        self.changed = Signal()  # fired by touch(): long-polls (outputs) wait on it
        self._save_handle: asyncio.TimerHandle | None = None

    # ---- persistence -------------------------------------------------------------------
    def touch(self) -> None:
        """Note a change: persist soon (debounced) and wake the long-polls."""
        self.changed.fire()
        if self._save_handle is None:
            loop = asyncio.get_running_loop()
            self._save_handle = loop.call_later(0.2, self.save)

    def save(self) -> None:
        self._save_handle = None
        data: dict[str, Any] = {
            name: {k: dataclasses.asdict(v) for k, v in getattr(self, name).items()}
            for name in _TABLES
        }
        data["images"] = self.images
        data["image_env"] = self.image_env
        data["image_commands"] = self.image_commands
        data["default_volume_version"] = self.default_volume_version
        data["volume_versions"] = self.volume_versions
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, default=_encode, indent=1))
        os.replace(tmp, self.path)

    def load(self) -> None:
        if not self.path.exists():
            return
        data = json.loads(self.path.read_text(), object_hook=_decode)
        for name, cls in _TABLES.items():
            setattr(self, name, {k: cls(**v) for k, v in data.get(name, {}).items()})
        self.images = data.get("images", {})
        self.image_env = data.get("image_env", {})
        self.image_commands = data.get("image_commands", {})
        self.default_volume_version = data.get("default_volume_version", 2)
        self.volume_versions = data.get("volume_versions", {})
        # Containers of a previous run are gone: their inputs go back to the queue.
        for inp in self.inputs.values():
            if inp.status == RUNNING:
                inp.status, inp.task_id = PENDING, ""
        for task in self.tasks.values():
            if not task.finished_at:
                task.finished_at, task.end_reason = time.time(), "fake restarted"

    # ---- queries -------------------------------------------------------------------------
    def deployed_app(self, name: str, environment: str) -> AppRecord | None:
        for app in self.apps.values():
            live = app.deployed_at and not app.stopped_at
            if live and app.name == name and app.environment == environment:
                return app
        return None

    def last_app_named(self, name: str, environment: str) -> AppRecord | None:
        named = [a for a in self.apps.values() if a.name == name and a.environment == environment]
        return max(named, key=lambda a: a.created_at) if named else None

    def app_inputs(self, app_id: str) -> list[InputRecord]:
        return [i for i in self.inputs.values() if i.app_id == app_id]

    def running_tasks(self, app_id: str | None = None) -> list[TaskRecord]:
        return [
            t
            for t in self.tasks.values()
            if not t.finished_at and (app_id is None or t.app_id == app_id)
        ]

    def task_by_token(self, token: str) -> TaskRecord | None:
        for task in self.tasks.values():
            if task.token == token:
                return task
        return None

    def volume_named(self, name: str, environment: str | None = None) -> VolumeRecord | None:
        for vol in self.volumes.values():
            if vol.name == name and (environment is None or vol.environment == environment):
                return vol
        return None

    def secret_named(self, name: str, environment: str) -> SecretRecord | None:
        for sec in self.secrets.values():
            if sec.name == name and sec.environment == environment:
                return sec
        return None
