"""The command guard: the policy over a corpus of real commands, the shell parser, the CLI,
and the Claude Code PreToolUse hook (shape, imports). Policy files: test_guard_policy.py;
the adversarial corpus: test_guard_adversarial.py."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from trainward.cli.guard import guard
from trainward.guard.engine import check_command, check_shell, hook_response
from trainward.guard.parse import ShellSyntaxError, parse
from trainward.guard.policy import Policy
from trainward.guard.rules import CATEGORIES, VERDICTS, parse_modal_run

from tests.conftest import REPO, tw
from tests.guard_corpus import CORPUS

BUILTIN = Policy()  # the built-in policy alone, whatever files the machine has
DANGEROUS = {"forbidden", "destructive"}


# -- the corpus --------------------------------------------------------------------------


def test_corpus_is_large_and_has_no_duplicates() -> None:
    commands = [cmd for cmd, _, _ in CORPUS]
    assert len(commands) >= 150
    assert len(set(commands)) == len(commands)
    assert {d for _, d, _ in CORPUS} == set(VERDICTS)
    assert {c for _, _, c in CORPUS} == set(CATEGORIES)


@pytest.mark.parametrize(("command", "decision", "category"), CORPUS, ids=[c for c, _, _ in CORPUS])
def test_corpus_entry(command: str, decision: str, category: str) -> None:
    got = check_shell(command, policy=BUILTIN)
    assert (got.decision, got.category) == (decision, category), got.reason
    assert got.reason
    if got.decision == "deny":
        assert got.alternative, "a denial must say what to run instead"


def test_no_dangerous_command_is_allowed() -> None:
    allowed = [
        cmd
        for cmd, _, category in CORPUS
        if category in DANGEROUS and check_shell(cmd, policy=BUILTIN).decision == "allow"
    ]
    assert allowed == []


def test_no_read_only_command_is_denied() -> None:
    denied = [
        cmd
        for cmd, _, category in CORPUS
        if category == "read-only" and check_shell(cmd, policy=BUILTIN).decision == "deny"
    ]
    assert denied == []


def test_a_secret_value_never_appears_in_the_answer() -> None:
    decision = check_shell("modal secret create w WANDB_API_KEY=sk-live-12345", policy=BUILTIN)
    assert decision.decision == "ask"
    assert "WANDB_API_KEY" in decision.reason
    assert "sk-live-12345" not in json.dumps(decision.to_dict())


# -- modal run: our reading of its flags is modal's own ----------------------------------

RUN_ARGS = [
    ["x.py"],
    ["--detach", "x.py"],
    ["x.py", "--detach"],
    ["-d", "x.py::train", "--epochs", "3"],
    ["-dq", "x.py"],
    ["-qd", "x.py"],
    ["-dn", "nightly", "x.py"],
    ["-dnnightly", "x.py"],
    ["-n", "-d", "x.py"],
    ["--name=n", "-d", "x.py"],
    ["-e", "dev", "x.py", "-d"],
    ["-m", "pkg.train"],
    ["-dm", "pkg.train"],
    ["--", "x.py", "--detach"],
    ["--profile", "work", "-d", "x.py"],
    ["--profile=work", "x.py", "-d"],
    ["--timestamps", "--detach", "x.py"],
    ["-i", "x.py"],
]


@pytest.mark.parametrize("args", RUN_ARGS, ids=[" ".join(a) for a in RUN_ARGS])
def test_modal_run_flags_are_read_as_modal_reads_them(args: list[str]) -> None:
    from modal.cli.entry_point import entrypoint_cli
    from modal.cli.run import run

    root = entrypoint_cli.make_context("modal", ["run"], resilient_parsing=True)
    ctx = run.make_context("run", list(args), parent=root, resilient_parsing=True)
    rest = [*ctx._protected_args, *ctx.args]  # the function reference and its own arguments
    detach, _, ref = parse_modal_run(args)
    assert detach == ctx.params["detach"]
    assert args[ref:] == rest


def test_modal_run_has_the_options_the_guard_knows() -> None:
    from modal.cli.run import run
    from trainward.guard import rules as guardrules

    flags = {o for p in run.params if getattr(p, "is_flag", False) for o in p.opts}
    values = {o for p in run.params if not getattr(p, "is_flag", False) for o in p.opts}
    assert flags == set(guardrules._RUN_FLAGS) | {"--timestamps"}
    assert values == set(guardrules._RUN_VALUE_OPTS) - {"--profile"}


# -- the shell parser --------------------------------------------------------------------


def test_parser_flattens_lists_pipes_and_substitutions() -> None:
    cmds = parse("cd r && (modal run a.py | tee log) & echo $(modal app list) `ls`")
    assert [c.argv[0] for c in cmds] == ["cd", "modal", "tee", "echo", "modal", "ls"]
    assert [c.background for c in cmds[:3]] == [True, True, True]
    assert not cmds[3].background
    assert cmds[2].piped and cmds[2].pipe_source is cmds[1]


def test_parser_reads_heredocs_here_strings_and_redirections() -> None:
    cmds = parse("bash <<'EOF'\nmodal run x.py\nEOF\nsh <<< 'ls' > out.txt 2>&1")
    assert cmds[0].stdin_text == "modal run x.py"
    assert cmds[1].stdin_text == "ls" and cmds[1].writes_file
    assert not parse("ls 2>/dev/null")[0].writes_file


def test_parser_keeps_which_parts_are_expansions() -> None:
    (cmd,) = parse('x K="$K" L=lit"$M" \'$N\' "end$" $\'a\\tb\'')
    assert [w.dynamic for w in cmd.words] == [False, True, True, False, False, False]
    assert cmd.argv == ["x", "K=$K", "L=lit$M", "$N", "end$", "a\tb"]


@pytest.mark.parametrize("bad", ["echo 'x", 'a "b', "$(ls", "(ls", "ls )", "a &&", "if x; then y"])
def test_parser_rejects_what_the_shell_rejects(bad: str) -> None:
    with pytest.raises(ShellSyntaxError):
        parse(bad)


# -- the API other commands use ----------------------------------------------------------


def test_check_command_classifies_an_argv() -> None:
    assert check_command(["modal", "run", "x.py"], policy=BUILTIN).decision == "deny"
    assert (
        check_command(["trainward", "stop", "r1", "--yes"], policy=BUILTIN).category
        == "destructive"
    )
    assert check_command(["bash", "-c", "modal app stop x"], policy=BUILTIN).decision == "ask"
    # an argv is not shell: "$K" here is the literal value, written out
    assert (
        check_command(["modal", "secret", "create", "w", "K=$K"], policy=BUILTIN).decision == "ask"
    )


def test_check_command_reads_the_users_override_file(tw_home: Path) -> None:
    tw_home.mkdir(parents=True)
    (tw_home / "guard.yaml").write_text(
        "rules:\n  - match: modal app stop ci-*\n    decision: allow\n"
    )
    decision = check_command(["modal", "app", "stop", "ci-42"])
    assert (decision.decision, decision.category) == ("allow", "destructive")
    assert decision.source == f"{tw_home / 'guard.yaml'}:2"
    assert check_command(["modal", "app", "stop", "prod"]).decision == "ask"


# -- the CLI -------------------------------------------------------------------------------


def test_cli_prints_the_decision_and_exits_3_when_refused() -> None:
    res = tw("guard", "--json", "nohup modal run train.py &")
    assert res.code == 3
    out = res.json()
    assert set(out) >= {"decision", "category", "reason", "alternative"}
    assert (out["decision"], out["category"]) == ("deny", "forbidden")
    assert "--detach" in out["alternative"]
    res = tw("guard", "modal app list")
    assert res.code == 0
    assert res.stdout.strip() == "allow (read-only): modal app list only reads"


def test_cli_takes_words_after_double_dash_as_an_argv() -> None:
    assert tw("guard", "--json", "--", "modal", "run", "-d", "x.py").json()["decision"] == "allow"
    assert tw("guard", "--", "modal", "run", "x.py", "--detach").code == 3


def test_cli_without_a_command_is_a_usage_error() -> None:
    res = tw("guard")
    assert res.code == 2 and "no command to check" in res.stderr


def test_the_command_object_works_on_its_own() -> None:
    res = CliRunner().invoke(guard, ["--json", "modal volume delete data"])
    assert res.exit_code == 3
    assert json.loads(res.stdout)["category"] == "destructive"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- the Claude Code hook --------------------------------------------------------------------


def _hook_input(command: Any, tool: str = "Bash", cwd: str = "/tmp") -> str:
    """The PreToolUse input Claude Code writes on the hook's stdin."""
    return json.dumps(
        {
            "session_id": "abc123",
            "transcript_path": "/home/u/.claude/projects/p/abc123.jsonl",
            "cwd": cwd,
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": {"command": command, "description": "Start training"},
            "tool_use_id": "toolu_01",
        }
    )


def _hook(stdin: str) -> tuple[int, str]:
    res = CliRunner().invoke(guard, ["--hook"], input=stdin)
    return res.exit_code, res.stdout


@pytest.mark.parametrize(
    ("command", "verdict"),
    [("modal run train.py", "deny"), ("modal app stop x", "ask"), ("cat 'unbalanced", "ask")],
)
def test_hook_answers_deny_and_ask_in_claude_codes_shape(command: str, verdict: str) -> None:
    code, out = _hook(_hook_input(command))
    assert code == 0
    answer = json.loads(out)
    assert set(answer) == {"hookSpecificOutput"}
    specific = answer["hookSpecificOutput"]
    assert specific["hookEventName"] == "PreToolUse"
    assert specific["permissionDecision"] == verdict
    assert specific["permissionDecisionReason"].startswith("trainward guard: ")


def test_hook_has_no_opinion_on_allowed_commands_and_other_tools() -> None:
    # no output: the user's own permission settings decide (we never force-approve)
    assert _hook(_hook_input("git status")) == (0, "")
    assert _hook(_hook_input("modal run --detach train.py")) == (0, "")
    assert _hook(_hook_input("modal run train.py", tool="Read")) == (0, "")


@pytest.mark.parametrize("stdin", ["", "not json", "[1, 2]", _hook_input(None)])
def test_hook_never_crashes_on_bad_input(stdin: str) -> None:
    code, out = _hook(stdin)
    assert code == 0
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "ask"


def test_hook_uses_the_project_policy_of_the_sessions_cwd(tmp_path: Path) -> None:
    path = _write(
        tmp_path / ".trainward/guard.yaml",
        "rules:\n- {match: 'modal app list', decision: deny, reason: not here}\n",
    )
    answer = json.loads(_hook(_hook_input("modal app list", cwd=str(tmp_path)))[1])
    assert answer["hookSpecificOutput"]["permissionDecision"] == "deny"
    reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
    assert reason.endswith(f"[decided by the rule at {path}:2]")  # the answer names the file
    _write(tmp_path / ".trainward/guard.yaml", "rules:\n  - match: x\n   decision: allow\n")
    answer = json.loads(_hook(_hook_input("ls", cwd=str(tmp_path)))[1])
    assert answer["hookSpecificOutput"]["permissionDecision"] == "ask"
    assert "guard.yaml:3" in answer["hookSpecificOutput"]["permissionDecisionReason"]


def test_hook_says_when_the_built_in_policy_decided(tmp_path: Path) -> None:
    answer = json.loads(_hook(_hook_input("modal app stop x", cwd=str(tmp_path)))[1])
    reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
    assert reason.endswith("[decided by the built-in policy]")


def test_hook_response_is_a_library_function() -> None:
    assert hook_response(_hook_input("ls"), policy=BUILTIN) is None
    answer = hook_response(_hook_input("modal run x.py"), policy=BUILTIN)
    assert answer is not None and answer["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_hook_via_the_real_cli_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(_hook_input("modal app logs my-app -f")))
    res = tw("guard", "--hook")  # through trainward.cli.main, as `trainward guard --hook`
    assert res.code == 0
    assert json.loads(res.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_guard_modules_import_nothing_heavy() -> None:
    code = (
        "import sys, trainward.cli.guard\n"
        "from trainward.guard import check_shell\n"
        "from trainward.guard.policy import Policy\n"
        "check_shell('modal run x.py && nohup tail -f log &', policy=Policy())\n"
        "print(sorted({'torch', 'modal', 'wandb', 'numpy', 'yaml'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# The hook runs before every shell command an assistant makes: its process must not pay for
# the CLI (click), PyYAML (without a policy file), or pathlib and dataclasses, which together
# cost more than the guard's own work. bench/bench_hook.py measures the time; this checks
# the cause, without a clock.
HOOK_MUST_NOT_IMPORT = frozenset(
    {"click", "yaml", "trainward.cli", "pathlib", "dataclasses", "inspect", "argparse"}
    | {"modal", "wandb", "torch", "numpy"}
)


def _hook_process(stdin: str, cwd: Path) -> tuple[str, set[str]]:
    """(stdout, modules imported) of `python -P -m trainward.guard.hook` fed `stdin`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", "-m", "trainward.guard.hook"],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line.split("|")[-1].strip() for line in proc.stderr.splitlines()]
    return proc.stdout, {name for name in lines if name and name != "imported package"}


def test_the_hook_process_imports_only_the_guard(tmp_path: Path) -> None:
    out, imported = _hook_process(
        _hook_input("nohup modal run x.py &", cwd=str(tmp_path)), tmp_path
    )
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "trainward.guard.engine" in imported
    assert sorted(imported & HOOK_MUST_NOT_IMPORT) == []
    # PyYAML only once a policy file is there to read
    _write(tmp_path / ".trainward/guard.yaml", "rules:\n- {match: 'ls *', decision: deny}\n")
    out, imported = _hook_process(_hook_input("ls -la", cwd=str(tmp_path)), tmp_path)
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "yaml" in imported and "click" not in imported


def _doc_examples() -> list[tuple[str, str, str]]:
    text = (REPO / "docs" / "guard.md").read_text()
    rows = text.split("## Examples", 1)[1].splitlines()
    out = []
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[0].startswith("`"):
            out.append((cells[0].strip("`").replace("\\|", "|"), cells[1], cells[2]))
    return out


def test_the_documented_examples_hold() -> None:
    examples = _doc_examples()
    assert len(examples) >= 20
    wrong = [
        (cmd, decision, category, got.decision, got.category)
        for cmd, decision, category in examples
        if ((got := check_shell(cmd, policy=BUILTIN)).decision, got.category)
        != (decision, category)
    ]
    assert wrong == []
