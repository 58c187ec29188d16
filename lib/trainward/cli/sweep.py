"""`trainward sweep`: start a sweep (detached), and deploy its winner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trainward.backends import BACKENDS, get_backend, get_reader
from trainward.cli._common import emit, json_option, note
from trainward.errors import NotFound
from trainward.runs.registry import Registry
from trainward.sweep.launch import find_sweep, plan_sweep, start_sweep
from trainward.sweep.spec import apply_cli, load_sweep


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
    """Run N configs in parallel, validate them against each other, deploy the winner.

    `trainward sweep SWEEP.yaml` plans the sweep, refuses it when over budget (exit 3),
    syncs the data, starts a detached controller and returns at once. Follow it with
    `trainward status SWEEP`.
    """


@sweep.command("start")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(["full", "train-only", "validate-only"]),
    default="full",
    show_default=True,
    help="Train and validate, only train, or only validate runs trained earlier.",
)
@click.option("--single", metavar="NAME", help="Run only this member of the sweep.")
@click.option(
    "--validation-games",
    type=click.IntRange(min=1),
    help="Held-out games per matchup (round-robin) or in all (held-out).",
)
@click.option("--sequential", is_flag=True, help="One run and one validation worker at a time.")
@click.option("--no-deploy", is_flag=True, help="Do not copy the winner's weights into the repo.")
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
    mode: str,
    single: str | None,
    validation_games: int | None,
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
    )
    remote = next(iter(sw.members.values())).backend != "local"
    reader = None if (dry_run and remote) else get_reader(next(iter(sw.members.values())).backend)
    plan = plan_sweep(sw, mode=mode, no_deploy=no_deploy, registry=Registry(), reader=reader)
    summary = _summary(plan)
    if dry_run:
        from trainward.sweep.spec import check_budget

        emit({"dry_run": True, **summary}, as_json, lambda: _render(summary, dry_run=True))
        check_budget(plan["budget"])
        return
    start_sweep(sw, plan, get_backend(plan["backend"]), Registry(), note=note)
    emit(summary, as_json, lambda: _render(summary, dry_run=False))


def _summary(plan: dict[str, Any]) -> dict[str, Any]:
    b = plan["budget"]
    return {
        "sweep": plan["sweep"],
        "backend": plan["backend"],
        "mode": plan["mode"],
        "runs": list(plan["members"]),
        "parallel": plan["parallel"],
        "validation": {k: plan["validation"][k] for k in ("mode", "games", "workers", "metric")},
        "budget": {
            k: b[k]
            for k in ("estimate_usd", "estimate_gpu_hours", "max_cost_usd", "max_gpu_hours", "over")
        },
        "deploy": None if plan["no_deploy"] else plan["deploy"],
        "next": plan["next"],
    }


def _render(s: dict[str, Any], dry_run: bool) -> str:
    b = s["budget"]
    head = "Plan (dry run, nothing started)" if dry_run else "Sweep started (detached)"
    lines = [
        f"{head}: {s['sweep']} on {s['backend']}, {len(s['runs'])} runs, {s['parallel']} at a time",
        *(f"  - {r}" for r in s["runs"]),
        f"  validation {s['validation']['mode']} on {s['validation']['games']} games, {s['validation']['workers']} workers",
        f"  budget     estimate ${b['estimate_usd']:,.2f} / {b['estimate_gpu_hours']:,.2f} GPU-h; "
        f"limits {b['max_cost_usd'] or '-'} USD / {b['max_gpu_hours'] or '-'} GPU-h",
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
    help="Directory for <name>.pt and its metadata (default: the sweep's deploy.to).",
)
@json_option
def deploy(name: str, to: str | None, as_json: bool) -> None:
    """Copy the winner of finished sweep NAME, verified by sha256, into the repo (weights/)."""
    import json

    from trainward.sweep.local import deploy_winner

    rec = find_sweep(name)
    if rec is None:
        raise NotFound(
            f"unknown sweep '{name}'", hint="start one with `trainward sweep SWEEP.yaml`"
        )
    reader = get_reader(rec["backend"])
    results = json.loads(reader.read_file(rec["volume"], f"sweeps/{name}/results.json"))
    plan = (
        json.loads(Path(rec["controller"]["plan"]).read_text())
        if "plan" in rec["controller"]
        else _plan_of(rec)
    )
    meta = deploy_winner(reader, plan, results, Path(to) if to else None)
    emit(meta, as_json, f"deployed {meta['run']} -> {meta['path']} (sha256 {meta['sha256'][:12]}…)")


def _plan_of(rec: dict[str, Any]) -> dict[str, Any]:
    sw = load_sweep(rec["file"], backend=rec["backend"])
    return plan_sweep(sw, mode="validate-only", no_deploy=False, registry=Registry(), reader=None)
