"""`WandbFake`: start the fake W&B server as a subprocess and drive its control API.

Typical use: `fake = WandbFake().start()`; `fake.seed_run("ent", "proj", "my-run",
rows=100_000)`; hand `fake.env` to a client subprocess (or monkeypatch os.environ with it);
`fake.fail(429, count=5)` to answer the next 5 requests with 429; `fake.requests()` for
what the client sent; `fake.stop()`.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
FAKE_API_KEY = "fake-" + "0123456789abcdef" * 3  # 53 chars: wandb wants 40 or more


class WandbFake:
    def __init__(self, *, startup_timeout: float = 15.0) -> None:
        self.startup_timeout = startup_timeout
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.tmp = ""

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> WandbFake:
        self.tmp = tempfile.mkdtemp(prefix="wandb-fake-")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.wandb_fake", "--port", "0"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = self._await_ready()
        return self

    def _await_ready(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("READY "):
                    return line.split()[1]
                if not line:
                    break
        self.stop()
        raise RuntimeError("fake W&B server did not print READY in time")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""

    def __enter__(self) -> WandbFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """Environment for a wandb client pointed at this fake, all state under a temp dir."""
        d = Path(self.tmp)
        for sub in ("dir", "cache", "config", "data", "artifacts"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        return {
            "WANDB_BASE_URL": self.url,
            "WANDB_API_KEY": FAKE_API_KEY,
            "WANDB_DIR": str(d / "dir"),
            "WANDB_CACHE_DIR": str(d / "cache"),
            "WANDB_CONFIG_DIR": str(d / "config"),
            "WANDB_DATA_DIR": str(d / "data"),
            "WANDB_ARTIFACT_DIR": str(d / "artifacts"),
            "WANDB_SILENT": "true",
            "WANDB_ERROR_REPORTING": "false",  # no telemetry posts to the fake
            "WANDB_DISABLE_CODE": "true",
            "WANDB_DISABLE_GIT": "true",
            "WANDB_X_DISABLE_STATS": "true",
            "WANDB_X_DISABLE_MACHINE_INFO": "true",
            "WANDB_CONSOLE": "off",
        }

    # --- control API ------------------------------------------------------------------

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def seed_run(
        self,
        entity: str,
        project: str,
        name: str,
        *,
        rows: int = 0,
        state: str = "running",
        heartbeat_at: float | None = None,
        created_at: float | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        val_every: int = 1000,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a run with `rows` synthetic history rows; returns {entity, project, id, name}."""
        spec: dict[str, Any] = {
            "entity": entity,
            "project": project,
            "name": name,
            "rows": rows,
            "state": state,
            "config": config or {},
            "summary": summary or {},
            "val_every": val_every,
        }
        for key, value in (
            ("heartbeat_at", heartbeat_at),
            ("created_at", created_at),
            ("id", run_id),
        ):
            if value is not None:
                spec[key] = value
        return self._call("/_fake/seed", spec)

    def run(self, entity: str, project: str, run_id: str) -> dict[str, Any]:
        """The run as the fake stored it (rows, state, summary, config, exit_code...)."""
        return self._call(f"/_fake/runs/{entity}/{project}/{run_id}")

    def requests(self) -> list[dict[str, Any]]:
        return self._call("/_fake/requests")["requests"]

    def reset_requests(self) -> None:
        self._call("/_fake/requests/reset", {})

    def fail(self, status: int, count: int | None = None, seconds: float | None = None) -> None:
        """Answer `status` to the next `count` requests, or for `seconds` (neither: until cleared)."""
        self._call(
            "/_fake/fault", {"mode": "status", "status": status, "count": count, "seconds": seconds}
        )

    def hang(self, seconds: float | None = None) -> None:
        """Hold every request without an answer for `seconds` (None: until `clear_faults`)."""
        self._call("/_fake/fault", {"mode": "hang", "seconds": seconds})

    def down(self, seconds: float | None = None) -> None:
        """Drop every connection without an answer for `seconds` (None: until cleared)."""
        self._call("/_fake/fault", {"mode": "down", "seconds": seconds})

    def clear_faults(self) -> None:
        self._call("/_fake/fault/clear", {})


def graphql_ops(entries: list[dict[str, Any]]) -> list[str]:
    """The GraphQL operation names in a request log, in order."""
    return [e["op"] for e in entries if e["path"].endswith("/graphql")]


def client_env(fake: WandbFake, **extra: str) -> dict[str, str]:
    """os.environ plus the fake's variables, for `subprocess.run(env=...)`.

    Drops WANDB_SERVICE: once wandb ran in this process it names this process's wandb-core,
    and a child would attach to it instead of starting its own.
    """
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    return {**env, **fake.env, **extra}
