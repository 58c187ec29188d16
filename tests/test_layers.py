"""The dependency rule, enforced: a layer imports only layers below it, and nothing cycles.

    0  errors, core                 foundation: typed documents, layouts, file I/O, loader
    1  config, tracking, guard      experiment files; W&B I/O; the shell guard
    2  backends                     where runs execute and volumes live (I/O seam)
    3  data                         datasets in, results out
    4  runs                         launch, ledger, status, pull, stop (policy)
    5  sweep                        many runs
    6  api                          the Python API and the documents the CLI and MCP share
    7  integrations                 skills, hooks and the MCP server for assistants
    8  cli, __main__                the command line
    plug-in: train                  may import layers 0-4; nothing imports it by name

Every import counts: module level, inside functions, and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

LIB = REPO / "lib" / "trainward"
LAYERS: dict[str, int] = {
    "errors": 0,
    "core": 0,
    "config": 1,
    "tracking": 1,
    "guard": 1,
    "backends": 2,
    "data": 3,
    "runs": 4,
    "sweep": 5,
    "api": 6,
    "integrations": 7,
    "cli": 8,
    "__main__": 8,
    "train": 5,  # a plug-in: above runs (it receives a RunContext), below nothing
}
# Areas of one layer that may import each other: the foundation, and the command line.
GROUPS = ({"errors", "core"}, {"cli", "__main__"})
# Compatibility aliases kept for users' code (documented in docs/architecture.md).
ALIASES = {"trainward.ledger": "runs"}
TOP_LEVEL_FILES = {"__init__.py", "__main__.py", "errors.py", "ledger.py", "py.typed"}


def module_name(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    pkg = module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "trainward":
                continue
            for alias in node.names:  # `from trainward.data import sync` imports a module
                sub = f"{base}.{alias.name}"
                is_module = (LIB.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                found.add(sub if is_module else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "trainward"}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in LIB.rglob("*.py")}
    return {m: {i for i in imports_of(p) if i in modules and i != m} for m, p in modules.items()}


def area(module: str) -> str:
    if module in ALIASES:
        return ALIASES[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_top_level_holds_only_subpackages_and_the_foundation() -> None:
    files = {p.name for p in LIB.iterdir() if p.is_file()}
    assert files <= TOP_LEVEL_FILES, sorted(files - TOP_LEVEL_FILES)
    packages = {p.name for p in LIB.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_no_layer_imports_a_higher_one() -> None:
    bad = []
    for module, deps in graph().items():
        if module == "trainward":
            continue  # the package __init__ exports lazily, by name
        src = area(module)
        for dep in deps:
            dst = area(dep)
            if dst == "__init__" or src == dst or any({src, dst} <= g for g in GROUPS):
                continue
            if dst == "train":
                bad.append(f"{module} imports the built-in trainer {dep} (load it as a plug-in)")
            elif LAYERS[dst] > LAYERS[src] or (LAYERS[dst] == LAYERS[src] and src != dst):
                bad.append(f"{module} (layer {LAYERS[src]}) imports {dep} (layer {LAYERS[dst]})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_modal_script_imports_only_public_names() -> None:
    script = REPO / "scripts" / "modal_train.py"
    tree = ast.parse(script.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trainward"):
            module = __import__(node.module, fromlist=["__all__"])
            public = set(getattr(module, "__all__", ()))
            bad += [f"{node.module}.{a.name}" for a in node.names if a.name not in public]
    assert not bad, f"scripts/modal_train.py imports private names: {bad}"


def test_every_exception_class_lives_in_errors() -> None:
    outside = defaultdict(list)
    for path in LIB.rglob("*.py"):
        if path.name == "errors.py" and path.parent == LIB:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if any(
                    b.endswith(("Error", "Exception", "Failed", "Exists", "Mismatch"))
                    for b in bases
                ):
                    outside[str(path.relative_to(LIB))].append(node.name)
    assert not outside, dict(outside)
