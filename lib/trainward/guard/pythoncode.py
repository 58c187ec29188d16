"""What a piece of Python says it runs: `python -c CODE`, or a script file it names.

    subprocess.run(["modal", "run", "x.py"])    the command `modal run x.py`
    os.system("modal app stop x")               the shell line `modal app stop x`
    subprocess.run(cmd)                         a command only known at run time
    with app.run(): train.remote()              a Modal app run attached (no detach=True)
    open(".claude/settings.json", "w")          a change to one of the given paths

Read with `ast` (imported only when there is Python to read); nothing is run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

_RUN_CALLS = frozenset(
    {"system", "popen", "run", "call", "check_call", "check_output", "Popen", "getoutput"}
    | {"getstatusoutput", "execv", "execvp", "execvpe", "execl", "execlp", "spawnv", "spawnvp"}
)
_RUN_MODULES = frozenset({"os", "subprocess", "sp", "commands", "pty"})
_CHANGE_CALLS = frozenset(
    {"write_text", "write_bytes", "unlink", "remove", "rename", "replace", "rmtree", "move"}
    | {"copy", "copyfile", "copy2", "truncate", "rmdir", "removedirs", "symlink_to"}
)


class Code(NamedTuple):
    """What the code runs or changes, as far as its text says."""

    commands: list[list[str]]  # argv lists it runs
    scripts: list[str]  # shell lines it runs
    unknown: list[str]  # runs whose command is computed (`subprocess.run(cmd)`)
    attached_modal_run: bool  # `app.run()` without `detach=True`, in code importing modal
    changed: list[str]  # string constants given to calls that write, move or delete


def read(source: str) -> Code | None:
    """What `source` runs; None when it is not valid Python (python would not run it)."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    names = _imported_runners(tree)
    imports_modal = any(_imports(node, "modal") for node in ast.walk(tree))
    code = Code([], [], [], False, [])
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            code = _call(node, names, imports_modal, code)
    return code


def _imports(node: Any, module: str) -> bool:
    import ast

    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == module for a in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == module


def _imported_runners(tree: Any) -> set[str]:
    """Names bound by `from subprocess import run` and the like."""
    import ast

    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in _RUN_MODULES:
            out |= {a.asname or a.name for a in node.names if a.name in _RUN_CALLS}
    return out


def _call(node: Any, names: set[str], imports_modal: bool, code: Code) -> Code:
    import ast

    func, args = node.func, node.args
    owner = func.value if isinstance(func, ast.Attribute) else None
    base = owner.id if isinstance(owner, ast.Name) else None
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if (base in _RUN_MODULES and name in _RUN_CALLS) or (base is None and name in names):
        return _run(args[0] if args else None, code)
    if name == "run" and imports_modal and base not in _RUN_MODULES:
        detached = any(k.arg == "detach" and _is_true(k.value) for k in node.keywords)
        return code._replace(attached_modal_run=code.attached_modal_run or not detached)
    writes = name == "open" and any(_writes_mode(a) for a in [*args[1:2], *_mode_kw(node)])
    if writes or name in _CHANGE_CALLS:
        code.changed.extend(_strings([*args, getattr(func, "value", None)]))
    return code


def _run(first: Any, code: Code) -> Code:
    import ast

    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        code.scripts.append(first.value)
    elif isinstance(first, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in first.elts
    ):
        code.commands.append([str(getattr(e, "value", "")) for e in first.elts])
    else:
        code.unknown.append(ast.unparse(first) if first is not None else "?")
    return code


def _is_true(node: Any) -> bool:
    import ast

    return isinstance(node, ast.Constant) and node.value is True


def _mode_kw(node: Any) -> list[Any]:
    return [k.value for k in node.keywords if k.arg == "mode"]


def _writes_mode(node: Any) -> bool:
    import ast

    mode = node.value if isinstance(node, ast.Constant) else None
    return isinstance(mode, str) and any(c in mode for c in "wax+")


def _strings(nodes: list[Any]) -> list[str]:
    """String constants in `nodes` and their sub-expressions (`Path("x") / "y"`)."""
    import ast

    out = []
    for node in nodes:
        if node is None:
            continue
        out += [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
    return [s for s in out if isinstance(s, str)]
