"""The shell line that runs the guard hook, written into Claude Code's settings.json by
`trainward skills install` (and, without a pinned Python, shipped in the plugin's
hooks/hooks.json).

Claude Code lets a tool call through when its hook exits with any code but 2, so a plain
`/venv/bin/trainward guard --hook` fails open once that virtualenv is gone (exit 127) or
broken (exit 1). This line fails closed instead. It runs the first of:

1. the pinned Python (the one `skills install` ran with): `PY -P -m trainward.guard.hook`;
2. the project's own `$CLAUDE_PROJECT_DIR/.venv`, if trainward is installed there;
3. `trainward guard --hook` from PATH;

and prints its answer when it exits 0. When none can be started, or the one started fails,
it prints an "ask" answer: the user is asked about the command instead of it running
unchecked. `-P` keeps the project directory off sys.path, so a file in the project cannot
stand in for a module the guard imports.
"""

from __future__ import annotations

import json
import shlex

PINNED_REASON = (
    "trainward guard could not run (the Python it was installed with, ./.venv and `trainward` "
    "on PATH are all missing, or the one found failed), so this command was not checked. "
    "Reinstall the hook from the environment that has trainward: `trainward skills install`."
)
UNPINNED_REASON = (
    "trainward guard could not run (no ./.venv with trainward and no `trainward` on PATH, or "
    "the one found failed), so this command was not checked. Install trainward in the "
    "project's .venv or on the PATH Claude Code runs hooks with, or run "
    "`trainward skills install` for a hook pinned to your environment."
)
_PREFIX = "py="


def _body(reason: str) -> str:
    ask = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "ask",
            "permissionDecisionReason": reason,
        }
    }
    return "; ".join(
        [
            'if [ ! -x "$py" ]; then py="${CLAUDE_PROJECT_DIR:-.}/.venv/bin/python"',
            '[ -x "${py%python}trainward" ] || py=; fi',
            'if [ -n "$py" ]; then out=$("$py" -P -m trainward.guard.hook)',
            "elif command -v trainward >/dev/null 2>&1; then out=$(trainward guard --hook)",
            'else false; fi && { [ -z "$out" ] || printf \'%s\\n\' "$out"; exit 0; }',
            f"printf '%s\\n' {shlex.quote(json.dumps(ask))}",
        ]
    )


_BODIES = (_body(PINNED_REASON), _body(UNPINNED_REASON))


def hook_command(python: str | None) -> str:
    """The hook's shell line, trying the interpreter `python` first (None: no pinned one)."""
    return f"{_PREFIX}{shlex.quote(python or '')}; {_BODIES[0 if python else 1]}"


def is_hook_command(command: str) -> bool:
    """True for a line made by `hook_command`, whatever its pinned Python."""
    return command.startswith(_PREFIX) and any(command.endswith(f"; {b}") for b in _BODIES)


def describe(command: str) -> str:
    """What a hook command runs, in a line a person can read."""
    if not is_hook_command(command):
        return command
    pinned = shlex.split(command.partition("; ")[0])[0].removeprefix(_PREFIX)
    first = f"{pinned} -P -m trainward.guard.hook, else " if pinned else ""
    return (
        f"runs {first}./.venv's trainward, else `trainward guard --hook` on PATH; "
        "answers ask when none of them runs"
    )
