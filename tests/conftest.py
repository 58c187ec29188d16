"""Shared fixtures. Every test gets its own TRAINWARD_HOME, so nothing touches ~/.trainward."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The fakes' fixtures (modal_fake, wandb_fake, wandb_fake_server), available to every test.
pytest_plugins = ["tests.fakes.modal_fake.fixture", "tests.fakes.wandb_fake.fixture"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EXPERIMENTS = REPO / "experiments"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def tw_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "twhome"
    monkeypatch.setenv("TRAINWARD_HOME", str(home))
    monkeypatch.delenv("TRAINWARD_DEBUG", raising=False)
    for var in ("WANDB_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_SERVER_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    return home


def tw(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process through its real edge (`trainward.cli.main`)."""
    from trainward.cli import _common, main

    out, err = io.StringIO(), io.StringIO()
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as ex:
                code = int(ex.code or 0)
    finally:
        _common._STATE.update(json=False, emitted=False)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Result(code, out.getvalue(), err.getvalue())


def tw_proc(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Result:
    """Run the CLI as a real subprocess (`python -m trainward`)."""
    proc = subprocess.run(
        [sys.executable, "-m", "trainward", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def wait_for(
    pred: Callable[[], Any], timeout: float = 60, interval: float = 0.05, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def write_experiment(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch project root (has a pyproject.toml) for experiment files and data."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname='scratch'\n")
    return root


@pytest.fixture
def ticker_experiment(project: Path) -> Callable[..., Path]:
    """An experiment running tests/helpers/ticker.py: a tiny, configurable, torch-free trainer."""

    def make(
        name: str = "tick",
        steps: int = 20,
        interval: float = 0.05,
        retries: int = 0,
        extra: str = "",
    ) -> Path:
        body = f"""name: {name}
backend: local
entrypoint: tests.helpers.ticker:main
code_dir: {REPO}
params: {{steps: {steps}, interval: {interval}}}
resources: {{timeout: 5m, retries: {retries}}}
{extra}
"""
        return write_experiment(project / "experiments" / f"{name}.yaml", body)

    return make


@pytest.fixture
def kill_on_exit() -> Iterator[list[int]]:
    """Process-group ids to SIGKILL at teardown, so a failing test leaves nothing running."""
    pgids: list[int] = []
    yield pgids
    import signal

    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def modal_exp(project: Path) -> Callable[..., Path]:
    """An experiment on the Modal backend running tests/helpers/ticker.py (torch-free)."""

    def make(
        name: str = "tick",
        steps: int = 20,
        interval: float = 0.05,
        timeout: str = "5m",
        retries: int = 1,
        extra: str = "",
        gpu: str = "null",
    ) -> Path:
        return write_experiment(
            project / "experiments" / f"{name}.yaml",
            f"""name: {name}
backend: modal
entrypoint: tests.helpers.ticker:main
code_dir: {REPO}
params: {{steps: {steps}, interval: {interval}}}
resources: {{timeout: {timeout}, retries: {retries}, gpu: {gpu}}}
volume: tw-vol
{extra}
""",
        )

    return make
