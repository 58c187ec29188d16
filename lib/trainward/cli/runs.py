"""Run commands: launch, status, runs, logs, wait, pull, stop. Each parses, calls the library, emits."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from trainward.backends import BACKENDS, get_backend, get_reader
from trainward.backends.base import LogQuery
from trainward.cli import render
from trainward.cli._common import emit, json_option, note
from trainward.cli.progress import ProgressBar
from trainward.config.experiment import load_experiment
from trainward.config.overrides import Overrides
from trainward.runs.launch import LaunchRequest, plan_launch
from trainward.runs.launch import launch as launch_run
from trainward.runs.pull import pull_checkpoint, pull_folder
from trainward.runs.registry import Registry
from trainward.runs.status import StatusReader, require_readable
from trainward.runs.waiting import check_waited, wait_for
from trainward.tracking import LazyWandbReader


def experiment_options(f: Any) -> Any:
    """The override flags shared by launch, sweep and deploy."""
    for opt in reversed(
        [
            click.option("--epochs", type=click.IntRange(min=1), help="Override train.epochs."),
            click.option(
                "--max-games", type=click.IntRange(min=1), help="Override train.max_games."
            ),
            click.option(
                "--set",
                "sets",
                multiple=True,
                metavar="KEY.PATH=VALUE",
                help="Override any key, e.g. train.lr=1e-3.",
            ),
            click.option(
                "--backend", type=click.Choice(BACKENDS), help="Override the experiment's backend."
            ),
        ]
    ):
        f = opt(f)
    return f


def load_with_overrides(
    config: str,
    epochs: int | None,
    max_games: int | None,
    sets: tuple[str, ...],
    backend: str | None,
) -> tuple[Any, Overrides]:
    overrides = Overrides(
        epochs=epochs, max_games=max_games, sets=sets + ((f"backend={backend}",) if backend else ())
    )
    return load_experiment(config, overrides), overrides


def status_reader(backend: str, stale_after: float | None = None) -> StatusReader:
    """The reader `wait` polls with: no W&B calls (the ledger answers; each poll stays cheap)."""
    return StatusReader(Registry(), get_reader(backend), stale_after=stale_after)


def backend_of(run: str) -> str:
    return Registry().resolve(run).backend


@click.command()
@click.argument("config", type=click.Path(dir_okay=True))
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[-- ARGS]...")
@experiment_options
@click.option("--run-name", help="Name of the run (default: EXPERIMENT-YYYYmmdd-HHMMSS).")
@click.option(
    "--resume", metavar="RUN[/latest.pt|best.pt]", help="Continue from a run's checkpoint."
)
@click.option(
    "--deployed",
    is_flag=True,
    help="Modal: spawn from the app published by `trainward deploy` (no image build).",
)
@click.option(
    "--app", "app", help="With --deployed: the deployed app's name (default trainward-EXPERIMENT)."
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and the cost estimate; launch nothing."
)
@json_option
def launch(
    config: str,
    args: tuple[str, ...],
    epochs: int | None,
    max_games: int | None,
    sets: tuple[str, ...],
    backend: str | None,
    run_name: str | None,
    resume: str | None,
    deployed: bool,
    app: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Launch CONFIG as a detached run: check setup, sync data, start, record, show the cost.

    Arguments after `--` go to your program (a command's argv, a function's ctx.args, a
    Modal function's keyword arguments), with {run_dir}, {data_dir}, {resume} filled in.
    The run survives this process and its terminal. With --dry-run, nothing is touched and,
    on Modal, no remote call is made (no credentials needed).
    """
    exp, overrides = load_with_overrides(config, epochs, max_games, sets, backend)
    req = LaunchRequest(
        exp,
        config,
        overrides,
        run_name=run_name,
        resume=resume,
        deployed_app=(app or f"trainward-{exp.name}") if deployed else None,
        args=args,
    )
    if dry_run:
        reader = get_reader("local") if exp.backend == "local" else None
        plan = plan_launch(req, Registry(), reader)
        doc = {"dry_run": True, **plan.to_json()}
        return emit(doc, as_json, lambda: render.render_plan(plan, dry_run=True))
    launched = launch_run(req, get_backend(exp.backend), Registry(), note=note)
    emit(launched.to_json(), as_json, lambda: render.render_plan(launched.plan, dry_run=False))


@click.command()
@click.argument("run", required=False, default="latest")
@click.option(
    "--wandb",
    "wandb_path",
    metavar="ENTITY/PROJECT[/RUN]",
    help="Read a W&B run directly (no registry entry needed).",
)
@click.option("--volume", help="Read a run that is not in the registry from this volume.")
@click.option(
    "--backend", type=click.Choice(BACKENDS), help="Backend of --volume (default: local)."
)
@click.option(
    "--stale-after",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds without metrics or output before a live run is stale or silent "
    "(default: the run's silent_after, 10 minutes).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Also draw a PNG: a run's loss and validation curves, or a sweep's matrix and leaderboard.",
)
@click.option(
    "--wandb-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Bound on the W&B check, in seconds.",
)
@click.option(
    "--remote-timeout",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Bound on each Modal read, in seconds (compute and ledger are read at the same time).",
)
@json_option
def status(
    run: str,
    wandb_path: str | None,
    volume: str | None,
    backend: str | None,
    stale_after: float | None,
    plot: str | None,
    wandb_timeout: float,
    remote_timeout: float,
    as_json: bool,
) -> None:
    """Read-only status of RUN (a name, `latest`, or `all`): verdict, progress, metrics, ETA, cost.

    Exits 5 when neither the run's compute nor its ledger could be read (the verdict is then
    `unknown`, and the notes say what failed)."""
    from trainward.runs.status import status_many, status_wandb
    from trainward.sweep.status import sweep_status
    from trainward.sweep.store import find as find_sweep

    tracker = LazyWandbReader(timeout=wandb_timeout)
    if wandb_path:
        s = status_wandb(wandb_path, tracker, stale_after=stale_after or 600.0)
    elif run == "all":
        rows = status_many(Registry(), get_reader, stale_after=stale_after)
        return emit(
            {"runs": [r.to_dict() for r in rows]}, as_json, lambda: render.render_runs(rows)
        )
    elif Registry().get(run) is None and not volume and (sw := find_sweep(run)):
        doc = sweep_status(run, get_reader(sw.backend), Registry())
        if plot and doc["validation"]["leaderboard"]:
            from trainward.sweep.plot import plot_results

            doc["plot"] = plot_results(doc["validation"], run, Path(plot))
        return emit(doc, as_json, lambda: render.render_sweep(doc))
    else:
        name = backend or (backend_of(run) if not volume else "local")
        reader = get_reader(name, timeout=remote_timeout)
        s = StatusReader(Registry(), reader, tracker=tracker, stale_after=stale_after).read(
            run, volume=volume
        )
    if plot:
        from trainward.runs.plot import plot_run

        s.links["plot"] = plot_run(s, get_reader(s.backend or "local"), Path(plot))
    emit(s.to_dict(), as_json, lambda: render.render_status(s))
    require_readable(s)


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many runs.",
)
@json_option
def runs(limit: int, as_json: bool) -> None:
    """List launched runs from the registry (newest last). Cheap: reads no ledgers."""
    recs = Registry().records()[-limit:]
    rows = [
        {
            k: getattr(r, k)
            for k in (
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
        }
        for r in recs
    ]
    emit(
        {"runs": rows},
        as_json,
        lambda: (
            "\n".join(
                f"{r['run']:40} {r['backend']:6} {r['state']:13} {time.strftime('%Y-%m-%d %H:%M', time.localtime(r['launched_at'] or 0))}"
                for r in rows
            )
            or "No runs yet."
        ),
    )


@click.command()
@click.argument("run")
@click.option(
    "--tail",
    type=click.IntRange(min=1, max=10000),
    default=100,
    show_default=True,
    help="Lines to show (bounded; never follows).",
)
@click.option("--since", metavar="WHEN", help="Only lines since then: 30m, 2h, 1d, or an ISO time.")
@click.option("--search", metavar="TEXT", help="Only lines containing TEXT.")
@click.option(
    "--source",
    type=click.Choice(["stdout", "stderr", "system"]),
    help="Only lines from this stream (system: trainward's and the platform's own lines).",
)
@click.option("--timestamps", is_flag=True, help="Prefix each line with its time (UTC).")
@json_option
def logs(
    run: str,
    tail: int,
    since: str | None,
    search: str | None,
    source: str | None,
    timestamps: bool,
    as_json: bool,
) -> None:
    """The last --tail lines of RUN's output, filtered. Fetches and exits; there is no follow mode."""
    from trainward.runs.logs import parse_since, read_logs

    query = LogQuery(parse_since(since) if since else None, search, source, timestamps)
    given = {"since": since, "search": search, "source": source}
    out = read_logs(Registry(), get_reader, run, tail=tail, query=query,
                    filters={k: v for k, v in given.items() if v})  # fmt: skip
    emit(asdict(out), as_json, "\n".join(out.lines) or f"(no output for {out.run})")


@click.command()
@click.argument("run", default="latest")
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Give up after this many seconds (the run goes on).",
)
@click.option(
    "--interval", type=float, default=2.0, show_default=True, help="Seconds between polls."
)
@click.option(
    "--until",
    type=click.Choice(["end", "checkpoint"]),
    default="end",
    show_default=True,
    help="Stop waiting when the run ends, or once it has written its first checkpoint.",
)
@json_option
def wait(run: str, timeout: float, interval: float, until: str, as_json: bool) -> None:
    """Poll RUN's status (read-only) until it ends or --timeout passes. The run is never touched.

    Exits 0 when the run finished (or, with --until checkpoint, has a checkpoint), 1 when it
    ended otherwise or is still going at --timeout.
    """
    s = wait_for(
        status_reader(backend_of(run)),
        run,
        until=until,
        timeout=timeout,
        interval=interval,
        progress=lambda st: note(f"{st.run}: {st.verdict} · {render.progress_line(st)}"),
    )
    text = f"{s.run}: {s.verdict} after {render.duration(s.timing.runtime_s)}"
    emit(s.to_dict(), as_json, text + (f" ({s.reason})" if s.reason else ""))
    check_waited(s, until=until, timeout=timeout)


@click.command()
@click.argument("run")
@click.option(
    "--which",
    type=click.Choice(["latest", "best"]),
    default="best",
    show_default=True,
    help="Which checkpoint.",
)
@click.option(
    "--to",
    "to",
    type=click.Path(),
    default="checkpoints",
    show_default=True,
    help="Directory (or .pt file) to write.",
)
@click.option(
    "--folder",
    metavar="PATH",
    help="Pull this folder of the run (relative to runs/RUN/) into --to instead of a checkpoint.",
)
@json_option
def pull(run: str, which: str, to: str, folder: str | None, as_json: bool) -> None:
    """Download RUN's latest or best checkpoint, or a whole --folder, verified by size and sha256 (read-only on the remote)."""
    rec = Registry().resolve(run)
    if folder:
        with ProgressBar(f"pull {rec.run}/{folder}") as bar:
            res = pull_folder(
                get_reader(rec.backend),
                rec.volume,
                rec.run,
                folder,
                Path(to),
                progress=bar.update,
            )
        emit(
            res,
            as_json,
            f"{res['files']} files into {res['to']}: {res['verified_sha256']} verified by sha256, "
            f"{res['verified_size_only']} by size only; sha256s recorded in {res['record']}",
        )
        return
    with ProgressBar(f"pull {rec.run}/{which}") as bar:
        result = pull_checkpoint(
            get_reader(rec.backend),
            rec.volume,
            rec.run,
            which,
            Path(to),
            progress=bar.update,
        )
    emit(result, as_json, lambda: render.render_pull(result))


@click.command()
@click.argument("run")
@click.option("--yes", is_flag=True, help="Required: confirm stopping this exact run.")
@json_option
def stop(run: str, yes: bool, as_json: bool) -> None:
    """Stop RUN (the only destructive run action). Needs the exact run name and --yes."""
    from trainward.runs.stopping import stop_run

    emit(stop_run(Registry(), get_backend, run, yes=yes), as_json, f"stopped {run}")
