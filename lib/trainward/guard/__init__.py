"""The guard: classify a shell command an assistant is about to run, and refuse the ones that
lose runs, hang a session or leak a secret.

engine.py   check_shell / check_command and the Claude Code hook's answer
parse.py    a real shell parser (lex.py is its lexer); nothing is ever run or expanded
wrap.py     wrappers peeled off a command (env, nohup, timeout, sudo, uv run, ...)
scripts.py  commands that run a script from a string or stdin (bash -c, eval, ssh, tmux, ...)
rules.py    the built-in policy: categories, verdicts, and modal's and trainward's commands
tools.py    the built-in policy for other commands (tail -f, kill, rm of trainward's state)
policy.py   policy files (guard.yaml) layered over the built-in policy; who may loosen
policyfile.py   one guard.yaml file: rules and the smoke-test bound
hook.py     the Claude Code hook's process (python -P -m trainward.guard.hook)
hookcommand.py  the fail-closed shell line that runs it from settings.json

Public: `check_shell`, `check_command`, `hook_response`, `Decision`, `Policy`, `load_policy`.
This package imports nothing heavy (no click, no yaml at import time for the hook path).
"""

from trainward.guard.engine import check_command, check_shell, hook_response, read_hook_input
from trainward.guard.policy import Policy, load_policy
from trainward.guard.rules import Decision

__all__ = [
    "Decision",
    "Policy",
    "check_command",
    "check_shell",
    "hook_response",
    "load_policy",
    "read_hook_input",
]
