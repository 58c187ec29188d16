"""Append-only JSON-lines files (the registry, deployments, sweeps): tolerant reads, one-write appends."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The objects in `path`, in order. A torn last line (a killed writer) is skipped."""
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row


def latest(path: Path, key: str, value: Any) -> dict[str, Any] | None:
    """The last object whose `key` equals `value`."""
    found = None
    for row in read(path):
        if row.get(key) == value:
            found = row
    return found


def append(path: Path, row: dict[str, Any], *, fsync: bool = False) -> None:
    """Append one line with a single write (O_APPEND), so concurrent appenders never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(row, default=str, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
