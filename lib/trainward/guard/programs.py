"""Programs whose text the guard can read before they run: Python given with `-c` or as a
script file, shell scripts run by path (`./launch.sh`), and command lines handed to a
program the guard does not know (`docker exec c modal run x.py`).

    python -c 'import subprocess; subprocess.run(["modal", "run", "x.py"])'   deny
    python train.py        (train.py does `with app.run(): ...`)              deny
    ./launch.sh            (launch.sh holds `nohup modal run x.py &`)         deny
    docker exec c modal app stop x                                            ask
"""

from __future__ import annotations

import posixpath

from trainward.guard import rules, tools
from trainward.guard.rules import Ctx, Decision, allow, ask, combine, deny
from trainward.guard.session import MISSING, UNKNOWN
from trainward.guard.syntax import Word
from trainward.guard.wrap import Engine

_SHELLS = ("sh", "bash", "zsh", "dash", "ksh")


def is_python(name: str) -> bool:
    stem = name.removeprefix("python") if name.startswith("python") else name.removeprefix("pypy")
    return stem != name and all(c.isdigit() or c == "." for c in stem)


def python_target(args: list[str]) -> tuple[str, str, list[str]]:
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


def python(e: Engine, args: list[str], ctx: Ctx, depth: int) -> Decision:
    """`python ARGS` (after `python -m modal` and `-m trainward` were normalized away)."""
    kind, value, rest = python_target(args)
    if kind == "script" and posixpath.basename(value) == "modal_train.py":
        return rules.modal_train_script(rest, ctx)
    if kind == "code":
        return python_code(e, value, ctx, depth, inline=True)
    if kind == "script" and value != "-":
        status, text = e.session.script_text(value)
        if status == UNKNOWN:
            return _unseen(f"python {value}")
        if status != MISSING:
            return python_code(e, text, ctx, depth, inline=False)
    return allow("other", "python runs local code; trainward does not guard it")


def python_code(e: Engine, source: str, ctx: Ctx, depth: int, inline: bool) -> Decision:
    """What Python `source` runs and changes. `inline` (`python -c`): a command it computes
    at run time is asked about; in a script file that is left to the user's permissions."""
    from trainward.guard import pythoncode  # only when there is Python to read

    code = pythoncode.read(source)
    if code is None:
        return allow("other", "python runs local code (not valid Python, so it will not run)")
    inner = ctx._replace(in_file=not inline, writes=())
    parts = [e.nested(script, inner, depth) for script in code.scripts]
    parts += [e.words([Word.literal(a) for a in argv], inner, depth) for argv in code.commands]
    if code.unknown and inline:
        parts.append(
            ask("other", f"python runs a command only known at run time: {code.unknown[0]}")
        )
    if code.attached_modal_run:
        parts.append(_attached_run(ctx))
    guard = tools.changes_guard("python", code.changed)
    state = tools.changes_state("python", code.changed, e.home)
    parts += [d for d in (guard, state) if d is not None]
    found = [p for p in parts if p.decision != "allow"]
    return combine(found) if found else allow("other", "python runs local code")


def _attached_run(ctx: Ctx) -> Decision:
    if ctx.bounded and not ctx.background:
        return allow("launch", f"an attached Modal app run, bounded by timeout {ctx.timeout_s:g}s")
    return deny(
        "the Python code runs a Modal app attached (`app.run()` without detach=True): the app "
        "stops when this process exits or is interrupted",
        "`with app.run(detach=True):`, `trainward launch EXPERIMENT.yaml`, or "
        "`modal run --detach REF`",
    )


def program_file(e: Engine, path: str, ctx: Ctx, depth: int) -> Decision | None:
    """A program run by its path (`./launch.sh`, `tools/x.py`) whose text can be read."""
    status, text = e.session.script_text(path)
    if status == UNKNOWN:
        return _unseen(path)
    if status == MISSING:
        return None
    first = text.split("\n", 1)[0]
    if first.startswith("#!") and "python" in first:
        return python_code(e, text, ctx, depth, inline=False)
    if first.startswith("#!") and not first.rstrip().endswith(_SHELLS):
        return None  # some other interpreter
    return e.nested(text, ctx._replace(in_file=True), depth)


def _unseen(what: str) -> Decision:
    return ask(
        "other",
        f"{what} runs a file this command line writes with content the guard cannot see",
        "write the script in one command, then run it in another, so it can be checked",
    )
