"""The object every part of the fake shares: settings, records, storage, logs and switches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .logs import LogStore
from .router import Faults, Recorder
from .state import State
from .storage import Storage

if TYPE_CHECKING:
    from .runner import Runner


@dataclass
class Settings:
    state_dir: Path
    host: str = "127.0.0.1"
    grpc_port: int = 0
    http_port: int = 0
    token_id: str = "ak-modal-fake"
    token_secret: str = "as-modal-fake"
    environment: str = "main"
    # An ephemeral app (plain `modal run`, `app.run()`) whose client sends no heartbeat for
    # this long is stopped, as Modal does when the client dies.
    heartbeat_timeout_s: float = 40.0
    max_containers: int = 8
    default_volume_version: int | None = None  # None: keep the stored one (2 for a new state)


@dataclass
class ImageBuild:
    """How ImageGetOrCreate behaves: built at once, after a delay, or failing."""

    delay_s: float = 0.0
    fail: str | None = None


DEFAULT_BILLING_RATES = {
    "gpu.h100": "0.001097",
    "gpu.a100-80gb": "0.000694",
    "gpu.a100-40gb": "0.000583",
    "gpu.l40s": "0.000542",
    "gpu.a10g": "0.000306",
    "gpu.l4": "0.000222",
    "gpu.t4": "0.000164",
    "cpu.core": "0.0000131",
    "memory.gib": "0.00000222",
}


class Fake:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = settings.state_dir
        root.mkdir(parents=True, exist_ok=True)
        self.state = State(root / "state.json")
        self.state.load()
        if settings.default_volume_version is not None:
            self.state.default_volume_version = settings.default_volume_version
        self.storage = Storage(root)
        self.logs = LogStore(root / "logs")
        self.recorder = Recorder()
        self.faults = Faults()
        self.image_build = ImageBuild()
        # What `modal billing rates` answers: USD per second, keyed as the workspace's list is.
        self.billing_rates: dict[str, str] = dict(DEFAULT_BILLING_RATES)
        self.grpc_url = ""
        self.http_url = ""
        self.runner: Runner  # set by the server once it is built
        self.served: list[str] = []  # RPC names with a handler, set by the server

    def env_name(self, requested: str) -> str:
        return requested or self.settings.environment
