"""`trainward mcp`: the MCP server, driven by the official SDK's own client (in-process, and
once over stdio), against real runs on the local backend. Every tool must return the
document of the same command's --json, and no tool may change a run unless --allow-writes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from trainward.integrations.mcp import build_server

from tests.conftest import REPO, tw

READS = {"doctor", "runs", "status", "logs", "files", "plan", "guard_check"}


def with_client(body: Callable[[Client], Awaitable[Any]], *, allow_writes: bool = False) -> Any:
    async def main() -> Any:
        async with Client(build_server(allow_writes=allow_writes)) as client:
            return await body(client)

    return anyio.run(main)


def call(name: str, args: dict[str, Any], *, allow_writes: bool = False) -> tuple[bool, Any, str]:
    """(is_error, structured content, text) of one tool call."""

    async def body(client: Client) -> Any:
        return await client.call_tool(name, args)

    res = with_client(body, allow_writes=allow_writes)
    return bool(res.is_error), res.structured_content, res.content[0].text


def cli_json(*args: str) -> Any:
    return json.loads(tw(*args, "--json").stdout)


@pytest.fixture
def finished_run(ticker_experiment) -> str:
    cfg = ticker_experiment(name="mcptick", steps=6, interval=0.01)
    assert tw("launch", str(cfg), "--run-name", "mcp-1").code == 0
    assert tw("wait", "mcp-1", "--timeout", "60", "--interval", "0.1").code == 0
    return str(cfg)


def test_only_read_tools_unless_writes_are_allowed() -> None:
    async def names(client: Client) -> dict[str, Any]:
        return {t.name: t.annotations for t in (await client.list_tools()).tools}

    tools = with_client(names)
    assert set(tools) == READS
    assert all(a.read_only_hint and not a.destructive_hint for a in tools.values())
    tools = with_client(names, allow_writes=True)
    assert set(tools) == READS | {"stop"}
    assert tools["stop"].destructive_hint and not tools["stop"].read_only_hint
    listed = cli_json("mcp", "--list-tools")["tools"]
    assert {t["name"] for t in listed} == READS and not any(t["writes"] for t in listed)


def test_each_read_tool_returns_the_clis_json(finished_run: str) -> None:
    pairs = [
        (("runs", {}), ("runs",)),
        (("logs", {"run": "mcp-1", "tail": 20}), ("logs", "mcp-1", "--tail", "20")),
        (("files", {"run": "mcp-1", "path": "checkpoints"}), ("files", "mcp-1", "checkpoints")),
        (
            ("plan", {"config": finished_run, "run_name": "next", "overrides": ["params.steps=3"]}),
            ("launch", finished_run, "--run-name", "next", "--set", "params.steps=3", "--dry-run"),
        ),
        (("guard_check", {"command": "modal app stop ap-1"}), ("guard", "modal app stop ap-1")),
        (("doctor", {}), ("doctor",)),
    ]
    for (name, args), cli_args in pairs:
        failed, doc, text = call(name, args)
        assert not failed and doc == cli_json(*cli_args), name
        assert json.loads(text) == doc
    failed, doc, _ = call("status", {"run": "mcp-1"})
    expected = cli_json("status", "mcp-1")
    for d in (doc, expected):  # the only fields that move between two reads of a finished run
        d["timing"].pop("since_last_log_s")
    assert not failed and doc == expected and doc["verdict"] == "finished"
    assert call("status", {"run": "all"})[1]["runs"][0]["run"] == "mcp-1"


def test_errors_are_the_clis_error_document() -> None:
    failed, doc, _ = call("status", {"run": "ghost"})
    assert failed and doc == cli_json("status", "ghost")
    assert doc["error"]["type"] == "run-not-found" and doc["error"]["exit_code"] == 4
    failed, doc, _ = call("logs", {"run": "ghost", "tail": 0})
    assert failed and doc["error"]["exit_code"] == 2


def test_stop_keeps_the_librarys_rules(finished_run: str) -> None:
    failed, _, text = call("stop", {"run": "mcp-1", "yes": True})
    assert failed and text == "Unknown tool: stop"  # not offered without --allow-writes
    failed, doc, _ = call("stop", {"run": "latest", "yes": True}, allow_writes=True)
    assert failed and doc["error"]["type"] == "usage"
    failed, doc, _ = call("stop", {"run": "mcp-1"}, allow_writes=True)
    assert failed and doc["error"]["exit_code"] == 3 and "--yes" in doc["error"]["message"]
    failed, doc, _ = call("stop", {"run": "mcp-1", "yes": True}, allow_writes=True)
    assert not failed and doc["stopped"] is False and doc["was"] == "finished"


def test_trainward_mcp_serves_over_stdio(finished_run: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "trainward", "mcp"], env=env, cwd=str(REPO)
    )

    async def main() -> Any:
        async with Client(params) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            res = await client.call_tool("runs", {})
            return tools, res.structured_content

    tools, doc = anyio.run(main)
    assert tools == READS and doc == cli_json("runs")
