"""A run's `environment:` before it starts: the Modal image it gets, or, locally, what is missing.

A local run uses the Python trainward runs in, so a launch checks, before anything is
claimed, that every package the experiment declares (`pip`, a `requirements` file) is
installed at a version the specifier allows, and says which are not and how to install
them, instead of failing an hour into the run.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from trainward.config.experiment import Experiment
from trainward.core.contracts import JsonObject
from trainward.errors import UsageError

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def requirements_of(exp: Experiment) -> list[str]:
    env = exp.environment
    reqs = list(env.pip)
    if env.requirements:
        path = exp.code_path / env.requirements
        if not path.is_file():
            raise UsageError(
                f"environment.requirements {path} does not exist",
                hint="fix the path (relative to code_dir or the project root)",
            )
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                reqs.append(line)
    return reqs


def missing(requirement: str) -> str | None:
    """Why `requirement` is not satisfied here (None when it is)."""
    m = _NAME.match(requirement.split(";", 1)[0])
    if not m:
        return f"{requirement!r} is not a requirement specifier"
    name, spec = m[1], m[3].strip()
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return f"{name} is not installed"
    if spec and not _satisfies(version, spec):
        return f"{name} {version} is installed; the run wants {spec}"
    return None


def _satisfies(version: str, spec: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # without packaging, only an exact pin can be checked
        return not spec.startswith("==") or version == spec[2:].strip()
    return SpecifierSet(spec).contains(version, prereleases=True)


def check_local(exp: Experiment) -> None:
    """Raise UsageError naming every declared package that this Python lacks."""
    wanted = exp.environment.python
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    problems = [p for r in requirements_of(exp) if (p := missing(r))]
    if problems:
        install = " ".join(f"'{r}'" for r in requirements_of(exp))
        raise UsageError(
            "this run's environment is not installed here: " + "; ".join(problems),
            hint=f"install it into this Python ({sys.executable}): pip install {install}"
            + (
                f" (the run asks for Python {wanted}, this is {here})"
                if wanted and wanted != here
                else ""
            ),
        )


def plan(exp: Experiment) -> JsonObject:
    """The environment block of a launch plan: the image steps on Modal, checks locally."""
    env = exp.environment
    if exp.backend == "modal":
        from trainward.backends.modal import describe, image_steps
        from trainward.backends.modal.support import declaration_for

        decl = declaration_for(exp.to_dict(), code_dir=str(exp.code_path))
        return {"image": describe(image_steps(decl, "/root/project"))}
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        "python": here,
        "packages": requirements_of(exp),
        "apt": "not installed locally: " + ", ".join(env.apt) if env.apt else None,
        "env": sorted(env.env),
        "project": str(Path(exp.code_path)) if env.project else None,
    }
