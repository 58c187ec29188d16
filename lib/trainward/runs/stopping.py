"""Stop a run: the only destructive run action. It needs the exact run name and `yes=True`.

The rule lives here, not in the CLI, so every caller of the library gets it: `latest` and
`all` are refused (a stop must name its run), and without `yes` nothing is touched. A run
that is not running is left alone and the answer says so. Before it signals, the stop
leaves a marker in the run's ledger directory (runs/<run>/stop-requested.json), so the run
records `stopped` rather than `preempted` and no retry starts it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from trainward.backends.base import Backend, RunHandle
from trainward.core.paths import run_file
from trainward.errors import NotFound, Refused, TrainwardError, UsageError
from trainward.runs.context import STOP_MARKER
from trainward.runs.registry import Registry

RESERVED = ("latest", "all")


def stop_run(
    registry: Registry, backend_for: Callable[[str], Backend], run: str, *, yes: bool
) -> dict[str, Any]:
    """Stop `run`'s compute and return its state afterwards (`stopped: false` when it was
    not running: nothing is changed then)."""
    if run in RESERVED:
        raise UsageError(
            f"stop needs an exact run name, not '{run}'", hint="see `trainward runs` for names"
        )
    rec = registry.resolve(run)
    if rec.run != run:
        raise UsageError(f"stop needs the run's exact name: '{rec.run}', not '{run}'")
    if not yes:
        raise Refused(
            f"not stopping '{run}' without --yes",
            hint=f"only if the user asked: trainward stop {run} --yes",
        )
    backend = backend_for(rec.backend)
    handle = RunHandle(rec.backend, run, dict(rec.ids)) if rec.ids else backend.find_run(run)
    if handle is None:
        raise NotFound(
            f"run '{run}' has no compute to stop (registry state {rec.state})",
            hint=f"trainward status {run}",
        )
    before = backend.state(handle)
    if not before.active:
        return {"run": run, "stopped": False, "was": before.state, "state": before.to_dict(),
                "message": f"run '{run}' is not running ({before.state}); nothing was changed"}  # fmt: skip
    _leave_marker(backend, rec.volume, run)
    backend.stop(handle)
    registry.update(rec, note=f"stop requested at {time.strftime('%Y-%m-%d %H:%M:%S')}")
    return {
        "run": run,
        "stopped": True,
        "was": before.state,
        "state": backend.state(handle).to_dict(),
    }


def _leave_marker(backend: Backend, volume: str, run: str) -> None:
    """Best effort: a run whose marker cannot be written is stopped all the same (it then
    reads as preempted in its ledger, and as stopped in status)."""
    doc = json.dumps({"requested_at": time.time(), "by": "trainward stop"}).encode()
    try:
        backend.write_file(volume, run_file(run, STOP_MARKER), doc)
    except TrainwardError:
        pass
