"""The Claude Code PreToolUse hook as its own process: `python -m trainward.guard.hook`.

    $ echo '{"tool_name": "Bash", "tool_input": {"command": "modal run x.py"}}' \\
        | python -m trainward.guard.hook
    {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", ...}}

It runs before every shell command an assistant makes, so it imports the guard alone: not
click, not the CLI, and PyYAML only when a guard.yaml exists. It always exits 0 with an
answer or nothing (no opinion: the user's own permission settings decide); an input or a
policy it cannot read, or a bug of its own, is answered "ask". `trainward guard --hook`
gives the same answers through the CLI. The command that `trainward skills install` writes
into settings.json wraps this module in a shell line that answers "ask" when Python or
trainward cannot start (trainward.integrations.skills.hook_command).

    python -m trainward.guard.hook [--policy FILE]
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from trainward.guard.engine import hook_answer, hook_response, read_hook_input


def hook_output(stdin: IO[Any], *, extra: str | None = None) -> str:
    """The text the hook prints for the input on `stdin`: one JSON line, or "" for no opinion."""
    try:
        answer = hook_response(read_hook_input(stdin), extra=extra)
    except Exception as err:  # a bug of ours must not let the command through
        answer = hook_answer("ask", f"trainward guard failed ({type(err).__name__}: {err})")
    return json.dumps(answer) if answer is not None else ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and (args[0] != "--policy" or len(args) != 2):
        usage = f"trainward guard hook: unknown arguments {args!r}; usage: [--policy FILE]"
        text = json.dumps(hook_answer("ask", usage))
    else:
        text = hook_output(sys.stdin, extra=args[1] if args else None)
    if text:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
