"""Stop a run: the only destructive run action. It needs the exact run name and `yes=True`.

The rule lives here, not in the CLI, so every caller of the library gets it: `latest` and
`all` are refused (a stop must name its run), and without `yes` nothing is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainward.backends.base import Backend, RunHandle
from trainward.errors import Refused, UsageError
from trainward.runs.registry import Registry


def stop_run(
    registry: Registry, backend_for: Callable[[str], Backend], run: str, *, yes: bool
) -> dict[str, Any]:
    """Stop `run`'s compute and return its state afterwards."""
    if run in ("latest", "all"):
        raise UsageError(
            f"stop needs an exact run name, not '{run}'", hint="see `trainward runs` for names"
        )
    rec = registry.resolve(run)
    if not yes:
        raise Refused(
            f"not stopping '{run}' without --yes",
            hint=f"only if the user asked: trainward stop {run} --yes",
        )
    backend = backend_for(rec["backend"])
    handle = RunHandle(rec["backend"], run, rec["ids"]) if rec.get("ids") else backend.find_run(run)
    if handle is None:
        raise UsageError(f"run '{run}' has no compute to stop (state {rec.get('state')})")
    backend.stop(handle)
    return {"run": run, "stopped": True, "state": backend.state(handle).to_dict()}
