"""`trainward watch`: one pass over the recent runs that sends the alerts that are due."""

from __future__ import annotations

from typing import Any

import click

from trainward.backends import get_backend
from trainward.cli._common import emit, json_option
from trainward.config.values import parse_duration
from trainward.errors import UsageError
from trainward.runs.registry import Registry
from trainward.runs.watch import watch_runs


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Check the last N runs of the registry.",
)
@click.option(
    "--since",
    default="24h",
    show_default=True,
    help="Announce an end nobody reported only if it is younger than this (e.g. 6h, 90m).",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds without a log before a run is stale (default: each run's alerts.stale_after).",
)
@click.option(
    "--dry-run", is_flag=True, help="List the alerts that are due; send and record nothing."
)
@json_option
def watch(limit: int, since: str, stale_after: float | None, dry_run: bool, as_json: bool) -> None:
    """Check the recent runs once, send the alerts that are due, and exit (it never follows):
    a run gone stale, and an end that no worker reported. Only runs whose experiment has
    `alerts:` are checked; each alert is sent at most once. Run it from cron, e.g.
    `*/10 * * * * trainward watch --json`. Exits 1 when an alert could not be sent."""
    try:
        since_s = parse_duration(since, cap=None)
    except ValueError as err:
        raise UsageError(f"--since: {err}") from None
    result = watch_runs(
        Registry(),
        get_backend,
        limit=limit,
        since_s=since_s,
        stale_after=stale_after,
        dry_run=dry_run,
    )
    emit(result, as_json, lambda: render(result))
    if any(not a["sent"] for a in result["alerts"]) and not dry_run:
        raise click.exceptions.Exit(1)


def render(result: dict[str, Any]) -> str:
    verb = "due" if result["dry_run"] else "sent"
    lines = [f"checked {result['checked']} runs with alerts; {len(result['alerts'])} {verb}"]
    for a in result["alerts"]:
        state = (
            ""
            if result["dry_run"]
            else ("  ok" if a["sent"] else f"  NOT SENT: {a['error'] or a['status']}")
        )
        lines.append(f"  {a['run']}: {a['event']}{state}")
    return "\n".join(lines)
