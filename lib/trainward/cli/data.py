"""Data commands: push a dataset directory to a volume, compare the two, generate the synthetic set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trainward.backends import BACKENDS, get_backend, get_reader
from trainward.cli._common import emit, json_option, note
from trainward.cli.progress import ProgressBar, human_bytes
from trainward.data import sync as datasync
from trainward.errors import UsageError


def target_options(f: Any) -> Any:
    """DIR, --volume, --to, --backend and --verify, shared by push and status."""
    for opt in reversed(
        [
            click.argument(
                "directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path)
            ),
            click.option("--volume", required=True, help="The volume to push to."),
            click.option(
                "--to",
                "dest",
                required=True,
                metavar="PATH",
                help="Directory on the volume, e.g. datasets/NAME.",
            ),
            click.option(
                "--backend",
                type=click.Choice(BACKENDS),
                default="local",
                show_default=True,
                help="Where the volume lives.",
            ),
            click.option(
                "--verify",
                is_flag=True,
                help="Also check the volume's listing against the manifest's sizes.",
            ),
        ]
    ):
        f = opt(f)
    return f


@click.group()
def data() -> None:
    """Push datasets to a volume incrementally, and compare them (see docs/data.md)."""


@data.command()
@target_options
@click.option(
    "--delete",
    is_flag=True,
    help="Also remove files that are on the volume but no longer in DIR (needs --yes).",
)
@click.option("--yes", is_flag=True, help="Confirm --delete.")
@click.option("--dry-run", is_flag=True, help="Print the plan; upload and delete nothing.")
@json_option
def push(
    directory: Path,
    volume: str,
    dest: str,
    backend: str,
    verify: bool,
    delete: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Upload the new and changed files of DIR to VOLUME:PATH, verified by sha256 and resumable."""
    with ProgressBar(f"hash {directory}") as hbar, ProgressBar(f"push {volume}:{dest}") as bar:
        plan = datasync.push(
            get_backend(backend),
            directory,
            volume,
            dest,
            delete=delete,
            yes=yes,
            dry_run=dry_run,
            verify=verify,
            progress=bar.update,
            hash_progress=hbar.update,
        )
    emit(plan.to_dict(), as_json, lambda: describe(plan))


@data.command()
@target_options
@json_option
def status(
    directory: Path, volume: str, dest: str, backend: str, verify: bool, as_json: bool
) -> None:
    """Show what differs between DIR and VOLUME:PATH (read-only)."""
    with ProgressBar(f"hash {directory}") as hbar:
        plan = datasync.status(
            get_reader(backend), directory, volume, dest, verify=verify, hash_progress=hbar.update
        )
    emit(plan.to_dict(), as_json, lambda: describe(plan))


@data.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--games", type=click.IntRange(min=1), required=True, help="How many games to generate."
)
@click.option(
    "--frames", type=click.IntRange(min=2), default=600, show_default=True, help="Frames per game."
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed (game i depends only on seed, i, frames).",
)
@json_option
def generate(directory: Path, games: int, frames: int, seed: int, as_json: bool) -> None:
    """Generate the built-in trainer's synthetic replay dataset into DIR (numpy only; existing
    identical games are kept)."""
    from trainward.config.schema import build
    from trainward.core.plugins import trainer_plugin

    plugin = trainer_plugin("builtin")
    section: object = build(
        plugin.schema, {"generate": {"games": games, "frames": frames, "seed": seed}}
    )
    try:
        plugin.prepare_data(section, directory, note)
    except ImportError as err:
        raise UsageError(
            f"generating data needs numpy ({err})", hint="pip install 'trainward[train]'"
        ) from None
    files = sorted(directory.glob("game-*.npy"))[:games]
    size = sum(p.stat().st_size for p in files)
    doc = {
        "directory": str(directory),
        "games": games,
        "frames": frames,
        "seed": seed,
        "files": len(files),
        "bytes": size,
    }
    emit(doc, as_json, f"{len(files)} games ({human_bytes(size)}) in {directory}")


def describe(plan: datasync.SyncPlan) -> str:
    """The human summary of a push or status plan."""
    where = f"{plan.volume}:{plan.dest}"
    lines = []
    if plan.uploaded_files or plan.deleted:
        lines.append(
            f"pushed {plan.uploaded_files} file(s) ({human_bytes(plan.uploaded_bytes)}) to {where} in "
            f"{plan.seconds:.1f} s; {plan.unchanged} unchanged; {len(plan.deleted)} deleted"
        )
    elif plan.up_to_date:
        lines.append(f"{where} is up to date ({plan.files} files, {human_bytes(plan.bytes)})")
    else:
        lines.append(
            f"{where}: {len(plan.new)} new and {len(plan.changed)} changed file(s) to upload "
            f"({human_bytes(plan.upload_bytes)}); {plan.unchanged} unchanged"
        )
    shown = [] if plan.uploaded_files else [("new", plan.new), ("changed", plan.changed)]
    if not plan.deleted:
        shown.append(("only on the volume (kept; --delete --yes removes them)", plan.remote_only))
    for label, items in shown:
        if items:
            lines.append(
                f"  {label}: {', '.join(items[:10])}"
                + (f" (+{len(items) - 10} more)" if len(items) > 10 else "")
            )
    if plan.verified:
        v = plan.verified
        lines.append(
            f"  checked against the volume's listing: {len(v['missing'])} missing, "
            f"{len(v['size_mismatch'])} with another size, {len(v['unrecorded'])} not in the manifest"
        )
    if plan.push_in_progress and not plan.push_in_progress["stale"]:
        lines.append(
            f"  a push is in progress (host {plan.push_in_progress.get('host')}, pid {plan.push_in_progress.get('pid')})"
        )
    if plan.remote_manifest == "invalid":
        lines.append(f"  the manifest on the volume was not trusted: {plan.remote_manifest_error}")
    if plan.not_recorded:
        lines.append(
            f"  {len(plan.not_recorded)} file(s) changed during the push and will be sent again next time"
        )
    return "\n".join(lines)
