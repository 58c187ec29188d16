"""`trainward mcp`: serve the read commands to assistants over the Model Context Protocol."""

from __future__ import annotations

import inspect

import click

from trainward.cli._common import emit, json_option
from trainward.integrations import mcp as mcp_lib


@click.command()
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Also offer `stop` (exact run name and yes=true required). Off: every tool only reads.",
)
@click.option(
    "--list-tools", is_flag=True, help="Print the tools this server would offer, and exit."
)
@json_option
def mcp(allow_writes: bool, list_tools: bool, as_json: bool) -> None:
    """Serve trainward over MCP on stdin/stdout (for Claude Code, Cursor, Codex, ...):
    doctor, runs, status, logs, files, plan (a launch's dry run) and guard_check, each
    returning the document of the same command's --json. Register it with e.g.
    `claude mcp add trainward -- trainward mcp`."""
    if list_tools:
        rows = [
            {
                "name": t.name,
                "writes": t.writes,
                "description": inspect.cleandoc(t.fn.__doc__ or ""),
            }
            for t in mcp_lib.tools(allow_writes=allow_writes)
        ]
        return emit(
            {"tools": rows},
            as_json,
            lambda: "\n".join(
                f"{r['name']:12} {'writes' if r['writes'] else 'reads'}" for r in rows
            ),
        )
    mcp_lib.serve_stdio(allow_writes=allow_writes)
