"""Started sweeps: $TRAINWARD_HOME/sweeps.jsonl, one `SweepRecord` per snapshot (the last wins).

A start *claims* the sweep's name under `flock(sweeps.lock)`, as launches claim run names:
it appends `starting` with its pid, then `started` with the controller's ids, or
`not-started` with the reason. Two starts of one name: exactly one wins. A name already
started is refused for `full` and `train-only` (they would train the members again);
`validate-only` may start again once no other start is under way. A dead starter's
`starting` record counts as not started.
"""

from __future__ import annotations

import os
import time
import uuid

from trainward.core import jsonl, paths
from trainward.core.fileio import locked
from trainward.core.proc import pid_alive
from trainward.core.states import SweepMode
from trainward.core.sweep_contracts import SweepRecord
from trainward.errors import ContractError, UsageError


def records(name: str | None = None, skipped: list[str] | None = None) -> list[SweepRecord]:
    """Every valid line (of one sweep when `name` is given). A line that is not a record is
    skipped, and said in `skipped` (with its line number) when a list is given."""
    out = []
    for number, row in jsonl.read_numbered(paths.sweeps_file(), skipped):
        if name is not None and row.get("sweep") != name:
            continue
        try:
            out.append(SweepRecord.from_json(row))
        except ContractError as err:
            if skipped is not None:
                skipped.append(f"sweeps.jsonl line {number}: {err.message}")
    return out


def find(name: str, skipped: list[str] | None = None) -> SweepRecord | None:
    found = records(name, skipped)
    return found[-1] if found else None


def _starter_alive(rec: SweepRecord) -> bool:
    return pid_alive(rec.launcher_pid) and rec.launcher_host == os.uname().nodename


def _refuse(current: SweepRecord | None, mode: SweepMode) -> None:
    if current is None or current.state == "not-started":
        return
    if current.state == "starting" and _starter_alive(current):
        raise UsageError(
            f"sweep '{current.sweep}' is being started right now by pid {current.launcher_pid}",
            hint="wait for that start to finish, then `trainward status " + current.sweep + "`",
        )
    if current.state == "starting":
        return  # its starter died before the controller started
    if mode != "validate-only":
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(current.launched_at or 0))
        raise UsageError(
            f"sweep '{current.sweep}' was started before ({current.mode}, {when})",
            hint=f"trainward status {current.sweep}; re-validate it with --mode validate-only, "
            "or rename the sweep (name: or --set name=...)",
        )


def claim(record: SweepRecord) -> SweepRecord:
    """Claim `record.sweep` atomically and append it as `starting`."""
    with locked(paths.sweeps_lock_file()):
        _refuse(find(record.sweep), record.mode)
        claimed = record.with_(
            state="starting",
            plan_id=record.plan_id or uuid.uuid4().hex[:12],
            launcher_pid=os.getpid(),
            launcher_host=os.uname().nodename,
            launched_at=time.time(),
        )
        jsonl.append(paths.sweeps_file(), claimed.to_json(), fsync=True)
        return claimed


def update(record: SweepRecord, **changes: object) -> SweepRecord:
    new = record.with_(**changes)
    with locked(paths.sweeps_lock_file()):
        jsonl.append(paths.sweeps_file(), new.to_json(), fsync=True)
    return new


__all__ = ["claim", "find", "records", "update"]
