"""`trainward wait`: poll a run's read-only status until it ends, or has a checkpoint."""

from __future__ import annotations

import time
from typing import Any

from trainward.errors import RunFailed
from trainward.runs.status import RunStatus, StatusReader

TERMINAL_VERDICTS = ("finished", "failed", "stopped", "not-launched", "zombie")


def wait_for(
    reader: StatusReader,
    run: str,
    *,
    until: str = "end",
    timeout: float,
    interval: float,
    progress: Any = lambda s: None,
    clock: Any = time.monotonic,
) -> RunStatus:
    """Poll a run's status until it ends (or, `until="checkpoint"`, has a checkpoint) or `timeout`."""
    deadline = clock() + timeout
    while True:
        s = reader.read(run)
        # A run that says it finished is waited for until its process (container) has ended
        # too, so that what comes next (a resume of the same run) does not find it still up.
        winding_down = (s.compute or {}).get("state") in ("running", "pending")
        ended = s.verdict in TERMINAL_VERDICTS and not (winding_down and s.verdict == "finished")
        reached = ended or (until == "checkpoint" and bool(s.checkpoints.get("latest")))
        if reached or clock() >= deadline:
            return s
        progress(s)
        time.sleep(interval)


def check_waited(s: RunStatus, *, until: str, timeout: float) -> None:
    """Raise RunFailed unless the wait ended the way the caller wanted."""
    if (
        until == "checkpoint"
        and s.checkpoints.get("latest")
        and s.verdict not in ("failed", "zombie")
    ):
        return
    if s.verdict not in TERMINAL_VERDICTS:
        raise RunFailed(
            f"run '{s.run}' is still {s.verdict} after {timeout:.0f} s",
            hint=f"it goes on; check later with `trainward status {s.run}`",
        )
    if s.verdict != "finished":
        raise RunFailed(
            f"run '{s.run}' ended {s.verdict}: {s.reason or 'no reason recorded'}",
            hint=f"see `trainward logs {s.run} --tail 100`",
        )
