"""The JSON documents of the read commands: what `trainward ... --json` prints and what the
MCP server's tools return. The CLI and the MCP server both call these, so an assistant gets
the same document whichever way it asks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from trainward.api.runs import Run, status_all
from trainward.backends import get_reader
from trainward.core.contracts import LaunchPlan
from trainward.errors import UsageError
from trainward.runs.doctor import run_doctor
from trainward.runs.registry import Registry
from trainward.runs.runstatus import RunStatus
from trainward.runs.status import STALE_AFTER_S, StatusReader, status_wandb
from trainward.tracking import LazyWandbReader

RUN_FIELDS = (
    "run",
    "backend",
    "state",
    "experiment",
    "volume",
    "launched_at",
    "gpu",
    "sweep",
    "reason",
)


def runs_document(limit: int = 20) -> dict[str, Any]:
    """`trainward runs --json`: the registry's runs, newest last (reads no ledgers)."""
    if limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    recs = Registry().records()[-limit:]
    return {"runs": [{k: getattr(r, k) for k in RUN_FIELDS} for r in recs]}


@dataclass(frozen=True)
class StatusReport:
    """What `status` read: one run, every recent run, or a sweep; `doc` is its JSON."""

    kind: Literal["run", "all", "sweep"]
    doc: dict[str, Any]
    run: RunStatus | None = None
    rows: tuple[RunStatus, ...] = ()


def status_report(
    run: str = "latest",
    *,
    wandb: str | None = None,
    volume: str | None = None,
    backend: str | None = None,
    stale_after: float = STALE_AFTER_S,
    wandb_timeout: float = 10.0,
) -> StatusReport:
    """`trainward status RUN --json`: a run (a name or `latest`), `all`, a sweep's name, a W&B
    run (`wandb="ENTITY/PROJECT[/RUN]"`), or a run found only on a `volume`."""
    from trainward.sweep.launch import find_sweep, sweep_status

    tracker = LazyWandbReader(timeout=wandb_timeout)
    if wandb:
        s = status_wandb(wandb, tracker, stale_after=stale_after)
        return StatusReport("run", s.to_dict(), run=s)
    if run == "all":
        rows = status_all(stale_after=stale_after)
        return StatusReport("all", {"runs": [r.to_dict() for r in rows]}, rows=tuple(rows))
    if Registry().get(run) is None and not volume and (sw := find_sweep(run)):
        return StatusReport("sweep", sweep_status(run, get_reader(sw["backend"]), Registry()))
    name = backend or (Registry().resolve(run).backend if not volume else "local")
    reader = StatusReader(Registry(), get_reader(name), tracker=tracker, stale_after=stale_after)
    s = reader.read(run, volume=volume)
    return StatusReport("run", s.to_dict(), run=s)


def logs_document(run: str, tail: int = 100) -> dict[str, Any]:
    """`trainward logs RUN --tail N --json`: the last lines of the run's output."""
    if not 1 <= tail <= 10000:
        raise UsageError(f"tail must be 1 to 10000, got {tail}")
    rec = Registry().resolve(run)
    return {"run": rec.run, "tail": tail, "lines": Run(rec.run, rec.backend).logs(tail)}


def files_document(run: str, path: str = "", *, recursive: bool = False) -> dict[str, Any]:
    """`trainward files RUN [PATH] --json`: what the run wrote under runs/RUN/PATH."""
    from trainward.core.paths import run_path

    rec = Registry().resolve(run)
    base = f"{run_path(rec.run)}/{path.strip('/')}".rstrip("/")
    rows = Run(rec.run, rec.backend).files(path, recursive=recursive)
    return {"run": rec.run, "volume": rec.volume, "base": base, "files": rows}


def plan_document(p: LaunchPlan) -> dict[str, Any]:
    """`trainward launch CONFIG --dry-run --json`: the plan (`trainward.plan`) and the cost."""
    return {"dry_run": True, **p.to_json()}


def doctor_document(backend: str | None = None, config: str | None = None) -> dict[str, Any]:
    """`trainward doctor --json`: every setup check, read-only."""
    return run_doctor(backend, config, get_reader)
