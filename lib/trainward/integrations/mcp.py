"""`trainward mcp`: a Model Context Protocol server over stdio, on the official `mcp` SDK.

Each tool returns the JSON document that the same command prints with `--json`
(`trainward.api.documents`), as structured content and as text; a library error returns the
CLI's `{"error": {...}}` document with `isError` set. The tools only read:

    doctor, runs, status, logs, files      the read commands
    plan                                   `launch --dry-run`: the plan and the cost
    guard_check                            `guard`: would this shell command be allowed?

With `allow_writes` (`trainward mcp --allow-writes`) one tool that changes a run is added:
`stop`, under the library's rule (trainward.runs.stopping): the run's exact name, and
`yes: true`, which the assistant should set only when the user asked to stop that run.

The SDK (and pydantic, starlette) are imported only when the server is built, so
`trainward --help` never loads them.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainward import __version__
from trainward.api import Run, documents
from trainward.api import plan as plan_launch
from trainward.core.extras import install_hint
from trainward.errors import TrainwardError, UsageError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp_types import CallToolResult

INSTRUCTIONS = (
    "trainward runs ML training on Modal GPUs or locally without losing a run. Call `doctor` "
    "first. Every tool returns the JSON document of `trainward COMMAND --json`; read its "
    "fields rather than guessing. Launching is not a tool: show the user `plan` and run "
    "`trainward launch` in a shell. `stop` exists only when the server runs with "
    "--allow-writes, and needs the run's exact name and yes=true: set it only when the user "
    "asked to stop that run."
)


# -- the tools: each one returns a CLI document ---------------------------------------------


def doctor(backend: str | None = None, config: str | None = None) -> dict[str, Any]:
    """Check the setup (Python, packages, state dir, backend auth, volume, secrets, data), as
    `trainward doctor --json`. backend: local or modal (default the config's, else local);
    config: an experiment file to check too. Read-only."""
    return documents.doctor_document(backend, config)


def runs(limit: int = 20) -> dict[str, Any]:
    """The launched runs from the registry, newest last, as `trainward runs --json`: name,
    backend, state of the launch, experiment, volume, launch time. Reads no ledgers."""
    return documents.runs_document(limit)


def status(run: str = "latest", stale_after: float = 600.0) -> dict[str, Any]:
    """Read-only status of a run, as `trainward status RUN --json`: verdict (running, stale,
    zombie, finished, failed, preempted, stopped, ...), reason, progress, latest metrics,
    validation, checkpoints, ETA, cost. run: a name, `latest`, `all`, or a sweep's name;
    stale_after: seconds without a log before a live run is stale."""
    return documents.status_report(run, stale_after=stale_after).doc


def logs(run: str, tail: int = 100) -> dict[str, Any]:
    """The last `tail` lines (1 to 10000) of a run's output, as `trainward logs RUN --json`.
    Fetches and returns; never follows."""
    return documents.logs_document(run, tail)


def files(run: str, path: str = "", recursive: bool = False) -> dict[str, Any]:
    """What a run wrote on its volume under runs/RUN/PATH, as `trainward files RUN --json`
    (path, size, dir, mtime). Read-only; downloads nothing."""
    return documents.files_document(run, path, recursive=recursive)


def plan(
    config: str,
    epochs: int | None = None,
    max_games: int | None = None,
    overrides: list[str] | None = None,
    backend: str | None = None,
    run_name: str | None = None,
    resume: str | None = None,
) -> dict[str, Any]:
    """The plan of a launch, as `trainward launch CONFIG --dry-run --json`: run name,
    resources, data, resume source, W&B identity and the cost estimate. Launches nothing and
    makes no remote call. overrides: KEY.PATH=VALUE strings (as --set), e.g. train.lr=1e-3."""
    p = plan_launch(
        config,
        epochs=epochs,
        max_games=max_games,
        overrides=tuple(overrides or ()),
        backend=backend,
        run_name=run_name,
        resume=resume,
    )
    return documents.plan_document(p)


def guard_check(command: str) -> dict[str, Any]:
    """Whether a shell command may run, as `trainward guard --json "COMMAND"`: decision
    (allow, ask, deny), category, reason and a safer alternative. Runs nothing."""
    from trainward.guard.engine import check_shell, load_policy

    return check_shell(command, policy=load_policy()).to_dict()


def stop(run: str, yes: bool = False) -> dict[str, Any]:
    """Stop a run: the only tool that changes one. Needs the run's exact name (not `latest`
    or `all`) and yes=true; set yes only when the user asked to stop this run. A run that is
    not running is left alone and the answer says so. As `trainward stop RUN --yes --json`."""
    return Run(run).stop(yes=yes)


@dataclass(frozen=True)
class Tool:
    fn: Callable[..., dict[str, Any]]
    writes: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__


TOOLS = (
    Tool(doctor),
    Tool(runs),
    Tool(status),
    Tool(logs),
    Tool(files),
    Tool(plan),
    Tool(guard_check),
    Tool(stop, writes=True),
)


def tools(*, allow_writes: bool = False) -> list[Tool]:
    """The tools the server offers: the read-only ones, and `stop` with `allow_writes`."""
    return [t for t in TOOLS if allow_writes or not t.writes]


# -- the server -------------------------------------------------------------------------------


def build_server(*, allow_writes: bool = False) -> MCPServer:
    """The MCP server with its tools (call `.run()` for stdio, or hand it to `mcp.Client`)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp_types import ToolAnnotations
    except ImportError:
        raise UsageError(
            "trainward mcp needs the MCP SDK (the `mcp` package)", hint=install_hint("mcp")
        ) from None
    server = MCPServer(
        "trainward", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    for tool in tools(allow_writes=allow_writes):
        hints = ToolAnnotations(
            read_only_hint=not tool.writes,
            destructive_hint=tool.writes,
            idempotent_hint=True,
            open_world_hint=True,
        )
        server.add_tool(
            _as_tool(tool.fn),
            name=tool.name,
            description=inspect.cleandoc(tool.fn.__doc__ or ""),
            annotations=hints,
        )
    return server


def _as_tool(fn: Callable[..., dict[str, Any]]) -> Callable[..., CallToolResult]:
    """`fn` as the SDK calls it: its document (or its error's) as JSON text and as
    structured content, like the CLI's --json output."""
    from mcp_types import CallToolResult

    @functools.wraps(fn)
    def call(**kwargs: Any) -> CallToolResult:
        try:
            doc, failed = fn(**kwargs), False
        except TrainwardError as err:
            doc, failed = {"error": err.to_dict()}, True
        text = json.dumps(doc, indent=2, default=str)
        return CallToolResult(
            content=[{"type": "text", "text": text}],  # type: ignore[list-item]
            structured_content=json.loads(text),
            is_error=failed,
        )

    sig = inspect.signature(fn, eval_str=True)
    call.__signature__ = sig.replace(return_annotation=CallToolResult)  # type: ignore[attr-defined]
    return call


def serve_stdio(*, allow_writes: bool = False) -> None:
    """Serve over stdin/stdout until the client closes the stream."""
    build_server(allow_writes=allow_writes).run("stdio")
