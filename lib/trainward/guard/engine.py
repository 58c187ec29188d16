"""The command guard: classify a shell command an assistant (or trainward itself) is about
to run, and refuse the ones that lose runs or data.

    check_shell("cd x && nohup modal run train.py &")      -> Decision(deny, forbidden, ...)
    check_command(["trainward", "stop", "run-1", "--yes"])  -> Decision(ask, destructive, ...)
    hook_response(stdin_text)  -> Claude Code's PreToolUse answer, or None for "no opinion"

The engine parses the shell (`trainward.guard.parse`), peels wrappers off each simple
command (`trainward.guard.wrap`: `env`, `timeout N`, `nohup`, `bash -c '...'`, `uv run`,
...), keeps what they imply (background, a time bound), normalizes the launcher
(`.venv/bin/modal`, `python -m modal` -> `modal`), then asks the override rules
(`trainward.guard.policy`) and the built-in policy (`trainward.guard.rules`). A compound
command gets the most severe verdict and category of its parts. Nothing here imports
modal, wandb, torch or numpy: the hook must answer within a few hundred milliseconds.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Sequence
from typing import IO, Any

from trainward.core.homedir import home_dir
from trainward.guard import rules, scripts, tools
from trainward.guard import wrap as guardwrap
from trainward.guard.parse import Command, ShellSyntaxError, Word, parse
from trainward.guard.policy import Policy, Rule, load_policy
from trainward.guard.rules import CATEGORIES, VERDICTS, Ctx, Decision, allow, ask, combine

__all__ = [
    "CATEGORIES",
    "VERDICTS",
    "Decision",
    "Policy",
    "Rule",
    "check_command",
    "check_shell",
    "hook_answer",
    "hook_response",
    "load_policy",
    "read_hook_input",
]

MAX_DEPTH = 12
_SPECIAL = {**guardwrap.SPECIAL, **scripts.SPECIAL}  # commands with a handler of their own
MAX_CHARS = 100_000  # longer input is answered "ask" unread: the hook must answer in time


def check_shell(command: str, *, policy: Policy | None = None) -> Decision:
    """Classify a shell command string (what an assistant's Bash tool would run). Without
    `policy`, the override files of the user and of the current directory apply."""
    if len(command) > MAX_CHARS:
        return ask("other", f"the command is longer than {MAX_CHARS:,} characters; not read")
    return _Engine(policy).script(command, Ctx(), 0)


def check_command(argv: Sequence[str], *, policy: Policy | None = None) -> Decision:
    """Classify one command given as an argv list (its words are not shell-parsed, so
    `K=$X` is a literal value). Without `policy`, the override files apply."""
    return _Engine(policy).words([Word.literal(a) for a in argv], Ctx(), 0)


def hook_response(
    stdin_text: str, *, policy: Policy | None = None, extra: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """Claude Code's PreToolUse answer for the hook input `stdin_text`, or None: no opinion,
    so the user's own permission settings decide (the guard never force-approves). A
    guard that cannot read its input or its policy answers "ask"; it never crashes."""
    try:
        payload = json.loads(stdin_text)
    except ValueError:
        return hook_answer("ask", "trainward guard could not read the hook input (not JSON)")
    if not isinstance(payload, dict):
        return hook_answer("ask", "trainward guard: the hook input is not a JSON object")
    if (
        payload.get("hook_event_name", "PreToolUse") != "PreToolUse"
        or payload.get("tool_name") != "Bash"
    ):
        return None
    tool_input = payload.get("tool_input")
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    if not isinstance(command, str):
        return hook_answer("ask", "trainward guard: the Bash tool input has no command string")
    cwd = payload.get("cwd")
    try:
        if policy is None:
            policy = load_policy(cwd=cwd if isinstance(cwd, str) else None, extra=extra)
        decision = check_shell(command, policy=policy)
    except Exception as err:  # the hook must answer, not crash the assistant's session
        message = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
        return hook_answer("ask", f"trainward guard could not check this command: {message}")
    if decision.decision == "allow":
        return None
    return hook_answer(decision.decision, f"trainward guard: {decision.summary()}{_by(decision)}")


def _by(decision: Decision) -> str:
    """Which policy decided, for the hook's answer: the built-in one or FILE:LINE."""
    if decision.source == "default":
        return " [decided by the built-in policy]"
    return f" [decided by the rule at {decision.source}]"


def read_hook_input(stream: IO[Any]) -> str:
    """The hook's stdin as text; undecodable bytes are replaced, an unreadable stream is ""
    (which `hook_response` answers with "ask")."""
    try:
        buffer = getattr(stream, "buffer", None)
        return buffer.read().decode("utf-8", "replace") if buffer else stream.read()
    except (OSError, ValueError):
        return ""


def hook_answer(verdict: str, reason: str) -> dict[str, Any]:
    """Claude Code's PreToolUse answer: `verdict` (deny or ask) with its reason."""
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": verdict,
            "permissionDecisionReason": reason,
        }
    }


class _Engine:
    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy if policy is not None else load_policy()
        self.home = home_dir().rstrip("/") or "/"

    def script(self, text: str, ctx: Ctx, depth: int) -> Decision:
        try:
            commands = parse(text)
        except RecursionError:
            return ask("other", "the command nests too deeply to read")
        except ShellSyntaxError as err:
            return ask(
                "other",
                f"the command is not valid shell ({err}); the guard allows only what it can read",
                "fix the quoting or the brackets",
            )
        return combine(self.command(cmd, ctx, depth) for cmd in commands)

    def nested(self, text: str, ctx: Ctx, depth: int) -> Decision:
        """A script inside a command (`bash -c`, `eval`, `ssh host ...`)."""
        if depth > MAX_DEPTH:
            return ask("other", "commands nested too deeply to check")
        return self.script(text, ctx._replace(writes_file=False), depth + 1)

    def command(self, cmd: Command, ctx: Ctx, depth: int) -> Decision:
        ctx = ctx._replace(background=ctx.background or cmd.background, writes_file=cmd.writes_file)
        return self.words(cmd.words, ctx, depth, cmd)

    def words(
        self, words: list[Word], ctx: Ctx, depth: int, cmd: Command | None = None
    ) -> Decision:
        ctx = ctx._replace(smoke_timeout_s=self.policy.smoke_timeout_s)
        words = _drop_assignments(words)
        if not words:
            return allow("other", "no command to run (only variable assignments)")
        if depth > MAX_DEPTH:
            return ask("other", "commands nested too deeply to check")
        if words[0].dynamic:
            return self.dynamic(words, ctx, depth)
        name = posixpath.basename(words[0].text)
        special = _SPECIAL.get(name)
        decision = special(self, name, words[1:], ctx, depth + 1, cmd) if special else None
        if decision is not None:
            return decision
        spec = guardwrap.WRAPS.get(name)
        inner = guardwrap.unwrap(name, spec, words[1:]) if spec is not None else None
        if spec is None or inner is None:
            return self.final(words, ctx)
        if not inner:
            return (
                rules.read_only(name)
                if name in ("env", "xargs")
                else allow("other", f"{name} alone")
            )
        return self.words(
            inner, ctx._replace(background=ctx.background or spec.background), depth + 1
        )

    def final(self, words: list[Word], ctx: Ctx) -> Decision:
        """A command with no wrapper left: the override rules, then the built-in policy."""
        argv = _normalize([w.text for w in words])
        default = self.default(argv, words, ctx)
        decision = self.policy.decide(argv, default)
        if decision.category == "read-only" and ctx.writes_file:
            return decision._replace(
                category="other", reason=decision.reason + ", but writes a file"
            )
        return decision

    def default(self, argv: list[str], words: list[Word], ctx: Ctx) -> Decision:
        name, args = argv[0], argv[1:]
        tail = words[len(words) - len(args) :]  # the words behind args (after `python -m modal`)
        if name in ("modal", "trainward") and _hidden_subcommand(name, tail):
            return ask("other", f"which {name} subcommand runs is only known at run time")
        if name == "modal":
            return rules.modal(args, ctx, _literal_keys(tail))
        if name == "trainward":
            return rules.trainward(args, ctx)
        if name == "python":
            return _python(args, ctx)
        return tools.tool(name, args, ctx, self.home)

    def dynamic(self, words: list[Word], ctx: Ctx, depth: int) -> Decision:
        """The command name is only known at run time ($X, $(which modal)): assume the worst."""
        if len(words) == 1 and not any(text for text, expanded in words[0].parts if not expanded):
            return ask("other", f"{words[0].text!r} runs a command only known at run time")
        for guess in ("modal", "trainward", "python"):
            decision = self.words([Word.literal(guess), *words[1:]], ctx, depth + 1)
            if decision.decision != "allow":
                reason = f"the command {words[0].text!r} is only known at run time; as {guess}: "
                return ask("other", reason + decision.reason, decision.alternative)
        return allow("other", f"the command {words[0].text!r} is only known at run time")


def _hidden_subcommand(name: str, args: list[Word]) -> bool:
    """Whether the words that pick the subcommand (`app stop`, `data push`) are expansions,
    as in `modal "$@"` inside a shell function."""
    positional = [w for w in args if not w.text.startswith("-")]
    groups = rules.MODAL_GROUPS if name == "modal" else frozenset({"data"})
    picks = 2 if positional and positional[0].text in groups else 1
    return any(w.dynamic for w in positional[:picks])


def _drop_assignments(words: list[Word]) -> list[Word]:
    """Words after the leading NAME=value assignments."""
    i = 0
    while i < len(words) and words[i].parts:
        text, expanded = words[i].parts[0]
        if expanded or "=" not in text or not text.split("=", 1)[0].isidentifier():
            break
        i += 1
    return words[i:]


def _literal_keys(words: Sequence[Word]) -> list[str]:
    """KEY of each KEY=VALUE word whose value is partly written out (not only $X or $(..))."""
    keys = []
    for word in words:
        key, seen_eq, literal = "", False, False
        for text, expanded in word.parts:
            if seen_eq:
                literal = literal or (bool(text) and not expanded)
            elif expanded:
                break
            elif "=" in text:
                head, tail = text.split("=", 1)
                key, seen_eq, literal = key + head, True, bool(tail)
            else:
                key += text
        if seen_eq and literal and key.isidentifier():
            keys.append(key)
    return keys


def _is_python(name: str) -> bool:
    return name.startswith("python") and all(c.isdigit() or c == "." for c in name[6:])


def _normalize(argv: list[str]) -> list[str]:
    """`.venv/bin/modal` -> modal; `python3 -m modal` -> modal; `python -m trainward` -> trainward."""
    name = posixpath.basename(argv[0])
    if not _is_python(name):
        return [name, *argv[1:]]
    kind, value, rest = _python_target(argv[1:])
    if kind == "module" and value == "modal":
        return ["modal", *rest]
    if kind == "module" and value in ("trainward", "trainward.cli"):
        return ["trainward", *rest]
    return ["python", *argv[1:]]


def _python_target(args: list[str]) -> tuple[str, str, list[str]]:
    """What `python ARGS` runs: ("module"|"code"|"script"|"repl", name, its args)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            i += 1
            continue
        for pos, ch in enumerate(arg[1:], 1):
            if ch in "mcWX":
                value = arg[pos + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                after = i + 1 if arg[pos + 1 :] else i + 2
                if ch in "mc":
                    return ("module" if ch == "m" else "code"), value, args[after:]
                i = after - 1
                break
        i += 1
    if i >= len(args):
        return "repl", "", []
    return "script", args[i], args[i + 1 :]


def _python(args: list[str], ctx: Ctx) -> Decision:
    kind, value, rest = _python_target(args)
    if kind == "script" and posixpath.basename(value) == "modal_train.py":
        return rules.modal_train_script(rest, ctx)
    return allow("other", "python runs local code; trainward does not guard it")
