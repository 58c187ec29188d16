"""`trainward files RUN [PATH]`: what a run wrote on its volume (read-only), for `pull --folder`."""

from __future__ import annotations

import click

from trainward.backends import get_reader
from trainward.cli._common import emit, json_option
from trainward.core.paths import run_path
from trainward.runs.registry import Registry


@click.command()
@click.argument("run")
@click.argument("path", required=False, default="")
@click.option("--recursive", "-r", is_flag=True, help="List everything below PATH.")
@json_option
def files(run: str, path: str, recursive: bool, as_json: bool) -> None:
    """List RUN's files on its volume (under runs/RUN/PATH). Read-only; never downloads."""
    rec = Registry().resolve(run)
    base = f"{run_path(rec.run)}/{path.strip('/')}".rstrip("/")
    entries = get_reader(rec.backend).list_files(rec.volume, base, recursive=recursive)
    rows = [
        {
            "path": e.path.removeprefix(run_path(rec.run) + "/"),
            "size": e.size,
            "dir": e.is_dir,
            "mtime": e.mtime,
        }
        for e in entries
    ]
    emit(
        {"run": rec.run, "volume": rec.volume, "base": base, "files": rows},
        as_json,
        lambda: (
            "\n".join(f"{'d' if r['dir'] else '-'} {r['size']:>12}  {r['path']}" for r in rows)
            or "(empty)"
        ),
    )
