"""A toy Modal app for the fake's tests: each function exercises one behaviour of Modal.

Volumes are mounted at ``/data``; on the fake they are not really mounted, so the code maps
paths through ``MODAL_FAKE_MOUNTS`` (see ``host_path``), as code under test should.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import modal

app = modal.App("modal-fake-toy")
vol = modal.Volume.from_name("toy-vol", create_if_missing=True)
MOUNT = "/data"


def host_path(path: str) -> Path:
    """Translate a container path under a volume mount to where the fake keeps the files."""
    mounts: dict[str, str] = json.loads(os.environ.get("MODAL_FAKE_MOUNTS", "{}"))
    for mount in sorted(mounts, key=len, reverse=True):
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return Path(mounts[mount] + path[len(mount.rstrip("/")) :])
    return Path(path)


@app.function()
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@app.function()
def fail(message: str) -> None:
    raise ValueError(message)


@app.function(volumes={MOUNT: vol})
def write_file(name: str, content: str) -> str:
    target = host_path(f"{MOUNT}/{name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    vol.commit()
    print(f"wrote {name}")
    return name


@app.function(
    volumes={MOUNT: vol}, retries=modal.Retries(max_retries=2, initial_delay=0.0), timeout=60
)
def resumable(run: str, steps: int, step_s: float = 0.3) -> dict[str, int]:
    """Count to ``steps``, checkpointing each step; a retry resumes from the checkpoint."""
    root = host_path(f"{MOUNT}/{run}")
    root.mkdir(parents=True, exist_ok=True)
    ckpt = root / "ckpt"
    start = int(ckpt.read_text()) if ckpt.exists() else 0
    with (root / "attempts").open("a") as f:
        f.write(f"{start}\n")
    for step in range(start + 1, steps + 1):
        time.sleep(step_s)
        ckpt.write_text(str(step))
    return {"resumed_from": start, "steps": steps}


@app.function(volumes={MOUNT: vol})
def chain(run: str, n: int) -> int:
    """Write a file, then hand the rest to a fresh call of itself (a continuation)."""
    marker = host_path(f"{MOUNT}/{run}/{n}")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(os.environ.get("MODAL_TASK_ID", ""))
    if n > 0:
        chain.spawn(run, n - 1)
    return n


@app.function(timeout=2)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.local_entrypoint()
def main(x: int = 3) -> None:
    print(f"result={square.remote(x)}")
