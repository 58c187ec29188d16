"""Holding SIGINT and SIGTERM across a step that must not be cut in half.

A launch holds them from just before the spawn until the run is recorded: a Ctrl-C there
would otherwise leave a running run that the registry calls not-launched. Held signals are
delivered as soon as the step ends (a Ctrl-C then interrupts the launcher, after the record).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM)


class HeldSignals:
    """`hold()` defers SIGINT/SIGTERM (main thread only; elsewhere it does nothing),
    `release()` restores the handlers and delivers what arrived meanwhile."""

    def __init__(self, note: str = "finishing the launch before stopping") -> None:
        self.note = note
        self.pending: list[int] = []
        self._saved: dict[int, Any] = {}

    def hold(self) -> None:
        if self._saved or threading.current_thread() is not threading.main_thread():
            return
        for sig in HELD:
            self._saved[sig] = signal.getsignal(sig)
            signal.signal(sig, self._defer)

    def _defer(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)
        print(
            f"[trainward] {signal.Signals(signum).name}: {self.note}", file=sys.stderr, flush=True
        )

    def release(self) -> None:
        saved, self._saved = self._saved, {}
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        pending, self.pending = self.pending, []
        for sig in dict.fromkeys(pending):
            os.kill(os.getpid(), sig)

    def __enter__(self) -> HeldSignals:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
