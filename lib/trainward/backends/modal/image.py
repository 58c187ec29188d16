"""The Modal image a run gets, from its experiment's `environment:` section (Modal 1.x idioms).

    debian_slim(python)  -> apt_install(apt) -> uv_pip_install(trainward's own needs)
    -> uv_pip_install(pip) -> uv_pip_install(requirements=...) -> uv_sync(project)
    -> env(...) -> add_local_python_source("trainward") -> add_local_dir(code_dir, ignores)
    -> add_local_dir(each extra dir)

`image_steps` is the plan (what `launch --dry-run` shows); `build_image` applies the same
steps to a `modal.Image`, so the plan and the image cannot drift apart. The built-in
trainer gets torch and numpy at the versions trainward is tested with; your own program
gets only what trainward itself needs (pyyaml, click, wandb) plus what you declare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PYTHON = "3.11"
RUNTIME = ("pyyaml==6.0.3", "click==8.5.1", "wandb==0.31.0")  # trainward's own needs
BUILTIN = ("torch==2.13.0", "numpy==2.4.6")  # the built-in trainer's
IGNORE = [
    "**/.venv/**",
    "**/.git/**",
    "**/__pycache__/**",
    "data/**",
    "weights/**",
    "checkpoints/**",
    "wandb/**",
    "**/*.pt",
    "**/.pytest_cache/**",
    "**/.mypy_cache/**",
    "**/.ruff_cache/**",
]

Step = tuple[str, tuple[Any, ...], dict[str, Any]]


def image_steps(decl: dict[str, Any], remote_root: str) -> list[Step]:
    """The image as (Image method, args, kwargs), in order."""
    env = decl.get("environment") or {}
    code_dir = Path(decl["code_dir"])
    steps: list[Step] = [("debian_slim", (), {"python_version": env.get("python") or PYTHON})]
    if env.get("apt"):
        steps.append(("apt_install", tuple(env["apt"]), {}))
    base = (*BUILTIN, *RUNTIME) if decl.get("builtin", True) else RUNTIME
    steps.append(("uv_pip_install", base, {}))
    if env.get("pip"):
        steps.append(("uv_pip_install", tuple(env["pip"]), {}))
    if env.get("requirements"):
        steps.append(
            ("uv_pip_install", (), {"requirements": [str(code_dir / env["requirements"])]})
        )
    if env.get("project"):
        frozen = (code_dir / "uv.lock").is_file()
        steps.append(("uv_sync", (str(code_dir),), {"frozen": frozen}))
    steps.append(("env", ({**env.get("env", {}), "PYTHONUNBUFFERED": "1"},), {}))
    steps.append(("add_local_python_source", ("trainward",), {}))
    ignore = [*IGNORE, *env.get("ignore", [])]
    steps.append(("add_local_dir", (str(code_dir), remote_root), {"ignore": ignore}))
    for extra in env.get("dirs", []):
        local = code_dir / extra if not Path(extra).is_absolute() else Path(extra)
        steps.append(("add_local_dir", (str(local), f"/root/{local.name}"), {"ignore": IGNORE}))
    return steps


def describe(steps: list[Step]) -> list[str]:
    """One line per step, for the launch plan."""
    out = []
    for method, args, kwargs in steps:
        shown = [*map(str, args), *(f"{k}={v}" for k, v in kwargs.items() if k != "ignore")]
        out.append(f"{method}({', '.join(shown)})")
    return out


def build_image(
    modal: Any, decl: dict[str, Any], remote_root: str, baked_env: dict[str, str]
) -> Any:
    """The `modal.Image` of `image_steps`, with `baked_env` (the declaration) in its env step."""
    image = None
    for method, args, kwargs in image_steps(decl, remote_root):
        if method == "debian_slim":
            image = modal.Image.debian_slim(**kwargs)
            continue
        if method == "env":
            args = ({**args[0], **baked_env},)
        image = getattr(image, method)(*args, **kwargs)
    return image
