"""The guard: classify a shell command an assistant is about to run, and refuse the ones that
lose runs, hang a session or leak a secret.

engine.py      check_shell / check_command and the Claude Code hook's answer
parse.py       a real shell parser (lex.py its lexer, syntax.py its words and commands);
               nothing is ever run or expanded (expand.py: braces, $IFS guesses)
session.py     what earlier commands of one line set up: cd, aliases, files written
wrap.py        wrappers peeled off a command (env, nohup, timeout, sudo, uv run, ...)
scripts.py     commands that run a script from a string, stdin or a file (bash -c, eval, ...)
programs.py    programs whose text can be read: python -c / a .py file, ./script.sh
pythoncode.py  what Python source runs (subprocess, os.system, app.run) and changes
rules.py       the built-in policy: categories, verdicts, modal's and trainward's commands
tools.py       the policy for other commands: tail -f, kill, the state, the guard's own files
secrets.py     secrets a command would print or types out
policy.py      policy files (guard.yaml) over the built-in policy; who may loosen
policyfile.py  one guard.yaml file: rules and the smoke-test bound
hook.py        the Claude Code hook's process (python -P -m trainward.guard.hook)
hookcommand.py the fail-closed shell line that runs it from settings.json

Public: `check_shell`, `check_command`, `hook_response`, `Decision`, `Policy`, `load_policy`.
It imports nothing heavy: no click, no pathlib or dataclasses, PyYAML only to read a
guard.yaml, `ast` only to read Python.
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
