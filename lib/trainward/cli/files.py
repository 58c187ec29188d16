"""`trainward files RUN [PATH]`: what a run wrote on its volume (read-only), for `pull --folder`."""

from __future__ import annotations

import click

from trainward.api import documents
from trainward.cli._common import emit, json_option


@click.command()
@click.argument("run")
@click.argument("path", required=False, default="")
@click.option("--recursive", "-r", is_flag=True, help="List everything below PATH.")
@json_option
def files(run: str, path: str, recursive: bool, as_json: bool) -> None:
    """List RUN's files on its volume (under runs/RUN/PATH). Read-only; never downloads."""
    doc = documents.files_document(run, path, recursive=recursive)
    emit(
        doc,
        as_json,
        lambda: (
            "\n".join(
                f"{'d' if r['dir'] else '-'} {r['size']:>12}  {r['path']}" for r in doc["files"]
            )
            or "(empty)"
        ),
    )
