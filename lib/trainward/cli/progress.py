"""A progress bar on stderr (bytes/s and ETA), silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any

from trainward.cli._common import stderr_is_tty


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class ProgressBar:
    """`with ProgressBar("push") as bar: upload(progress=bar.update)`; prints at most 10 times/s."""

    def __init__(self, label: str, *, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = stderr_is_tty() if enabled is None else enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.done = 0
        self.total = 0

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.1:
            return
        self.last = now
        sys.stderr.write("\r" + self.line(now))
        sys.stderr.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-6)
        rate = self.done / elapsed
        pct = f"{100 * self.done / self.total:5.1f}%" if self.total else "     "
        eta = f"ETA {(self.total - self.done) / rate:4.0f}s" if rate and self.total else ""
        return f"{self.label}: {pct} {human_bytes(self.done)}/{human_bytes(self.total)} {human_bytes(rate)}/s {eta}"

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\r" + self.line() + "\n")
            sys.stderr.flush()
