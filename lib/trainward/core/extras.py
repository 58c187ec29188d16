"""How to install trainward or one of its extras, for the installation that is running.

A source checkout (an editable install: lib/trainward/ under a repository holding
pyproject.toml) gets the pinned command of the README; an installed wheel gets the package
index form. Hints never assume a checkout that is not there.
"""

from __future__ import annotations

from pathlib import Path


def source_checkout() -> Path | None:
    """The repository trainward runs from, or None for an installed package."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "lib" / "trainward").is_dir():
        return root
    return None


def install_hint(extra: str | None = None) -> str:
    """The command that installs trainward (with `extra`, e.g. "plot") where it runs now."""
    root = source_checkout()
    if root is not None:
        target = f"'.[{extra}]'" if extra else "."
        return f"pip install -c constraints.txt -e {target}   (in {root})"
    return f"pip install 'trainward[{extra}]'" if extra else "pip install trainward"
