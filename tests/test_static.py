"""The static checks run in CI too: lint, format and types, with the pinned tools from the dev extra.

mypy does not ignore missing imports, so a relative import that points at a module that is not
there (easy to leave behind when a module moves into a package) fails here, not at a user's
first `trainward launch`.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_is_clean() -> None:
    proc = _run("ruff", "check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean() -> None:
    proc = _run("ruff", "format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean(tmp_path) -> None:
    proc = _run("mypy", "--cache-dir", str(tmp_path / "mypy"), "lib/trainward")
    assert proc.returncode == 0, proc.stdout + proc.stderr
