"""`trainward skills`: install the agent skills and the guard hook; list them."""

from __future__ import annotations

from pathlib import Path

import click

from trainward.cli._common import emit, json_option
from trainward.errors import UsageError
from trainward.integrations import skills as skills_lib


@click.group()
def skills() -> None:
    """The agent skills (gpu-train, check-training, ...) and the guard hook (see docs/skills.md)."""


@skills.command()
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Install into this project's .claude/ and .agents/ (default: the current directory).",
)
@click.option("--user", is_flag=True, help="Install into ~/.claude/ and ~/.agents/ instead.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@json_option
def install(project: Path | None, user: bool, dry_run: bool, as_json: bool) -> None:
    """Copy the skills into .claude/skills/ and .agents/skills/, and add the guard hook
    (PreToolUse, Bash: `trainward guard --hook`) to .claude/settings.json, keeping every
    other setting. Running it again changes nothing."""
    if project and user:
        raise UsageError("give --project DIR or --user, not both")
    root = Path.home() if user else (project or Path.cwd()).resolve()
    result = skills_lib.install(root, scope="user" if user else "project", dry_run=dry_run)
    emit(result, as_json, lambda: skills_lib.render_install(result))


@skills.command("list")
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The project to look in (default: the current directory).",
)
@json_option
def list_(project: Path | None, as_json: bool) -> None:
    """List the shipped skills and whether each is installed in the project and for the user."""
    result = skills_lib.list_skills((project or Path.cwd()).resolve(), Path.home())
    emit(result, as_json, lambda: skills_lib.render_list(result))
