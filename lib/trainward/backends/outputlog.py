"""A local run's output.log: every line stamped with its time and source, read from the end.

    2026-11-30T07:25:24.123Z stdout epoch 1 loss 0.52
    2026-11-30T07:25:24.130Z stderr [trainward] received signal 15; checkpointing and stopping
    2026-11-30T07:25:30.001Z system attempt 1 exited with 143

The supervisor pumps the worker's stdout and stderr into it, line by line, and writes its own
messages as `system`. `read` answers `logs --tail N --since T --search TEXT --source S`
without reading more of the file than it needs (bounded). A line without a stamp (a crash
of the supervisor itself) reads as stdout of unknown time.
"""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SOURCES = ("stdout", "stderr", "system")
_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (stdout|stderr|system) (.*)$")
CHUNK = 64 * 1024
MAX_SCAN = 64 * 1024 * 1024  # a filter never reads more than this of a huge log


@dataclass(frozen=True)
class Line:
    time: float | None
    source: str
    text: str


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def parse(raw: str) -> Line:
    m = _LINE.match(raw)
    if not m:
        return Line(None, "stdout", raw)
    t = calendar.timegm(time.strptime(m[1][:19], "%Y-%m-%dT%H:%M:%S"))
    return Line(t + int(m[1][20:23]) / 1000, m[2], m[3])


class OutputLog:
    """Appends stamped lines from several threads; each line is one write."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, source: str, text: str) -> None:
        line = f"{stamp(time.time())} {source} {text.rstrip(chr(10))}\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def pump(self, stream: IO[bytes], source: str) -> threading.Thread:
        """Copy `stream` into the log, a line at a time, on a daemon thread."""

        def run() -> None:
            for raw in iter(stream.readline, b""):
                self.write(source, raw.decode("utf-8", "replace"))

        thread = threading.Thread(target=run, daemon=True, name=f"pump-{source}")
        thread.start()
        return thread

    def close(self) -> None:
        self._fh.close()


def read(
    path: Path,
    *,
    tail: int,
    since: float | None = None,
    search: str | None = None,
    source: str | None = None,
) -> list[Line]:
    """The last `tail` lines that pass the filters, oldest first."""
    picked: list[Line] = []
    for raw in _backwards(path):
        line = parse(raw)
        if since is not None and line.time is not None and line.time < since:
            break  # lines are in time order: everything before this is older
        if (source and line.source != source) or (search and search not in line.text):
            continue
        picked.append(line)
        if len(picked) >= tail:
            break
    return picked[::-1]


def _backwards(path: Path) -> Iterator[str]:
    """The file's lines from the last to the first, reading at most MAX_SCAN bytes."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with fh:
        end = fh.seek(0, 2)
        pos, rest, scanned = end, b"", 0
        while pos > 0 and scanned < MAX_SCAN:
            size = min(CHUNK, pos)
            pos -= size
            fh.seek(pos)
            block = fh.read(size) + rest
            scanned += size
            lines = block.split(b"\n")
            rest = lines[0] if pos > 0 else b""
            for raw in reversed(lines[1:] if pos > 0 else lines):
                if raw.strip():
                    yield raw.decode("utf-8", "replace")
