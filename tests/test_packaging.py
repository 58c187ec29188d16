"""What a package index needs from pyproject.toml: the SPDX license form, and every version
cap explained next to it, with the pinned version (constraints.txt) and the installed one
inside its range."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement

from tests.conftest import REPO

PYPROJECT = REPO / "pyproject.toml"
CAP = re.compile(r'"[A-Za-z0-9_.-]+[^"]*<[^"]*"')  # a requirement with an upper bound


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, ver = line.partition("==")
            out[name.lower().replace("_", "-")] = ver
    return out


def requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    reqs = list(project["dependencies"])
    reqs += [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in reqs if not r.startswith("trainward")]


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["license"] == "MIT"
    assert all((REPO / f).is_file() for f in project["license-files"])
    assert "MIT License" in (REPO / "LICENSE").read_text()


def test_every_pin_is_inside_its_range() -> None:
    pinned = pins()
    for req in requirements():
        if req.name.lower() in pinned:
            assert req.specifier.contains(pinned[req.name.lower()], prereleases=True), req


def test_every_cap_is_explained_on_its_line() -> None:
    capped = [line for line in PYPROJECT.read_text().splitlines() if CAP.search(line)]
    assert len(capped) >= 3  # modal, wandb, mcp
    for line in capped:
        assert "#" in line, f"a version cap needs its reason in a comment on its line: {line}"


def test_installed_modal_and_wandb_are_inside_the_caps() -> None:
    for req in requirements():
        if req.name in ("modal", "wandb"):
            assert req.specifier.contains(version(req.name)), (req, version(req.name))
