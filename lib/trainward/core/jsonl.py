"""Append-only JSON-lines files (the registry, sweeps, deployments): tolerant reads, one-write appends.

A reader never fails on one bad line: a torn last line (a killed writer), an undecodable byte
or a line that is not a JSON object is skipped, and `read_numbered` reports each skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]


def read_numbered(path: Path, skipped: list[str] | None = None) -> Iterator[tuple[int, JsonObject]]:
    """(line number, object) for each valid line of `path`; bad lines go to `skipped`."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                if skipped is not None and raw.endswith(b"\n"):  # a torn last line is no defect
                    skipped.append(f"{path.name} line {number}: not JSON ({type(err).__name__})")
                continue
            if isinstance(row, dict):
                yield number, row
            elif skipped is not None:
                skipped.append(f"{path.name} line {number}: not a JSON object")


def read(path: Path) -> Iterator[JsonObject]:
    """The objects in `path`, in order (bad lines skipped)."""
    for _, row in read_numbered(path):
        yield row


def latest(path: Path, key: str, value: Any) -> JsonObject | None:
    """The last object whose `key` equals `value`."""
    found = None
    for row in read(path):
        if row.get(key) == value:
            found = row
    return found


def append(path: Path, row: JsonObject, *, fsync: bool = False) -> None:
    """Append one line with a single write (O_APPEND), so concurrent appenders never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(row, default=str, separators=(",", ":"), allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
