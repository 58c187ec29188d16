"""`trainward doctor`: the first command every skill runs."""

from __future__ import annotations

import click

from trainward.api import documents
from trainward.backends import BACKENDS
from trainward.cli._common import emit, json_option
from trainward.runs import doctor as doctor_lib


@click.command()
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    help="Backend to check (default: the config's, else local).",
)
@click.option(
    "--config", type=click.Path(), help="Also check this experiment: volume, secrets, dataset."
)
@json_option
def doctor(backend: str | None, config: str | None, as_json: bool) -> None:
    """Check the setup: Python, packages, state dir, backend auth, volume, secrets, data.

    Exits 0 when all is well, else with the most serious failing check's code
    (2 setup, 5 remote unavailable or unauthenticated). Never prints a secret's value.
    """
    result = documents.doctor_document(backend, config)
    emit(result, as_json, lambda: doctor_lib.render(result))
    if not result["ok"]:
        raise click.exceptions.Exit(result["exit_code"])
