"""`trainward schema`: the JSON Schema of experiment files, for editors and assistants."""

from __future__ import annotations

from pathlib import Path

import click

from trainward.cli._common import emit, json_option
from trainward.config.jsonschema import dumps, experiment_schema
from trainward.core.fileio import atomic_write


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the schema to this file (and print where) instead of printing it.",
)
@json_option
def schema(output: Path | None, as_json: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of experiment files, generated from the config
    classes. Point your editor's YAML support at it, e.g. a first line
    `# yaml-language-server: $schema=schema/experiment.schema.json`."""
    doc = experiment_schema()
    if output is None:
        return emit(doc, as_json, lambda: dumps(doc).rstrip("\n"))
    atomic_write(output, dumps(doc).encode("utf-8"), fsync=False)
    emit({"path": str(output), "title": doc["title"]}, as_json, f"wrote {output}")
