"""What every command shares: the `--json` switch, emitting data, and diagnostics on stderr.

Commands parse their arguments, call the library, and emit. Errors are raised as
`TrainwardError`s and mapped to exit codes once, in `trainward.cli.main`.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_STATE = {"json": False, "emitted": False}


def json_mode() -> bool:
    """True when the running command was given --json (errors are then emitted as JSON too)."""
    return _STATE["json"]


def emitted() -> bool:
    """True when the running command already wrote its data to stdout."""
    return _STATE["emitted"]


def json_option(f: F) -> F:
    """Add `--json` to a command. Data goes to stdout; diagnostics to stderr either way."""

    @click.option("--json", "as_json", is_flag=True, help="Emit machine-readable JSON on stdout.")
    @functools.wraps(f)
    def wrapper(*args: Any, as_json: bool, **kwargs: Any) -> Any:
        _STATE["json"] = as_json
        _STATE["emitted"] = False
        return f(*args, as_json=as_json, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit(data: Any, as_json: bool, text: str | Callable[[], str] | None = None) -> None:
    """Print `data` as JSON (with --json) or `text` (a string or a function producing one)."""
    _STATE["emitted"] = True
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
        return
    if text is None:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(text() if callable(text) else text)


def note(message: str) -> None:
    """A diagnostic line on stderr (never on stdout, which carries data)."""
    click.echo(message, err=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
