"""The CLI against the Modal fake, as a subprocess: what the Modal tests share."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.conftest import REPO, Result


def run(fake: Any, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "trainward", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={**fake.client_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def status(fake: Any, run_name: str) -> dict[str, Any]:
    res = run(fake, "status", run_name, "--json")
    assert res.code == 0, res.stderr
    return res.json()


def wait_finished(fake: Any, run_name: str, timeout: float = 90) -> dict[str, Any]:
    res = run(
        fake,
        "wait",
        run_name,
        "--json",
        "--interval",
        "0.5",
        "--timeout",
        str(timeout),
        timeout=timeout + 30,
    )
    assert res.code == 0, res.stdout + res.stderr
    return res.json()
