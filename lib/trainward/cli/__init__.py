"""The `trainward` command line. Commands live in sibling modules; this module is the edge
where library errors become exit codes and messages, exactly once.

Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 refused by a guard, 4 not found,
5 remote unavailable or unauthenticated. Nothing here prompts, and no traceback is printed
unless TRAINWARD_DEBUG=1.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import click

from trainward import __version__
from trainward.cli._common import emitted, json_mode
from trainward.errors import EXIT_UNEXPECTED, EXIT_USAGE, TrainwardError

# (module, attribute) for each top-level command, imported lazily so `--help` stays cheap.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("doctor", "doctor"),
    "launch": ("runs", "launch"),
    "status": ("runs", "status"),
    "runs": ("runs", "runs"),
    "logs": ("runs", "logs"),
    "wait": ("runs", "wait"),
    "pull": ("runs", "pull"),
    "stop": ("runs", "stop"),
    "data": ("data", "data"),
    "guard": ("guard", "guard"),
    "deploy": ("deploy", "deploy"),
    "sweep": ("sweep", "sweep"),
    "skills": ("skills", "skills"),
    "files": ("files", "files"),
    "schema": ("schema", "schema"),
    "mcp": ("mcp", "mcp"),
    "watch": ("watch", "watch"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(f"trainward.cli.{spec[0]}")
        command: click.Command = getattr(module, spec[1])
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainward")
def cli() -> None:
    """Run ML training on Modal GPUs or locally without losing a run.

    Every command takes --json (data on stdout, diagnostics on stderr) and never prompts.
    Exit codes: 0 ok, 1 failed, 2 usage or config error, 3 refused by a guard,
    4 not found, 5 remote unavailable or unauthenticated.
    """


def _report(err: TrainwardError) -> int:
    """Errors go to stderr; with --json also to stdout, unless the command already emitted its
    data there (stdout then holds exactly one JSON document, e.g. `wait` on a failed run)."""
    if json_mode() and not emitted():
        click.echo(json.dumps({"error": err.to_dict()}, indent=2, default=str))
    click.echo(f"error: {err.message}", err=True)
    if err.hint:
        click.echo(f"hint: {err.hint}", err=True)
    return err.exit_code


def _wants_json(argv: list[str] | None) -> bool:
    """Whether the command line asked for --json (before any `--`, which ends our options).
    Click's own usage errors happen while parsing, before a command's --json is read."""
    args = sys.argv[1:] if argv is None else argv
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def usage_error_doc(ex: click.ClickException, code: int) -> dict[str, Any]:
    """Click's usage error in the shape of `TrainwardError.to_dict()`."""
    ctx = getattr(ex, "ctx", None)
    hint = f"{ctx.command_path} --help" if ctx is not None else "trainward --help"
    return {"type": "usage", "message": ex.format_message(), "exit_code": code, "hint": hint}


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and translate every failure to a documented exit code."""
    debug = os.environ.get("TRAINWARD_DEBUG") == "1"
    try:
        rv: Any = cli.main(args=argv, prog_name="trainward", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except TrainwardError as err:
        if debug:
            raise
        code = _report(err)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        code = 130
    except click.exceptions.Exit as ex:
        code = ex.exit_code
    except click.ClickException as ex:
        code = ex.exit_code if ex.exit_code != 1 else EXIT_USAGE
        if _wants_json(argv):
            click.echo(json.dumps({"error": usage_error_doc(ex, code)}, indent=2))
        ex.show()
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as ex:  # the one place an unexpected error is turned into a message
        if debug:
            raise
        click.echo(f"error: unexpected {type(ex).__name__}: {ex}", err=True)
        click.echo("hint: rerun with TRAINWARD_DEBUG=1 for a traceback, and report it", err=True)
        code = EXIT_UNEXPECTED
    sys.exit(code)
