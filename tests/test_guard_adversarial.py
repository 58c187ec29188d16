"""The adversarial corpus (tests/guard_adversarial.py) through both doors of the guard: the
CLI (`trainward guard --json -- CMD`) and the Claude Code hook (its stdin JSON). Every entry
must get its expected answer from both, and the same answer. In process for the whole
corpus; a sample also through real processes (the CLI, and the hook line `skills install`
writes, run by /bin/sh)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from trainward.guard import hook_response
from trainward.guard.hookcommand import hook_command

from tests.conftest import REPO, tw, tw_proc
from tests.guard_adversarial import ALLOW, ASK, CORPUS, DENY, TOOL_INPUT


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: no guard.yaml, no script files (TRAINWARD_HOME is tmp)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def hook_input(command: str, cwd: Path, **tool_input: Any) -> str:
    return json.dumps(
        {
            "session_id": "s",
            "cwd": str(cwd),
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": command, **tool_input},
        }
    )


def via_hook(command: str, cwd: Path, **tool_input: Any) -> tuple[str, str]:
    """(decision, reason) of the hook; ("allow", "") when it prints nothing."""
    answer = hook_response(hook_input(command, cwd, **tool_input))
    if answer is None:
        return ALLOW, ""
    out = answer["hookSpecificOutput"]
    return out["permissionDecision"], out["permissionDecisionReason"]


def via_cli(command: str, *flags: str) -> dict[str, Any]:
    res = tw("guard", "--json", *flags, "--", command)
    assert res.code == (0 if res.json()["decision"] == ALLOW else 3), res.stderr
    doc: dict[str, Any] = res.json()
    return doc


def test_the_corpus_is_large_and_covers_every_answer() -> None:
    counts = Counter(want for _, want in CORPUS)
    assert len(CORPUS) >= 500
    assert min(counts[ALLOW], counts[ASK], counts[DENY]) >= 100, counts


def test_cli_and_hook_give_the_expected_answer_for_every_entry(cwd: Path) -> None:
    wrong = []
    for command, want in CORPUS:
        cli = via_cli(command)
        hook, reason = via_hook(command, cwd)
        if (cli["decision"], hook) != (want, want):
            wrong.append((command, want, cli["decision"], hook, cli["reason"]))
        elif want != ALLOW and cli["reason"] not in reason:
            wrong.append((command, "hook reason", reason, cli["reason"]))
        elif want == DENY and not cli["alternative"]:
            wrong.append((command, "a denial must say what to run instead"))
    assert wrong == []


@pytest.mark.parametrize(("command", "extra", "want"), TOOL_INPUT, ids=str)
def test_the_bash_tools_background_and_timeout_count(
    cwd: Path, command: str, extra: dict[str, Any], want: str
) -> None:
    flags = ["--background"] if extra.get("run_in_background") else []
    flags += ["--timeout", str(extra["timeout"] / 1000)] if "timeout" in extra else []
    assert (via_cli(command, *flags)["decision"], via_hook(command, cwd, **extra)[0]) == (
        want,
        want,
    )


def test_scripts_on_disk_are_read_where_they_run(cwd: Path) -> None:
    (cwd / "scripts").mkdir()
    (cwd / "scripts/launch.sh").write_text("#!/bin/bash\nset -e\nnohup modal run x.py &\n")
    (cwd / "scripts/check.sh").write_text("#!/bin/sh\ntrainward status all --json\n")
    (cwd / "train.py").write_text("import modal\napp = modal.App('t')\nwith app.run():\n    pass\n")
    (cwd / "tool.py").write_text(
        "#!/usr/bin/env python3\nimport os\nos.system('modal app stop x')\n"
    )
    cases = [
        ("bash scripts/launch.sh", DENY),
        ("./scripts/launch.sh", DENY),
        ("cd scripts && sh launch.sh", DENY),
        ("bash scripts/check.sh", ALLOW),
        ("python train.py", DENY),
        ("timeout 120 python train.py", ALLOW),
        ("./tool.py", ASK),
        ("bash scripts/missing.sh", ALLOW),  # nothing to read: unseen, as before
    ]
    got = [(c, via_cli(c)["decision"], via_hook(c, cwd)[0]) for c, _ in cases]
    assert got == [(c, want, want) for c, want in cases]


SAMPLE = [CORPUS[i] for i in range(0, len(CORPUS), len(CORPUS) // 6)] + [
    ("modal run train.py", DENY),
    ("echo 'modal run x.py'", ALLOW),
    ("modal app stop my-app", ASK),
]


def test_a_sample_through_real_processes(cwd: Path) -> None:
    """`python -m trainward guard --json -- CMD`, and the installed hook line via /bin/sh."""
    line = hook_command(sys.executable)
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(cwd)}
    got = []
    for command, _ in SAMPLE:
        cli = tw_proc("guard", "--json", "--", command, cwd=cwd).json()["decision"]
        proc = subprocess.run(
            ["/bin/sh", "-c", line],
            input=hook_input(command, cwd),
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=60,
        )
        hook = (
            json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"]
            if proc.stdout.strip()
            else ALLOW
        )
        got.append((command, cli, hook))
    assert got == [(c, want, want) for c, want in SAMPLE]


def test_no_command_a_skill_or_the_runbook_shows_is_denied(cwd: Path) -> None:
    """The safe reads the skills use (and the RUNBOOK's commands) stay allowed or asked."""
    blocks = [
        block
        for path in [*sorted(REPO.glob("skills/*/SKILL.md")), REPO / "RUNBOOK.md"]
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S)
    ]
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line.startswith(("trainward ", "modal "))]
    assert len(commands) >= 30
    marked = {
        line.split("  #")[0].strip()
        for b in blocks
        for line in b.splitlines()
        if "# forbidden" in line
    }
    denied = [c for c in commands if c not in marked and via_cli(c)["decision"] == DENY]
    assert denied == []
