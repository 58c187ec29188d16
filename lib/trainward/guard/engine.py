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
from trainward.guard import expand, programs, rules, scripts, secrets, tools
from trainward.guard import wrap as guardwrap
from trainward.guard.parse import Command, ShellSyntaxError, Word, parse
from trainward.guard.policy import Policy, Rule, load_policy
from trainward.guard.programs import is_python, python_target
from trainward.guard.rules import CATEGORIES, VERDICTS, Ctx, Decision, allow, ask, combine
from trainward.guard.session import Session

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
# Names that start a command the guard reads, when an unknown program is handed one
# (`docker exec c modal run x.py`, `flock /tmp/l modal app stop x`).
_BUILTINS = frozenset({".", "source", "alias", "trap", "eval", "command", "builtin", "exec"})
_RUNNERS = frozenset({"modal", "trainward", *guardwrap.WRAPS, *_SPECIAL}) - _BUILTINS
MAX_CHARS = 100_000  # longer input is answered "ask" unread: the hook must answer in time


def check_shell(
    command: str,
    *,
    policy: Policy | None = None,
    background: bool = False,
    timeout_s: float | None = None,
    cwd: str | None = None,
) -> Decision:
    """Classify a shell command string (what an assistant's Bash tool would run). Without
    `policy`, the override files of the user and of `cwd` apply. `background`: the whole
    command runs in the background (Claude Code's `run_in_background`), as if it ended
    with `&`; `timeout_s`: it is killed after that long (the Bash tool's `timeout`), as if
    run by `timeout N`. `cwd` (default: the current directory) is where relative script
    paths are read."""
    if len(command) > MAX_CHARS:
        return ask("other", f"the command is longer than {MAX_CHARS:,} characters; not read")
    ctx = Ctx(background=background, timeout_s=None if background else timeout_s)
    return _Engine(policy, cwd).script(command, ctx, 0)


def check_command(
    argv: Sequence[str], *, policy: Policy | None = None, background: bool = False
) -> Decision:
    """Classify one command given as an argv list (its words are not shell-parsed, so
    `K=$X` is a literal value). Without `policy`, the override files apply."""
    words = [Word.literal(a) for a in argv]
    return _Engine(policy, None).words(words, Ctx(background=background), 0)


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
    if not isinstance(tool_input, dict) or not isinstance(tool_input.get("command"), str):
        return hook_answer("ask", "trainward guard: the Bash tool input has no command string")
    command, cwd = tool_input["command"], payload.get("cwd")
    cwd = cwd if isinstance(cwd, str) and cwd else None
    background = tool_input.get("run_in_background") is True
    try:
        if policy is None:
            policy = load_policy(cwd=cwd, extra=extra)
        timeout_s = _timeout_s(tool_input)
        decision = check_shell(
            command, policy=policy, background=background, timeout_s=timeout_s, cwd=cwd
        )
    except Exception as err:  # the hook must answer, not crash the assistant's session
        message = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
        return hook_answer("ask", f"trainward guard could not check this command: {message}")
    if decision.decision == "allow":
        return None
    return hook_answer(decision.decision, f"trainward guard: {decision.summary()}{_by(decision)}")


def _timeout_s(tool_input: dict[str, Any]) -> float | None:
    """The Bash tool's own `timeout` (milliseconds) in seconds, when it gives one."""
    value = tool_input.get("timeout")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return value / 1000


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
    def __init__(self, policy: Policy | None, cwd: str | None) -> None:
        cwd = os.path.abspath(cwd or os.getcwd())
        self.policy = policy if policy is not None else load_policy(cwd=cwd)
        self.home = os.path.abspath(home_dir())
        self.session = Session(cwd, self.home)

    def script(self, text: str, ctx: Ctx, depth: int) -> Decision:
        try:
            commands = parse(text)
        except RecursionError:
            return ask("other", "the command nests too deeply to read")
        except ShellSyntaxError as err:
            if ctx.in_file:  # a script on disk the parser cannot follow: as before, unseen
                return allow("other", f"a script file the guard cannot read ({err})")
            return ask(
                "other",
                f"the command is not valid shell ({err}); the guard allows only what it can read",
                "fix the quoting or the brackets",
            )
        parts = []
        for cmd in commands:  # in order: a `cd` or an alias applies to what follows
            parts.append(self.command(cmd, ctx._replace(in_state=self.session.in_state), depth))
            self.session.observe(cmd)
        return combine(parts)

    def nested(self, text: str, ctx: Ctx, depth: int) -> Decision:
        """A script inside a command (`bash -c`, `eval`, `ssh host ...`)."""
        if depth > MAX_DEPTH:
            return ask("other", "commands nested too deeply to check")
        return self.script(text, ctx._replace(writes=()), depth + 1)

    def command(self, cmd: Command, ctx: Ctx, depth: int) -> Decision:
        background = ctx.background or cmd.background
        ctx = ctx._replace(background=background, writes=tuple(cmd.writes), captured=cmd.captured)
        return self.words(cmd.words, ctx, depth, cmd)

    def words(
        self, words: list[Word], ctx: Ctx, depth: int, cmd: Command | None = None
    ) -> Decision:
        ctx = ctx._replace(smoke_timeout_s=self.policy.smoke_timeout_s)
        rest = _drop_assignments(words)
        typed = None if ctx.in_file else secrets.written_out("", words[: len(words) - len(rest)])
        if typed is not None:  # HF_TOKEN=hf_... python x.py
            return combine([typed, self.words(rest, ctx, depth, cmd)])
        expanded = expand.braces(rest)
        if expanded is None:
            return ask("other", "the command's brace expansions make too many words to check")
        if not expanded:
            return allow("other", "no command to run (only variable assignments)")
        if depth > MAX_DEPTH:
            return ask("other", "commands nested too deeply to check")
        if expanded[0].dynamic:
            return self.dynamic(expanded, ctx, depth)
        if expanded[0].glob:
            what = f"the command name {expanded[0].text!r} is a file name pattern"
            return ask("other", f"{what}: which program runs depends on the files it matches")
        return self.run(expanded, ctx, depth, cmd)

    def run(self, words: list[Word], ctx: Ctx, depth: int, cmd: Command | None) -> Decision:
        """A command whose name is known: an alias, its own handler, a wrapper, the policy."""
        name = _command_name(words[0].text)
        alias = None if words[0].quoted else self.session.aliases.get(words[0].text)
        if alias is not None:
            return self.alias(words, alias, ctx, depth)
        special = _SPECIAL.get(name)
        decision = special(self, name, words[1:], ctx, depth + 1, cmd) if special else None
        if decision is not None:
            return decision
        spec = guardwrap.WRAPS.get(name)
        inner = guardwrap.unwrap(name, spec, words[1:]) if spec is not None else None
        if spec is None or inner is None:
            return self.final(words, ctx, depth)
        if not inner:
            return (
                self.final(words, ctx, depth) if name == "env" else allow("other", f"{name} alone")
            )
        return self.words(
            inner, ctx._replace(background=ctx.background or spec.background), depth + 1
        )

    def final(self, words: list[Word], ctx: Ctx, depth: int) -> Decision:
        """A command with no wrapper left: the override rules, then the built-in policy;
        and whatever it changes through its arguments and redirections."""
        argv = _normalize([w.text for w in words])
        decision = self.policy.decide(argv, self.default(argv, words, ctx, depth))
        if decision.category == "read-only" and ctx.writes_file:
            reason = decision.reason + ", but writes a file"
            decision = decision._replace(category="other", reason=reason)
        writes = tools.writes(argv[0], argv[1:], ctx.writes, self.home, ctx.in_state)
        shown = secrets.check(argv[0], words, ctx.in_file, ctx.captured)
        extra = [d for d in (writes, shown) if d is not None]
        return combine([decision, *extra]) if extra else decision

    def default(self, argv: list[str], words: list[Word], ctx: Ctx, depth: int) -> Decision:
        name, args = argv[0], argv[1:]
        tail = words[len(words) - len(args) :]  # the words behind args (after `python -m modal`)
        if name in ("modal", "trainward") and _hidden_subcommand(name, tail):
            return ask("other", f"which {name} subcommand runs is only known at run time")
        if name == "modal":
            return rules.modal(args, ctx, _literal_keys(tail))
        if name == "trainward":
            return rules.trainward(args, ctx)
        if name == "python":
            return programs.python(self, args, ctx, depth)
        if "/" in words[0].text and name not in tools.KNOWN:  # ./launch.sh, tools/x.py
            found = programs.program_file(self, words[0].text, ctx, depth + 1)
            if found is not None:
                return found
        if name not in tools.KNOWN:
            return self.embedded(name, tail, ctx, depth) or tools.tool(name, args, ctx, self.home)
        return tools.tool(name, args, ctx, self.home)

    def alias(self, words: list[Word], value: str, ctx: Ctx, depth: int) -> Decision:
        """A use of an alias defined earlier in this command line; it is not expanded again
        inside its own value, as in bash."""
        name = words[0].text
        del self.session.aliases[name]
        try:
            return self.nested(" ".join([value, *(w.text for w in words[1:])]), ctx, depth)
        finally:
            self.session.aliases[name] = value

    def embedded(self, name: str, args: list[Word], ctx: Ctx, depth: int) -> Decision | None:
        """An unknown program handed a command line (`docker exec c modal run x.py`): "ask"
        when the first command found in its arguments would not be allowed."""
        i = next((i for i, w in enumerate(args) if _command_name(w.text) in _RUNNERS), None)
        if i is None:
            return None
        inner = self.words(args[i:], ctx._replace(writes=()), depth + 1)
        if inner.decision == "allow":
            return None
        shown = " ".join(w.text for w in args[i:])
        reason = f"{name} may run `{shown}`, which the guard would {inner.decision}: "
        return ask("other", reason + inner.reason, inner.alternative)

    def dynamic(self, words: list[Word], ctx: Ctx, depth: int) -> Decision:
        """The command name is only known at run time ($X, $(which modal)): assume the worst,
        except in a script file, where `exec "$JAVACMD" "$@"` is everyday code."""
        if ctx.in_file:
            return allow("other", f"a script file runs {words[0].text!r}, only known at run time")
        if len(words) == 1 and not any(text for text, expanded in words[0].parts if not expanded):
            return ask("other", f"{words[0].text!r} runs a command only known at run time")
        split = expand.split_guess(words)  # modal${IFS}run x.py, $VENV/bin/modal run x.py
        if split and _command_name(split[0]) in _RUNNERS:
            decision = self.words([Word.literal(w) for w in split], ctx, depth + 1)
            if decision.decision != "allow":
                reason = f"the command {words[0].text!r} is only known at run time; as {split[0]}: "
                return ask("other", reason + decision.reason, decision.alternative)
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
    return any(w.dynamic or w.glob for w in positional[:picks])


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
    return [key for word in words if (key := secrets.literal_key(word))]


def _command_name(text: str) -> str:
    """The program a command word names: its last path part, lowercased (macOS finds
    `Modal` as `modal`)."""
    return posixpath.basename(text).lower()


def _normalize(argv: list[str]) -> list[str]:
    """`.venv/bin/modal` -> modal; `python3 -m modal` -> modal; `python -m trainward` -> trainward."""
    name = _command_name(argv[0])
    if not is_python(name):
        return [name, *argv[1:]]
    kind, value, rest = python_target(argv[1:])
    if kind == "module" and (value == "modal" or value.startswith(("modal.cli", "modal.__"))):
        return ["modal", *rest]
    if kind == "module" and value in ("trainward", "trainward.cli", "trainward.__main__"):
        return ["trainward", *rest]
    return ["python", *argv[1:]]
