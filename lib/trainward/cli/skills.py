"""`trainward skills`: install the agent skills and the guard hook; list them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

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
@click.option(
    "--force", is_flag=True, help="Also replace skills you changed (by default they are kept)."
)
@json_option
def install(project: Path | None, user: bool, dry_run: bool, force: bool, as_json: bool) -> None:
    """Copy the skills into .claude/skills/ and .agents/skills/ (stamped with this version),
    and add the guard hook (PreToolUse, Bash: `trainward guard --hook`) to
    .claude/settings.json, keeping every other setting. Run it again after upgrading
    trainward: skills it installed are updated, skills you changed are kept (see `kept`)."""
    if project and user:
        raise UsageError("give --project DIR or --user, not both")
    root = Path.home() if user else (project or Path.cwd()).resolve()
    result = skills_lib.install(
        root, scope="user" if user else "project", dry_run=dry_run, force=force
    )
    emit(result, as_json, lambda: render_install(result))


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
    emit(result, as_json, lambda: render_list(result))


def render_install(result: dict[str, Any]) -> str:
    root, settings = result["root"], result["settings"]
    kept = [f"Kept your changes to {k} (--force replaces them)." for k in result["kept"]]
    if not result["changed"]:
        return "\n".join(
            [
                f"Nothing to change: the {len(result['skills'])} skills and the guard hook are "
                f"current in {root}.",
                *kept,
            ]
        )
    verb = "Would install" if result["dry_run"] else "Installed"
    lines = [f"{verb} {len(result['skills'])} skills ({', '.join(result['skills'])}) into {root}"]
    for target in result["targets"]:
        counts = Counter(f["action"] for f in result["files"] if f["path"].startswith(target))
        lines.append(f"  {target}: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))
    lines.append(
        f"  {settings['path']}: hook {settings['action']}: {settings['runs']}"
        + (f"; {settings['note']}" if settings["note"] else "")
    )
    return "\n".join(lines + kept)


def render_list(result: dict[str, Any]) -> str:
    lines = [f"Skills in {result['source']}:"]
    for s in result["skills"]:
        where = ", ".join(f"{k} {v}" for k, v in s["installed"].items())
        lines.append(f"  {s['name']:16} ({where})")
    yes = {True: "yes", False: "no"}
    lines.append(
        f"Guard hook: project {yes[result['hook']['project']]}, user {yes[result['hook']['user']]}"
    )
    return "\n".join(lines)
