"""Helpers for the trainer's tests (no tests here): tiny configs and the trainer as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: A run that takes a few seconds on one CPU thread: 12 games, 66 steps per epoch.
TINY_TRAIN: dict[str, Any] = {
    "arch": "mamba2", "size": "small", "epochs": 2, "batch_size": 32, "lr": 3.0e-3,
    "warmup_steps": 5, "window": 8, "log_every": 5, "checkpoint_every": 10,
    "device": "cpu", "num_threads": 1, "generate": {"games": 12, "frames": 200, "seed": 0},
}  # fmt: skip
TINY_DATA: dict[str, Any] = {"dataset": "fgc-tiny"}


def write_config(root: Path, name: str = "tiny", *, train: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None, **top: Any) -> Path:  # fmt: skip
    """An experiment file under `root` (a project root) with the tiny defaults overridden."""
    doc = {"name": name, "backend": "local", "data": {**TINY_DATA, **(data or {})},
           "train": {**TINY_TRAIN, **(train or {})}, **top}  # fmt: skip
    path = root / "experiments" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])["result"]


def train_argv(config: Path, volume: Path, run: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "trainward.train", "--config", str(config), "--volume-root", str(volume),
            "--run-name", run, *extra]  # fmt: skip


def train_env(volume: Path, **extra: str) -> dict[str, str]:
    """The environment for a trainer subprocess: its own TRAINWARD_HOME beside the volume."""
    return {**os.environ, "TRAINWARD_HOME": str(volume.parent / "twhome"), **extra}


def train_proc(config: Path, volume: Path, run: str, *extra: str, timeout: float = 180) -> Run:
    """`python -m trainward.train ...` to completion."""
    proc = subprocess.run(train_argv(config, volume, run, *extra), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=train_env(volume))  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)


def status(volume: Path, run: str) -> dict[str, Any]:
    return json.loads((volume / "runs" / run / "status.json").read_text())


def events(volume: Path, run: str) -> list[dict[str, Any]]:
    text = (volume / "runs" / run / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
