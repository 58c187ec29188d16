"""`trainward sweep`: start a sweep (detached), and bring a finished one home (deploy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trainward.backends import BACKENDS, get_backend, get_reader
from trainward.cli import render
from trainward.cli._common import emit, json_option, note
from trainward.core.states import SweepMode
from trainward.core.sweep_contracts import SweepPlan
from trainward.runs.registry import Registry
from trainward.sweep.launch import plan_sweep, start_sweep
from trainward.sweep.spec import apply_cli, check_budget, load_sweep


class SweepGroup(click.Group):
    """`trainward sweep FILE ...` starts a sweep; `trainward sweep deploy NAME` is a subcommand."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """`trainward sweep --help` also shows how to start one (the options of `start`)."""
        super().format_help(ctx, formatter)
        start_cmd = self.commands["start"]
        with formatter.section("Starting a sweep (trainward sweep SWEEP_FILE [OPTIONS])"):
            rows = [p.get_help_record(ctx) for p in start_cmd.params]
            formatter.write_dl([r for r in rows if r is not None])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep() -> None:
    """Run N configs in parallel, validate them against each other, deploy the weights.

    `trainward sweep SWEEP.yaml` plans the sweep, refuses it when over budget (exit 3),
    syncs the data, starts a detached controller and returns at once. Follow it with
    `trainward status SWEEP`. Members are any entrypoint (with their own `args:` and
    `resources:`); validation is the built-in one or your own program (docs/sweeps.md).
    """


@sweep.command("start")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(["full", "train-only", "validate-only"]),
    default="full",
    show_default=True,
    help="Train and validate, only train, or only validate (again) the weights trained earlier.",
)
@click.option("--single", metavar="NAME", help="Run only this member of the sweep.")
@click.option(
    "--validation-games",
    type=click.IntRange(min=1),
    help="Games per matchup and direction (your program), or held-out games (built-in).",
)
@click.option(
    "--validation-timeout",
    metavar="DURATION",
    help="Per validation slice (600, 10m); a slice past it is killed, retried once, then failed.",
)
@click.option("--sequential", is_flag=True, help="One run and one validation worker at a time.")
@click.option(
    "--no-deploy", is_flag=True, help="Do not copy weights into the repo (later: sweep deploy)."
)
@click.option("--backend", type=click.Choice(BACKENDS), help="Override the sweep's backend.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Sweep keys (max_cost_usd=5) or run keys (train.epochs=1).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and the budget; start nothing.")
@json_option
def start(
    sweep_file: str,
    mode: SweepMode,
    single: str | None,
    validation_games: int | None,
    validation_timeout: str | None,
    sequential: bool,
    no_deploy: bool,
    backend: str | None,
    sets: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Start the sweep in SWEEP_FILE (detached); see `trainward sweep --help`."""
    sw = apply_cli(
        load_sweep(sweep_file, sets, backend=backend),
        single=single,
        validation_games=validation_games,
        sequential=sequential,
        validation_timeout=validation_timeout,
    )
    remote = next(iter(sw.members.values())).backend != "local"
    reader = None if (dry_run and remote) else get_reader(next(iter(sw.members.values())).backend)
    plan = plan_sweep(sw, mode=mode, no_deploy=no_deploy, registry=Registry(), reader=reader)
    summary = _summary(plan)
    if dry_run:
        emit({"dry_run": True, **summary}, as_json, lambda: _render(summary, dry_run=True))
        check_budget(plan.budget)
        return
    start_sweep(sw, plan, get_backend(plan.backend), Registry(), note=note)
    emit(summary, as_json, lambda: _render(summary, dry_run=False))


def _summary(plan: SweepPlan) -> dict[str, Any]:
    b, v = plan.budget, plan.validation
    return {
        "sweep": plan.sweep,
        "backend": plan.backend,
        "mode": plan.mode,
        "plan_id": plan.plan_id,
        "runs": list(plan.members),
        "args": {run: list(m.args) for run, m in plan.members.items() if m.args},
        "parallel": plan.parallel,
        "validation": {
            "mode": v.mode,
            "games": v.games,
            "workers": v.workers,
            "metric": v.metric,
            "program": " ".join(v.command) or v.function,
            "timeout_s": v.timeout_s,
        },
        "budget": {
            "estimate_usd": b.estimate_usd,
            "estimate_gpu_hours": b.estimate_gpu_hours,
            "max_cost_usd": b.max_cost_usd,
            "max_gpu_hours": b.max_gpu_hours,
            "over": list(b.over),
        },
        "deploy": None if plan.no_deploy else _deploy_summary(plan),
        "results_to": plan.results_to,
        "next": plan.next,
    }


def _deploy_summary(plan: SweepPlan) -> dict[str, Any]:
    if plan.deploys_members:
        root = Path(plan.project_root or ".")
        files = {
            f"{run}/{a}": str(root / t)
            for run, m in plan.members.items()
            for a, t in m.deploy.items()
        }
        return {"files": files}
    return plan.deploy.to_json()


def _render(s: dict[str, Any], dry_run: bool) -> str:
    b, v = s["budget"], s["validation"]
    head = "Plan (dry run, nothing started)" if dry_run else "Sweep started (detached)"
    lines = [
        f"{head}: {s['sweep']} on {s['backend']}, {len(s['runs'])} runs, {s['parallel']} at a time",
        *(f"  - {r} {' '.join(s['args'].get(r, []))}".rstrip() for r in s["runs"]),
        f"  validation {v['mode']} on {v['games']} games, {v['workers']} workers"
        + (f", by {v['program']}" if v["program"] else ""),
        f"  budget     estimate ${b['estimate_usd']:,.2f} / {b['estimate_gpu_hours']:,.2f} GPU-h; "
        f"limits {b['max_cost_usd'] or '-'} USD / {b['max_gpu_hours'] or '-'} GPU-h",
        f"  results    {s['results_to']}",
    ]
    if not dry_run:
        lines.append(f"  watch      {s['next']['status']}")
    return "\n".join(lines)


@sweep.command("deploy")
@click.argument("name")
@click.option(
    "--to",
    "to",
    type=click.Path(file_okay=False),
    help="Root for the files (default: the project), or the directory for the winner's <name>.pt.",
)
@click.option(
    "--results-to",
    type=click.Path(file_okay=False),
    help="Folder for results.json, summary.txt and the config (default: the sweep's results_to).",
)
@json_option
def deploy(name: str, to: str | None, results_to: str | None, as_json: bool) -> None:
    """Bring finished sweep NAME home: its results into a local folder, and its weights
    (every member's files, or the winner's checkpoint), verified by sha256, into the repo."""
    from trainward.sweep.deploy import deploy_later
    from trainward.sweep.store import find

    rec = find(name)
    reader = get_reader(rec.backend if rec else "local")
    doc = deploy_later(
        name,
        reader,
        to=Path(to) if to else None,
        results_to=Path(results_to) if results_to else None,
    )
    emit(doc, as_json, lambda: render.render_sweep_deploy(doc))
