"""The README's two commands, as written, on a fresh copy of the repository.

The first (install + the main job on the local backend) runs for real in a copy of the
working tree: a new venv, the pinned install, a detached CPU run that finishes, and its
status. The second (install + tests) is what .ci/run runs verbatim; running it here would
recurse into this suite, so the test checks it is the CI command and uses the same install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = [b.split("\n", 1)[1].strip() for b in text.split("```")[1::2] if b.startswith("bash")]
    return blocks[:2]


def fresh_copy(dest: Path) -> Path:
    """What a clone would hold: tracked files plus new files not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    for rel in filter(None, out.stdout.decode().split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_the_two_commands_open_the_readme() -> None:
    first, second = readme_commands()
    assert (
        first.startswith("python3 -m venv .venv && .venv/bin/pip install")
        and "trainward launch" in first
    )
    assert "wait" in first and "trainward status" in first
    assert (
        second.startswith("python3 -m venv .venv && .venv/bin/pip install") and "pytest" in second
    )
    assert "-c constraints.txt" in first and "-c constraints.txt" in second
    assert second in (REPO / ".ci" / "run").read_text().splitlines()
    pins = (REPO / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in pins and any(p.startswith("modal==1.6.") for p in pins)
    assert any(p.startswith("wandb==0.31.") for p in pins)


@pytest.mark.slow
def test_main_job_command_works_as_written_on_a_fresh_copy(tmp_path: Path) -> None:
    first, _ = readme_commands()
    repo = fresh_copy(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["TRAINWARD_HOME"] = str(tmp_path / "home")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    proc = subprocess.run(
        ["bash", "-c", first], cwd=repo, capture_output=True, text=True, timeout=900, env=env
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Launched (detached)" in proc.stdout
    assert ": FINISHED" in proc.stdout and "### Validation" in proc.stdout
    assert (repo / ".venv" / "bin" / "trainward").exists()
