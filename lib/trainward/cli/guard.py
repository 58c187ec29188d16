"""`trainward guard`: classify a shell command, or answer Claude Code's PreToolUse hook."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from trainward.cli._common import emit, json_option
from trainward.errors import EXIT_REFUSED, UsageError
from trainward.guard.engine import check_command, check_shell, load_policy
from trainward.guard.hook import hook_output


@click.command("guard", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--hook", is_flag=True, help="Read Claude Code's PreToolUse JSON on stdin and answer it."
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An extra guard.yaml, read before the user's; it may loosen only outside a repository.",
)
@click.option(
    "--background",
    is_flag=True,
    help="Check it as run in the background (Claude Code's run_in_background), as with `&`.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    help="Check it as killed after SECONDS (the Bash tool's timeout), as with `timeout N`.",
)
@json_option
@click.pass_context
def guard(
    ctx: click.Context,
    command: tuple[str, ...],
    hook: bool,
    policy_file: Path | None,
    background: bool,
    timeout_s: float | None,
    as_json: bool,
) -> None:
    """Say whether COMMAND may run: allow, ask or deny, with its category and a safer
    alternative. Give the command as one quoted string (parsed as shell), or as words
    after `--`. Exit 0 when allowed, 3 when it needs asking or is denied.

    With --hook, read Claude Code's PreToolUse input on stdin and print the hook's
    answer (nothing when allowed: your own permission settings then decide); exit 0.
    `python -m trainward.guard.hook` gives the same answers without loading the CLI.
    """
    if hook:
        text = hook_output(sys.stdin, extra=str(policy_file) if policy_file else None)
        if text:
            click.echo(text)
        return
    if not command:
        raise UsageError(
            "no command to check",
            hint='trainward guard --json "modal run --detach train.py"',
        )
    policy = load_policy(extra=policy_file)
    if len(command) == 1:
        decision = check_shell(
            command[0], policy=policy, background=background, timeout_s=timeout_s
        )
    else:
        decision = check_command(list(command), policy=policy, background=background)
    emit(decision.to_dict(), as_json, decision.summary())
    if decision.decision != "allow":
        ctx.exit(EXIT_REFUSED)
