"""Run commands: launch, status, runs, logs, wait, pull, stop. Each parses, calls the library, emits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from trainward import api
from trainward.api import documents
from trainward.backends import BACKENDS, get_reader
from trainward.cli import render
from trainward.cli._common import emit, json_option, note
from trainward.cli.progress import ProgressBar
from trainward.config.experiment import load_experiment
from trainward.config.overrides import Overrides
from trainward.runs.registry import Registry
from trainward.runs.status import require_readable
from trainward.runs.waiting import check_waited


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
    opts: dict[str, Any] = dict(
        epochs=epochs,
        max_games=max_games,
        overrides=sets,
        backend=backend,
        run_name=run_name,
        resume=resume,
        deployed=deployed,
        app=app,
        args=args,
    )
    if dry_run:
        plan = api.plan(config, **opts)
        return emit(
            documents.plan_document(plan),
            as_json,
            lambda: render.render_plan(plan, dry_run=True),
        )
    launched = api.launch(config, note=note, **opts).launched
    assert launched is not None
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
    """Read-only status of RUN (a name, `latest`, `all`, or a sweep's name): verdict, progress,
    metrics, ETA, cost.

    Exits 5 when neither the run's compute nor its ledger could be read (the verdict is then
    `unknown`, and the notes say what failed)."""
    report = documents.status_report(
        run,
        wandb=wandb_path,
        volume=volume,
        backend=backend,
        stale_after=stale_after,
        wandb_timeout=wandb_timeout,
        remote_timeout=remote_timeout,
    )
    s = report.run
    if s is None:
        if plot and report.kind == "sweep" and report.doc["validation"]["leaderboard"]:
            from trainward.sweep.plot import plot_results

            report.doc["plot"] = plot_results(report.doc["validation"], run, Path(plot))
        return emit(report.doc, as_json, lambda: _render_report(report))
    if plot:
        from trainward.runs.plot import plot_run

        s.links["plot"] = plot_run(s, get_reader(s.backend or "local"), Path(plot))
    emit(s.to_dict(), as_json, lambda: render.render_status(s))
    require_readable(s)


def _render_report(report: documents.StatusReport) -> str:
    if report.kind == "all":
        return render.render_runs(list(report.rows))
    return render.render_sweep(report.doc)


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
    doc = documents.runs_document(limit)
    emit(doc, as_json, lambda: render_run_rows(doc["runs"]))


def render_run_rows(rows: list[dict[str, Any]]) -> str:
    return (
        "\n".join(
            f"{r['run']:40} {r['backend']:6} {r['state']:13} {time.strftime('%Y-%m-%d %H:%M', time.localtime(r['launched_at'] or 0))}"
            for r in rows
        )
        or "No runs yet."
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
    doc = documents.logs_document(
        run, tail, since=since, search=search, source=source, timestamps=timestamps
    )
    emit(doc, as_json, "\n".join(doc["lines"]) or f"(no output for {doc['run']})")


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
    s = api.Run(Registry().resolve(run).run).wait(
        until=until,
        timeout=timeout,
        interval=interval,
        check=False,
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
    r = api.Run(Registry().resolve(run).run)
    if folder:
        with ProgressBar(f"pull {r.name}/{folder}") as bar:
            res = r.pull(to=to, folder=folder, progress=bar.update)
        emit(
            res,
            as_json,
            f"{res['files']} files into {res['to']}: {res['verified_sha256']} verified by sha256, "
            f"{res['verified_size_only']} by size only; sha256s recorded in {res['record']}",
        )
        return
    with ProgressBar(f"pull {r.name}/{which}") as bar:
        result = r.pull(which, to=to, progress=bar.update)
    emit(result, as_json, lambda: render.render_pull(result))


@click.command()
@click.argument("run")
@click.option("--yes", is_flag=True, help="Required: confirm stopping this exact run.")
@json_option
def stop(run: str, yes: bool, as_json: bool) -> None:
    """Stop RUN (the only destructive run action). Needs the exact run name and --yes."""
    emit(api.Run(run).stop(yes=yes), as_json, f"stopped {run}")
