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
    stale_after: float | None = None,
    wandb_timeout: float = 10.0,
    remote_timeout: float | None = None,
) -> StatusReport:
    """`trainward status RUN --json`: a run (a name or `latest`), `all`, a sweep's name, a W&B
    run (`wandb="ENTITY/PROJECT[/RUN]"`), or a run found only on a `volume`. `stale_after`
    defaults to each run's own `silent_after` (10 minutes when it has none)."""
    from trainward.sweep.status import sweep_status
    from trainward.sweep.store import find as find_sweep

    tracker = LazyWandbReader(timeout=wandb_timeout)
    if wandb:
        s = status_wandb(wandb, tracker, stale_after=stale_after or STALE_AFTER_S)
        return StatusReport("run", s.to_dict(), run=s)
    if run == "all":
        rows = status_all(stale_after=stale_after)
        return StatusReport("all", {"runs": [r.to_dict() for r in rows]}, rows=tuple(rows))
    if Registry().get(run) is None and not volume and (sw := find_sweep(run)):
        return StatusReport("sweep", sweep_status(run, get_reader(sw.backend), Registry()))
    name = backend or (Registry().resolve(run).backend if not volume else "local")
    remote = get_reader(name, timeout=remote_timeout) if remote_timeout else get_reader(name)
    reader = StatusReader(Registry(), remote, tracker=tracker, stale_after=stale_after)
    s = reader.read(run, volume=volume)
    return StatusReport("run", s.to_dict(), run=s)


def logs_document(
    run: str,
    tail: int = 100,
    *,
    since: str | None = None,
    search: str | None = None,
    source: str | None = None,
    timestamps: bool = False,
) -> dict[str, Any]:
    """`trainward logs RUN --tail N --json`: the last lines of the run's output, filtered
    (`since`: 30m, 2h, 1d or an ISO time; `search`: a substring; `source`: stdout, stderr or
    system)."""
    from dataclasses import asdict

    from trainward.backends.base import LogQuery
    from trainward.runs.logs import parse_since, read_logs

    if not 1 <= tail <= 10000:
        raise UsageError(f"tail must be 1 to 10000, got {tail}")
    if source not in (None, "stdout", "stderr", "system"):
        raise UsageError(f"invalid source {source!r}", hint="use stdout, stderr or system")
    query = LogQuery(parse_since(since) if since else None, search, source, timestamps)
    given = {"since": since, "search": search, "source": source}
    out = read_logs(Registry(), get_reader, run, tail=tail, query=query,
                    filters={k: v for k, v in given.items() if v})  # fmt: skip
    return asdict(out)


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
