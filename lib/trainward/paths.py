"""Where trainward keeps its state. `TRAINWARD_HOME` relocates all of it (tests point it at tmp)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "TRAINWARD_HOME"


def home() -> Path:
    """The state directory: `$TRAINWARD_HOME`, default `~/.trainward`. Not created here."""
    raw = os.environ.get(HOME_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".trainward"


def ensure_home() -> Path:
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    return root


def registry_file() -> Path:
    return home() / "runs.jsonl"


def local_volumes_dir() -> Path:
    return home() / "volumes"


def local_procs_dir() -> Path:
    return home() / "local" / "runs"
