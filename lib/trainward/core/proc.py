"""Processes: is a pid alive, and is it still the process we started (not a reused pid)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """True while `pid` runs (a zombie is dead). Reaps it first if it is our own exited child."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def start_token(pid: int) -> str | None:
    """What identifies one process for its whole life: its start time in clock ticks since
    boot (field 22 of /proc/PID/stat). A pid reused by another process has another token.
    None where /proc is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def same_process(pid: int | None, token: str | None) -> bool:
    """True when `pid` is alive and, where a start token was recorded, is that same process."""
    if not pid_alive(pid):
        return False
    if token is None or pid is None:
        return True
    current = start_token(pid)
    return current is None or current == token
