"""The repository is a Claude Code plugin marketplace: `.claude-plugin/marketplace.json` lists
the plugin at the repository root, so `claude plugin marketplace add OWNER/REPO` (or a path)
and `claude plugin install trainward@trainward` work.

Checked two ways: always against the documented marketplace schema (name, owner, plugins with
name and source; code.claude.com/docs/en/plugin-marketplaces), and, where the real Claude Code
CLI is installed (`.ci/run` installs the pinned npm package into
~/.cache/trainward-ci/claude; or `claude` on PATH, or $TRAINWARD_CLAUDE), with `claude plugin validate --strict` and a real marketplace
add + install into a throwaway HOME, offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from trainward import __version__

from tests.conftest import REPO
from tests.test_readme import fresh_copy

PLUGIN_DIR = REPO / ".claude-plugin"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def claude_cli() -> str | None:
    for cand in (
        os.environ.get("TRAINWARD_CLAUDE"),
        str(
            Path.home() / ".cache" / "trainward-ci" / "claude" / "node_modules" / ".bin" / "claude"
        ),
        shutil.which("claude"),
    ):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def test_the_marketplace_lists_this_plugin_per_the_documented_schema() -> None:
    market = json.loads((PLUGIN_DIR / "marketplace.json").read_text())
    plugin = json.loads((PLUGIN_DIR / "plugin.json").read_text())
    assert KEBAB.match(market["name"]) and market["owner"]["name"]
    (entry,) = market["plugins"]
    assert entry["name"] == plugin["name"] == "trainward"
    assert entry["source"] == "./"  # the repository root is the plugin
    assert (REPO / entry["source"] / ".claude-plugin" / "plugin.json").is_file()
    assert entry["version"] == plugin["version"] == __version__
    assert entry["description"] == plugin["description"]
    assert plugin["author"]["name"] and plugin["license"] == "MIT"
    assert set(market) <= {"$schema", "name", "owner", "metadata", "plugins", "description"}


@pytest.fixture
def claude(tmp_path: Path):
    cli = claude_cli()
    if cli is None:
        pytest.skip("the Claude Code CLI is not installed (.ci/run installs it from npm)")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args], capture_output=True, text=True, timeout=120, env=env, cwd=home
        )

    return run


def test_claude_plugin_validate_passes_strict(claude) -> None:
    for target in (REPO, PLUGIN_DIR / "marketplace.json", PLUGIN_DIR / "plugin.json"):
        res = claude("plugin", "validate", "--strict", "--json", str(target))
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        report = json.loads(res.stdout)
        assert report["success"] and report["manifest"]["errors"] == []


def test_marketplace_add_then_install_works(claude, tmp_path: Path) -> None:
    repo = fresh_copy(tmp_path / "clone")  # what a clone of the repository holds
    added = claude("plugin", "marketplace", "add", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    installed = claude("plugin", "install", "trainward@trainward")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = claude("plugin", "list", "--json")
    (ours,) = [p for p in json.loads(listed.stdout) if p["id"] == "trainward@trainward"]
    assert ours["enabled"] and ours["version"] == __version__
    where = Path(ours["installPath"])
    assert (where / "hooks" / "hooks.json").is_file()
    assert {p.parent.name for p in where.glob("skills/*/SKILL.md")} >= {
        "gpu-train",
        "stop-training",
    }
