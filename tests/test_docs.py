"""The docs are executable: every `trainward ...` command in the skills, RUNBOOK.md and README.md
resolves in the CLI with valid options; every `modal ...` command is allowed by the guard or
marked as forbidden; and the RUNBOOK's local procedure runs end to end."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from trainward.cli import cli
from trainward.guard.engine import check_shell
from trainward.guard.policy import Policy

from tests.conftest import REPO

DOCS = [*sorted(REPO.glob("skills/*/SKILL.md")), REPO / "RUNBOOK.md", REPO / "README.md"]
FENCE = re.compile(r"^```(\w*)\s*$")
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
LOCAL = re.compile(r"^<!-- runbook:local(?: exit=(\d+))? -->$")
# A modal command the guard does not allow must say so: `# forbidden` (deny) or `# ask first`
# (ask) at the end of a code line; in prose, the line must say never / not / ask.
MARKS = {"# forbidden": "deny", "# ask first": "ask"}
NEGATION = re.compile(r"\b(never|not|ask|asks|forbidden|deny|denies|denied)\b", re.I)
PARA_START = re.compile(r"^\s*(#|\||- |\d+\. |>)")  # a heading, table row, list item, quote
SEPARATORS = {"&&", "||", ";", "|", "&", "|&", ";;"}


@dataclass(frozen=True)
class Line:
    """One command, from a code block (`fenced`) or an inline code span in prose."""

    doc: str
    lineno: int
    text: str
    fenced: bool
    context: str  # the whole source line (for prose: the sentence around the span)
    section: str  # the `## ` heading it is under

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.lineno}"


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    marker: re.Match[str] | None  # the `<!-- runbook:local -->` line right before it, if any
    section: str


def parse(path: Path) -> tuple[list[Block], list[Line]]:
    """The fenced blocks of a Markdown file, and every command-like line and inline span."""
    doc = str(path.relative_to(REPO))
    blocks: list[Block] = []
    lines: list[Line] = []
    section, lang, body, marker, prev = "", None, [], None, ""
    para: list[tuple[int, str]] = []  # the prose paragraph (or list item, or table row) so far

    def flush() -> None:  # inline code may wrap onto the next line of its paragraph
        context = " ".join(r.strip() for _, r in para)
        lines.extend(
            Line(doc, para[0][0], m, False, context, section) for m in INLINE.findall(context)
        )
        para.clear()

    for n, raw in enumerate(path.read_text().splitlines(), 1):
        fence = FENCE.match(raw.strip())
        if lang is None and (fence or not raw.strip() or PARA_START.match(raw)):
            flush()
        if lang is None and fence:
            lang, body, marker = fence.group(1), [], LOCAL.match(prev.strip())
        elif lang is not None and raw.strip() == "```":
            blocks.append(Block(lang, "\n".join(body) + "\n", marker, section))
            lang = None
        elif lang is not None:
            body.append(raw)
            text = raw.strip().removeprefix("$ ")
            if text and not text.startswith("#"):
                lines.append(Line(doc, n, text, True, raw, section))
        elif raw.strip():
            if raw.startswith("## "):
                section = raw[3:].strip()
            para.append((n, raw))
        if raw.strip():
            prev = raw
    flush()
    return blocks, lines


PARSED = {str(p.relative_to(REPO)): parse(p) for p in DOCS}
ALL_LINES = [line for _, lines in PARSED.values() for line in lines]


def simple_commands(text: str) -> list[list[str]]:
    """Split a shell line into its simple commands (argv lists), dropping comments."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    out: list[list[str]] = [[]]
    try:
        for word in lexer:
            if word in SEPARATORS:
                out.append([])
            elif word not in ("(", ")"):
                out[-1].append(word)
    except ValueError:  # not shell (an unbalanced quote in prose)
        return []
    return [c for c in out if c]


def trainward_argvs(line: Line) -> list[list[str]]:
    """The argument lists of the `trainward` commands on a line (any path to the script)."""
    if not line.fenced and not line.text.startswith("trainward "):
        return []
    found = []
    for argv in simple_commands(line.text):
        while argv and re.match(r"^[A-Za-z_]\w*=", argv[0]):
            argv = argv[1:]
        if argv and Path(argv[0]).name == "trainward":
            found.append(argv[1:])
    return found


def resolve(args: list[str]) -> list[str]:
    """Parse `trainward ARGS` the way click would run it, without running it: every group
    resolves its subcommand and every command parses its options and arguments. Returns the
    command path."""
    cmd: click.Command = cli
    name, ctx, path = "trainward", None, []
    while True:
        try:
            ctx = cmd.make_context(name, list(args), parent=ctx)
        except click.exceptions.Exit:  # --help
            return path
        if not isinstance(cmd, click.Group):
            return path
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            assert cmd.invoke_without_command, f"`{' '.join(path)}` needs a subcommand"
            return path
        resolved, sub, args = cmd.resolve_command(ctx, rest)
        assert sub is not None and resolved is not None
        name, cmd = resolved, sub
        path.append(resolved)


TRAINWARD = [(line, argv) for line in ALL_LINES for argv in trainward_argvs(line)]
# A command named without its arguments (`trainward launch` in prose) is incomplete, not wrong.
INCOMPLETE = (click.MissingParameter, click.exceptions.NoArgsIsHelpError)


def test_the_docs_have_commands_to_check() -> None:
    assert len(TRAINWARD) >= 60
    assert {line.doc for line, _ in TRAINWARD} == set(PARSED)
    paths = {" ".join(resolve(argv)) for line, argv in TRAINWARD if line.fenced}
    for expected in ("doctor", "launch", "status", "logs", "pull", "stop", "wait", "sweep start"):
        assert expected in paths


@pytest.mark.parametrize(("line", "argv"), TRAINWARD, ids=[f"{ln.id}" for ln, _ in TRAINWARD])
def test_trainward_command_resolves(line: Line, argv: list[str]) -> None:
    try:
        resolve(argv)
    except INCOMPLETE:
        if line.fenced:  # a command to run must be complete; prose may name a command only
            raise
    except click.UsageError as err:
        pytest.fail(f"{line.id}: `trainward {shlex.join(argv)}`: {err.format_message()}")


def test_resolve_rejects_what_click_rejects() -> None:
    for bad in (["lunch", "x.yaml"], ["status", "--tial", "3"], ["pull", "r", "--which", "worst"]):
        with pytest.raises(click.UsageError):
            resolve(bad)
    with pytest.raises(click.MissingParameter):
        resolve(["launch"])
    assert resolve(["sweep", "experiments/sweep-smoke.yaml", "--dry-run"]) == ["sweep", "start"]
    assert resolve(["skills", "install", "--json"]) == ["skills", "install"]


WRAPPERS = {"nohup", "timeout", "env", "setsid", "sudo", "time", "uv", "uvx"}


def runs_modal(argv: list[str]) -> bool:
    """True when `modal` is the command, possibly behind VAR=x assignments or a wrapper."""
    words = [w for w in argv if not re.match(r"^[A-Za-z_]\w*=", w)]
    return words[:1] == ["modal"] or (
        words[:1] != [] and words[0] in WRAPPERS and "modal" in words[1:4]
    )


MODAL = [line for line in ALL_LINES if any(runs_modal(a) for a in simple_commands(line.text))]


def expected_decision(line: Line) -> str | None:
    """deny / ask for a marked code line; None (must be allowed) otherwise."""
    for mark, decision in MARKS.items():
        if mark in line.text:
            return decision
    return None


@pytest.mark.parametrize("line", MODAL, ids=[line.id for line in MODAL])
def test_modal_command_is_allowed_or_marked(line: Line) -> None:
    got = check_shell(line.text, policy=Policy())
    if line.fenced:
        assert got.decision == (expected_decision(line) or "allow"), (line.text, got.reason)
    elif got.decision != "allow":
        assert NEGATION.search(line.context), f"{line.id}: `{line.text}` is {got.decision}ed"


def test_the_docs_show_forbidden_modal_commands_as_forbidden() -> None:
    marked = [line for line in MODAL if expected_decision(line) == "deny"]
    assert len(marked) >= 3
    assert any("--detach" not in line.text for line in marked)
    assert any(line.text.startswith("nohup ") for line in marked)
    original = [
        line
        for line in MODAL
        if line.fenced and line.text.startswith("modal run --detach scripts/modal_train.py::train")
    ]
    assert original and all(check_shell(line.text).decision == "allow" for line in original)


# -- the RUNBOOK's local procedure -------------------------------------------------------

RUNBOOK_BLOCKS = PARSED["RUNBOOK.md"][0]
LOCAL_BLOCKS = [b for b in RUNBOOK_BLOCKS if b.marker is not None]


def test_runbook_local_procedure_is_complete() -> None:
    assert all(b.lang == "bash" for b in LOCAL_BLOCKS)
    assert {b.section for b in LOCAL_BLOCKS} == {"Local, end to end (no accounts)"}
    code = "".join(b.code for b in LOCAL_BLOCKS)
    for step in (
        "trainward doctor",
        "trainward launch experiments/smoke-cpu.yaml",
        "trainward wait",
        "trainward status",
        "trainward logs",
        "trainward pull",
        "trainward stop",
        "--resume",
        "trainward guard",
    ):
        assert step in code, step
    assert not any("modal " in b.code and "guard" not in b.code for b in LOCAL_BLOCKS)
    assert LOCAL_BLOCKS[-1].code.strip().startswith("trainward status")


@pytest.mark.slow
def test_runbook_local_procedure_runs(tmp_path: Path, tw_home: Path) -> None:
    """Each local block, in order, as a person would paste it: `trainward` from the venv on
    PATH, a fresh TRAINWARD_HOME, the repo as the working directory."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(tmp_path),
    }
    try:
        out = ""
        for block in LOCAL_BLOCKS:
            assert block.marker is not None
            expect = int(block.marker.group(1) or 0)
            proc = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
            assert proc.returncode == expect, (block.code, proc.stdout[-2000:], proc.stderr[-2000:])
            out = proc.stdout
        final = json.loads(out)
        assert final["verdict"] == "finished" and final["resumes"] >= 1
        assert final["progress"]["pct"] == 100.0
        assert list(tmp_path.glob("trainward-demo/*-best.pt"))
    finally:
        _stop_all(env)


def _stop_all(env: dict[str, str]) -> None:
    """Stop whatever a failed run of the procedure left running."""
    trainward = str(Path(sys.executable).parent / "trainward")
    listing = subprocess.run([trainward, "runs", "--json"], env=env, capture_output=True, text=True)
    for run in json.loads(listing.stdout or '{"runs": []}')["runs"]:
        subprocess.run(
            [trainward, "stop", run["run"], "--yes"], env=env, capture_output=True, timeout=60
        )


# -- --json on every agent-facing step ---------------------------------------------------


def test_every_skill_step_asks_for_json() -> None:
    """Every trainward command a skill runs (all but the Guardrails' references) has --json."""
    for doc, (_, lines) in PARSED.items():
        if not doc.startswith("skills/"):
            continue
        for line in lines:
            if line.section == "Guardrails":
                continue
            for argv in trainward_argvs(line):
                if not line.fenced and not _complete(argv):
                    continue  # prose naming a command (`trainward pull` is read-only ...)
                assert "--json" in argv or "--help" in argv, f"{line.id}: {line.text}"


def _complete(argv: list[str]) -> bool:
    try:
        resolve(argv)
    except INCOMPLETE:
        return False
    return True


def test_every_runbook_procedure_shows_json() -> None:
    sections: dict[str, list[list[str]]] = {}
    for line in PARSED["RUNBOOK.md"][1]:
        sections.setdefault(line.section, []).extend(trainward_argvs(line))
    assert len(sections) >= 9
    for section, argvs in sections.items():
        if section:
            assert any("--json" in argv for argv in argvs), f"RUNBOOK.md ## {section}"
