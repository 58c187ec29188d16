"""Runs and sweeps as Python objects: each method is one library call, and nothing is cached
(a `Run` is a name; every call reads the registry and the run's ledger afresh)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainward.backends import get_backend, get_reader
from trainward.backends.base import RunHandle
from trainward.config.experiment import Experiment, load_experiment
from trainward.config.overrides import Overrides
from trainward.core.contracts import LaunchPlan, RegistryRecord
from trainward.core.paths import run_path
from trainward.core.states import SweepMode
from trainward.core.sweep_contracts import SweepPlan
from trainward.errors import UsageError
from trainward.runs.launch import Launched, LaunchRequest, plan_launch
from trainward.runs.launch import launch as launch_run
from trainward.runs.registry import Registry
from trainward.runs.runstatus import RunStatus
from trainward.runs.status import StatusReader, status_many
from trainward.runs.waiting import check_waited, wait_for
from trainward.tracking import LazyWandbReader

Note = Callable[[str], None]
Overridden = Mapping[str, Any] | Iterable[str]


def stderr_note(message: str) -> None:
    """Progress of a launch or a sweep start (data sync, retries), on stderr as in the CLI."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Run:
    """A launched run, by its name. `tw.launch` returns one; `tw.runs()` lists them."""

    name: str
    backend: str = "local"
    #: what the launch returned (registry record and plan), on the Run `launch` gives
    launched: Launched | None = field(default=None, compare=False, repr=False)

    @property
    def record(self) -> RegistryRecord:
        """The run's current registry record (ids, state of the launch, overrides)."""
        return Registry().resolve(self.name)

    def status(self, *, stale_after: float | None = None, wandb_timeout: float = 10.0) -> RunStatus:
        """Read-only status: verdict, progress, metrics, ETA, cost (`trainward status RUN`)."""
        return status(self.name, stale_after=stale_after, wandb_timeout=wandb_timeout)

    def wait(
        self,
        *,
        timeout: float = 600.0,
        interval: float = 2.0,
        until: str = "end",
        check: bool = True,
        progress: Callable[[RunStatus], None] = lambda s: None,
    ) -> RunStatus:
        """Poll until the run ends (or, `until="checkpoint"`, has one) or `timeout` passes,
        read-only (no W&B calls). With `check`, raise RunFailed unless it ended the way asked
        (`trainward wait`)."""
        reader = StatusReader(Registry(), get_reader(self.record.backend))
        s = wait_for(
            reader, self.name, until=until, timeout=timeout, interval=interval, progress=progress
        )
        if check:
            check_waited(s, until=until, timeout=timeout)
        return s

    def pull(
        self,
        which: str = "best",
        *,
        to: str | Path = "checkpoints",
        folder: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Download the `latest` or `best` checkpoint (or a whole `folder` of the run),
        verified by size and sha256; the remote is only read (`trainward pull`)."""
        from trainward.runs.pull import pull_checkpoint, pull_folder

        rec = self.record
        reader = get_reader(rec.backend)
        if folder:
            return pull_folder(reader, rec.volume, rec.run, folder, Path(to), progress=progress)
        return pull_checkpoint(reader, rec.volume, rec.run, which, Path(to), progress=progress)

    def logs(self, tail: int = 100) -> list[str]:
        """The last `tail` lines of the run's output (bounded; never follows)."""
        rec = self.record
        reader = get_reader(rec.backend)
        handle = (
            RunHandle(rec.backend, rec.run, dict(rec.ids)) if rec.ids else reader.find_run(rec.run)
        )
        return (reader.logs(handle, tail=tail) if handle else "").splitlines()

    def files(self, path: str = "", *, recursive: bool = False) -> list[dict[str, Any]]:
        """What the run wrote on its volume under runs/RUN/PATH (read-only)."""
        rec = self.record
        base = f"{run_path(rec.run)}/{path.strip('/')}".rstrip("/")
        entries = get_reader(rec.backend).list_files(rec.volume, base, recursive=recursive)
        return [
            {
                "path": e.path.removeprefix(run_path(rec.run) + "/"),
                "size": e.size,
                "dir": e.is_dir,
                "mtime": e.mtime,
            }
            for e in entries
        ]

    def stop(self, *, yes: bool = False) -> dict[str, Any]:
        """Stop the run: the only destructive action, refused without `yes=True` (the same
        rule as `trainward stop RUN --yes`; see trainward.runs.stopping)."""
        from trainward.runs.stopping import stop_run

        return stop_run(Registry(), get_backend, self.name, yes=yes)


def _overrides(
    epochs: int | None, max_games: int | None, overrides: Overridden, backend: str | None
) -> Overrides:
    if isinstance(overrides, Mapping):
        sets = tuple(f"{k}={json.dumps(v)}" for k, v in overrides.items())
    elif isinstance(overrides, str):
        raise UsageError(
            f"overrides must be a mapping or a list of KEY=VALUE strings, not {overrides!r}",
            hint='e.g. overrides={"train.lr": 1e-3}',
        )
    else:
        sets = tuple(overrides)
    sets += (f"backend={backend}",) if backend else ()
    return Overrides(epochs=epochs, max_games=max_games, sets=sets)


def request(
    config: str | Path,
    *,
    epochs: int | None = None,
    max_games: int | None = None,
    overrides: Overridden = (),
    backend: str | None = None,
    run_name: str | None = None,
    resume: str | None = None,
    deployed: bool = False,
    app: str | None = None,
    args: Iterable[str] = (),
) -> LaunchRequest:
    """The launch request `trainward launch CONFIG [options]` builds."""
    ov = _overrides(epochs, max_games, overrides, backend)
    exp: Experiment = load_experiment(config, ov)
    return LaunchRequest(
        exp,
        str(config),
        ov,
        run_name=run_name,
        resume=resume,
        deployed_app=(app or f"trainward-{exp.name}") if deployed else None,
        args=tuple(args),
    )


def plan(config: str | Path, **options: Any) -> LaunchPlan:
    """The dry run of `launch` with the same options: run name, resources, data, cost.
    Touches nothing; on Modal it makes no remote call."""
    req = request(config, **options)
    reader = get_reader("local") if req.experiment.backend == "local" else None
    return plan_launch(req, Registry(), reader)


def launch(config: str | Path, *, note: Note = stderr_note, **options: Any) -> Run:
    """Launch `config` detached and return its Run at once (`trainward launch`). Options:
    epochs, max_games, overrides ({"train.lr": 1e-3} or ["train.lr=1e-3"]), backend,
    run_name, resume ("RUN" or "RUN/best.pt"), deployed, app, args (after `--`)."""
    req = request(config, **options)
    launched = launch_run(req, get_backend(req.experiment.backend), Registry(), note=note)
    return Run(launched.record.run, launched.record.backend, launched)


def status(
    run: str = "latest", *, stale_after: float | None = None, wandb_timeout: float = 10.0
) -> RunStatus:
    """Read-only status of one run (a name or `latest`); `status_all()` for every run.
    `stale_after` defaults to the run's own `silent_after` (10 minutes when it has none)."""
    if run == "all":
        raise UsageError("status() reads one run", hint="use trainward.status_all() for every run")
    backend = Registry().resolve(run).backend
    tracker = LazyWandbReader(timeout=wandb_timeout)
    return StatusReader(
        Registry(), get_reader(backend), tracker=tracker, stale_after=stale_after
    ).read(run)


def status_all(limit: int = 20, *, stale_after: float | None = None) -> list[RunStatus]:
    """The recent runs' statuses, oldest first (no W&B calls)."""
    return status_many(Registry(), get_reader, limit=limit, stale_after=stale_after)


def runs(limit: int = 20) -> list[Run]:
    """The launched runs in the registry, newest last (reads no ledgers)."""
    return [Run(r.run, r.backend) for r in Registry().records()[-limit:]]


@dataclass(frozen=True)
class Sweep:
    """A sweep: its name, backend and plan (plain data, as `sweep --dry-run --json` shows)."""

    name: str
    backend: str
    plan: SweepPlan = field(repr=False)
    started: bool = True

    @property
    def runs(self) -> list[Run]:
        return [Run(name, self.backend) for name in self.plan.members]

    def status(self) -> dict[str, Any]:
        """Every member's status, validation progress and the leaderboard (`status SWEEP`)."""
        from trainward.sweep.status import sweep_status

        return sweep_status(self.name, get_reader(self.backend), Registry())


def sweep(
    file: str | Path,
    *,
    mode: SweepMode = "full",
    single: str | None = None,
    validation_games: int | None = None,
    sequential: bool = False,
    no_deploy: bool = False,
    backend: str | None = None,
    overrides: Iterable[str] = (),
    dry_run: bool = False,
    note: Note = stderr_note,
) -> Sweep:
    """Plan the sweep in `file` and start it detached (`trainward sweep FILE`); with
    `dry_run`, only plan it (`started` is False; the plan's `budget.over` says whether it
    would be refused). Over budget, starting raises Refused."""
    from trainward.sweep.launch import plan_sweep, start_sweep
    from trainward.sweep.spec import apply_cli, load_sweep

    sw = apply_cli(
        load_sweep(file, tuple(overrides), backend=backend),
        single=single,
        validation_games=validation_games,
        sequential=sequential,
    )
    name = next(iter(sw.members.values())).backend
    reader = None if (dry_run and name != "local") else get_reader(name)
    planned = plan_sweep(sw, mode=mode, no_deploy=no_deploy, registry=Registry(), reader=reader)
    if not dry_run:
        start_sweep(sw, planned, get_backend(planned.backend), Registry(), note=note)
    return Sweep(planned.sweep, planned.backend, planned, started=not dry_run)
