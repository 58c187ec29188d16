"""Test-side handle on a running fake: start/stop the subprocess, the env for clients, controls.

    fake = ModalFake.start(tmp_path / "modal")
    subprocess.run(["modal", "volume", "list"], env={**os.environ, **fake.env}, timeout=60)
    assert fake.unimplemented() == []
    fake.stop()

This module does not import ``modal``: tests keep the client out of their own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
TOKEN_ID, TOKEN_SECRET = "ak-modal-fake", "as-modal-fake"


class ModalFakeError(RuntimeError):
    """The fake did not start, or a control request failed."""


class ModalFake:
    def __init__(
        self, proc: subprocess.Popen[str], state_dir: Path, url: str, http_url: str
    ) -> None:
        self.proc = proc
        self.state_dir = state_dir
        self.url = url
        self.http_url = http_url

    # ---- lifecycle --------------------------------------------------------------------------
    @classmethod
    def start(
        cls, state_dir: Path | str, *, timeout: float = 30.0, args: Sequence[str] = ()
    ) -> ModalFake:
        """Spawn ``python -m tests.fakes.modal_fake`` and wait (at most ``timeout`` s) for READY."""
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = state_dir / "fake.stderr.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
        cmd = [sys.executable, "-m", "tests.fakes.modal_fake", "--state-dir", str(state_dir), *args]
        with stderr_path.open("ab") as stderr:
            proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        line = _read_ready(proc, timeout)
        if not line.startswith("READY "):
            proc.kill()
            proc.wait(5)
            if proc.stdout:
                proc.stdout.close()
            log = stderr_path.read_text(errors="replace")[-4000:]
            raise ModalFakeError(f"modal fake did not start (got {line!r}); its stderr:\n{log}")
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        return cls(proc, state_dir, fields["grpc"], fields["http"])

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> ModalFake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """Env vars a modal client subprocess needs to talk to this fake (and only to it)."""
        return {
            "MODAL_SERVER_URL": self.url,
            "MODAL_TOKEN_ID": TOKEN_ID,
            "MODAL_TOKEN_SECRET": TOKEN_SECRET,
            "MODAL_CONFIG_PATH": str(self.state_dir / "no-such-modal.toml"),
            "MODAL_ENVIRONMENT": "main",
            "MODAL_DISABLE_API_PROXY": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }

    def client_env(self) -> dict[str, str]:
        """``os.environ`` without any MODAL_* of the developer, plus :attr:`env`."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
        return {**base, **self.env}

    def stderr_text(self) -> str:
        return (self.state_dir / "fake.stderr.log").read_text(errors="replace")

    # ---- recorded calls ---------------------------------------------------------------------
    def call_log(self) -> list[dict[str, Any]]:
        return list(self._get("/control/calls")["calls"])

    def calls(self) -> list[str]:
        return [c["method"] for c in self.call_log()]

    def unimplemented(self) -> list[str]:
        return [c["method"] for c in self.call_log() if c["unimplemented"]]

    def errors(self) -> list[dict[str, Any]]:
        """Calls on which the fake itself failed (bugs in the fake, answered FAILED_PRECONDITION)."""
        return [c for c in self.call_log() if c["status"] == "FAKE_BUG"]

    def served(self) -> list[str]:
        """The RPCs the fake has handlers for; every other RPC answers UNIMPLEMENTED."""
        return list(self._get("/control/served")["served"])

    def reset_calls(self) -> None:
        self._post("/control/reset_calls", {})

    def bytes_uploaded(self) -> dict[str, Any]:
        """``{"total": n, "by_kind": {"inline"|"blob"|"block": n}, "files": [{volume, path, bytes}]}``"""
        return dict(self._get("/control/uploads"))

    # ---- faults -----------------------------------------------------------------------------
    def unavailable_for(self, seconds: float) -> None:
        self._post("/control/unavailable", {"seconds": seconds})

    def fail_next(self, count: int, status: str = "UNAVAILABLE") -> None:
        """Make the next ``count`` RPCs (from any client) fail with gRPC ``status``."""
        self._post("/control/fail_next", {"count": count, "status": status})

    def set_billing_rates(self, rates: dict[str, str]) -> None:
        """Replace the workspace price list (`modal billing rates`), USD per second by key."""
        self._post("/control/billing_rates", rates)

    def delay_rpc(self, method: str, seconds: float) -> None:
        """Hold the next call of RPC `method` for `seconds` after it arrives (it is recorded in
        `calls()` at once, so a test can act while the client waits on it)."""
        self._post("/control/delay_rpc", {"method": method, "seconds": seconds})

    def set_image_build(self, delay_s: float = 0.0, fail: str | None = None) -> None:
        self._post("/control/image_build", {"delay_s": delay_s, "fail": fail})

    def kill_container(self, target: str) -> list[str]:
        """Kill (SIGKILL) the running containers of an ``fc-``/``ta-``/``ap-`` id or app name."""
        return list(self._post("/control/kill_container", {"target": target})["killed"])

    # ---- state ------------------------------------------------------------------------------
    def volume_dir(self, name: str) -> Path:
        return Path(self._get(f"/control/volume_dir?name={urllib.parse.quote(name)}")["path"])

    def set_volume_version(self, name_or_default: str, version: int) -> None:
        self._post("/control/volume_version", {"name": name_or_default, "version": version})

    def state(self) -> dict[str, Any]:
        return dict(self._get("/control/state"))

    def app(self, name_or_id: str) -> dict[str, Any] | None:
        """The newest app with that id, name or description."""
        apps = [
            a
            for a in self.state()["apps"]
            if name_or_id in (a["app_id"], a["name"], a["description"])
        ]
        return max(apps, key=lambda a: a["created_at"]) if apps else None

    def tasks(self, *, running: bool | None = None) -> list[dict[str, Any]]:
        rows = self.state()["tasks"]
        if running is not None:
            rows = [t for t in rows if (not t["finished_at"]) == running]
        return list(rows)

    def inputs(self, function_call_id: str | None = None) -> list[dict[str, Any]]:
        """Inputs (status ``pending|running|done``, ``retry_count``, ``task_id``), oldest first."""
        rows = self.state()["inputs"]
        if function_call_id is not None:
            rows = [i for i in rows if i["function_call_id"] == function_call_id]
        return sorted(rows, key=lambda i: i["created_at"])

    def wait_for(self, predicate: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Poll ``predicate(self)`` until it returns something truthy; raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s: {predicate}")
            time.sleep(interval)

    # ---- HTTP -------------------------------------------------------------------------------
    def _get(self, path: str) -> Any:
        return self._request(urllib.request.Request(self.http_url + path))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        data = json.dumps(body).encode()
        req = urllib.request.Request(
            self.http_url + path, data=data, headers={"Content-Type": "application/json"}
        )
        return self._request(req)

    @staticmethod
    def _request(req: urllib.request.Request) -> Any:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return json.loads(resp.read())
        except OSError as exc:
            raise ModalFakeError(f"control request {req.full_url} failed: {exc}") from exc


def _read_ready(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of the fake, or '' if it exits or stays silent past ``timeout``."""
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return ""
        return proc.stdout.readline().strip()
    finally:
        sel.close()
