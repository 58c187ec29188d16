"""The Modal fake, driven by the real modal 1.6 CLI and SDK in subprocesses.

Every test that uses the ``modal_fake`` fixture also asserts, at teardown, that the client
called no RPC the fake does not serve and that the fake hit no bug of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.modal_fake.client import REPO_ROOT, ModalFake, ModalFakeError

EXAMPLES = REPO_ROOT / "tests" / "fakes" / "modal_fake" / "examples"
TOY_APP = str(EXAMPLES / "toy_app.py")
SDK = str(EXAMPLES / "sdk.py")
APP_ID = re.compile(r"^ap-[A-Za-z0-9]{22}$")
MiB = 1024 * 1024


def _env(fake: ModalFake) -> dict[str, str]:
    return {**fake.client_env(), "COLUMNS": "200"}


def cli(
    fake: ModalFake, *args: str, ok: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real ``modal`` CLI against the fake."""
    proc = subprocess.run(
        [sys.executable, "-m", "modal", *args],
        env=_env(fake),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if ok:
        assert proc.returncode == 0, f"modal {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def sdk(fake: ModalFake, *args: str, timeout: float = 60) -> dict[str, Any]:
    """Run one command of examples/sdk.py (the real SDK) and return its JSON line."""
    proc = subprocess.run(
        [sys.executable, SDK, *args],
        env=_env(fake),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"sdk.py {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def launched(
    fake: ModalFake,
    *args: str,
    cwd: Path = REPO_ROOT,
    script: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """Run examples/sdk.py (or ``script``) in the background; yield it and its first JSON line.
    On exit the process is killed if still running, and reaped."""
    proc = subprocess.Popen(
        script or [sys.executable, SDK, *args],
        env={**_env(fake), **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"launcher printed nothing: {proc.communicate(timeout=30)[1]}"
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def deploy_toy(fake: ModalFake) -> None:
    cli(fake, "deploy", TOY_APP)


def volume_file(fake: ModalFake, volume: str, path: str) -> Path:
    return fake.volume_dir(volume) / path


def checkpoint_at_least(fake: ModalFake, run: str, step: int) -> bool:
    """Whether toy_app.resumable, running as ``run``, has checkpointed ``step`` yet."""
    try:
        text = volume_file(fake, "toy-vol", f"{run}/ckpt").read_text()
        return int(text) >= step
    except (ModalFakeError, OSError, ValueError):  # no volume, no file, or a write under way
        return False


# ---- routing, auth --------------------------------------------------------------------------

_RAW_GRPC = """
import asyncio, json, sys
from google.protobuf.empty_pb2 import Empty
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from modal_proto import api_grpc, api_pb2

async def main(port, token_id, token_secret):
    channel = Channel("127.0.0.1", port)
    stub = api_grpc.ModalClientStub(channel)
    md = {"x-modal-client-type": "1", "x-modal-token-id": token_id, "x-modal-token-secret": token_secret}
    out = {}
    await stub.ClientHello(Empty(), metadata=md)
    for name, call in [
        ("unserved", stub.SandboxList(api_pb2.SandboxListRequest(), metadata=md)),
        ("bad_token", stub.ClientHello(Empty(), metadata={**md, "x-modal-token-secret": "nope"})),
    ]:
        try:
            await call
        except GRPCError as exc:
            out[name] = exc.status.name
    channel.close()
    print(json.dumps(out))

asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
"""


def test_every_rpc_is_routed_recorded_and_authenticated(tmp_path: Path) -> None:
    with ModalFake.start(tmp_path / "fake") as fake:
        port = fake.url.rsplit(":", 1)[1]
        env = fake.env
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _RAW_GRPC,
                port,
                env["MODAL_TOKEN_ID"],
                env["MODAL_TOKEN_SECRET"],
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=fake.client_env(),
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {
            "unserved": "UNIMPLEMENTED",
            "bad_token": "UNAUTHENTICATED",
        }
        assert fake.calls() == ["ClientHello", "SandboxList", "ClientHello"]
        assert fake.unimplemented() == ["SandboxList"]
        served = fake.served()
        fake.reset_calls()
        assert fake.calls() == []
    readme = (REPO_ROOT / "tests/fakes/modal_fake/README.md").read_text(encoding="utf-8")
    missing = [name for name in served if f"`{name}`" not in readme]
    assert missing == [], f"README.md does not list these served RPCs: {missing}"


def test_missing_or_wrong_token_fails_fast(modal_fake: ModalFake) -> None:
    env = _env(modal_fake)
    del env["MODAL_TOKEN_ID"]
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "modal", "volume", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0 and "Token missing" in proc.stderr
    assert time.monotonic() - t0 < 15  # no network wait: the client refuses before any I/O
    assert modal_fake.calls() == []

    env = {**_env(modal_fake), "MODAL_TOKEN_SECRET": "wrong"}
    proc = subprocess.run(
        [sys.executable, "-m", "modal", "volume", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0 and "Invalid token" in proc.stderr
    assert {c["status"] for c in modal_fake.call_log()} == {"UNAUTHENTICATED"}


def test_unavailable_injection(modal_fake: ModalFake) -> None:
    # Transient errors are absorbed: the client retries UNAVAILABLE (4 attempts over ~0.7 s).
    modal_fake.fail_next(2)
    cli(modal_fake, "volume", "list", "--json")
    assert [c["status"] for c in modal_fake.call_log()] == ["UNAVAILABLE", "UNAVAILABLE", "OK"]
    # An outage longer than that fails the command, quickly and with the status in the message...
    modal_fake.unavailable_for(600)
    t0 = time.monotonic()
    proc = cli(modal_fake, "volume", "list", ok=False)
    assert proc.returncode != 0 and "UNAVAILABLE" in proc.stderr
    assert time.monotonic() - t0 < 30
    # ...and once it is over, the same command works again.
    modal_fake.unavailable_for(0)
    cli(modal_fake, "volume", "list")


def test_start_failure_reports_the_fakes_stderr(tmp_path: Path) -> None:
    with pytest.raises(ModalFakeError, match="invalid int value"):
        ModalFake.start(tmp_path / "fake", args=["--port", "not-a-port"])


# ---- volumes --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_volume_cli_round_trip(modal_fake: ModalFake, tmp_path: Path, version: int) -> None:
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"hello volume\n")
    big.write_bytes(os.urandom(9 * MiB + 4321))
    cli(modal_fake, "volume", "create", "data", "--version", str(version))
    listed = json.loads(cli(modal_fake, "volume", "list", "--json").stdout)
    assert [v["name"] for v in listed] == ["data"]

    cli(modal_fake, "volume", "put", "data", str(small), "/in/small.txt")
    cli(modal_fake, "volume", "put", "data", str(big), "/in/big.bin")
    again = cli(modal_fake, "volume", "put", "data", str(small), "/in/small.txt", ok=False)
    assert again.returncode != 0 and "already exists" in again.stderr

    rows = json.loads(cli(modal_fake, "volume", "ls", "--json", "data", "/in").stdout)
    assert {(r["filename"], r["type"], r["size"]) for r in rows} == {
        ("in/small.txt", "file", small.stat().st_size),
        ("in/big.bin", "file", big.stat().st_size),
    }
    out = tmp_path / "out"
    out.mkdir()
    cli(modal_fake, "volume", "get", "data", "/in/big.bin", str(out))
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    assert (modal_fake.volume_dir("data") / "in/big.bin").read_bytes() == big.read_bytes()

    cli(modal_fake, "volume", "rm", "data", "/in/small.txt")
    assert sorted(p.name for p in (modal_fake.volume_dir("data") / "in").iterdir()) == ["big.bin"]
    kinds = modal_fake.bytes_uploaded()["by_kind"]
    assert kinds.get("block" if version == 2 else "blob", 0) >= big.stat().st_size
    rpcs = set(modal_fake.calls())
    assert ("VolumePutFiles2" in rpcs) == (version == 2)
    assert ("VolumePutFiles" in rpcs) == (version == 1)


@pytest.mark.parametrize("version", [1, 2])
def test_volume_sdk_round_trip(modal_fake: ModalFake, tmp_path: Path, version: int) -> None:
    modal_fake.set_volume_version("default", version)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "big.bin").write_bytes(os.urandom(9 * MiB + 7))
    assert sdk(modal_fake, "upload", "sdkvol", str(src), "/ds") == {"ok": True}
    assert sdk(modal_fake, "upload", "sdkvol", str(src), "/ds")["error"] == "FileExistsError"
    before = modal_fake.bytes_uploaded()["total"]
    assert sdk(modal_fake, "upload", "sdkvol", str(src), "/ds", "--force") == {"ok": True}
    assert modal_fake.bytes_uploaded()["total"] == before  # unchanged content is not re-sent

    entries = sdk(modal_fake, "ls", "sdkvol", "/ds", "--recursive")["entries"]
    assert {(e["path"], e["type"]) for e in entries} == {
        ("ds/a.txt", "FILE"),
        ("ds/sub", "DIRECTORY"),
        ("ds/sub/big.bin", "FILE"),
    }
    top = sdk(modal_fake, "ls", "sdkvol", "/ds")["entries"]
    assert {e["path"] for e in top} == {"ds/a.txt", "ds/sub"}
    copy = tmp_path / "copy.bin"
    assert sdk(modal_fake, "read", "sdkvol", "/ds/sub/big.bin", str(copy))["bytes"] == 9 * MiB + 7
    assert copy.read_bytes() == (src / "sub" / "big.bin").read_bytes()
    assert sdk(modal_fake, "rm", "sdkvol", "/ds/a.txt") == {"ok": True}
    assert sdk(modal_fake, "reload-commit", "sdkvol") == {"ok": True}
    assert not (modal_fake.volume_dir("sdkvol") / "ds/a.txt").exists()
    read_urls = [c for c in modal_fake.calls() if c == "VolumeGetFile2"]
    assert read_urls, "reads go through VolumeGetFile2 block URLs on the fake's HTTP server"


# ---- secrets, apps, logs --------------------------------------------------------------------


def test_secret_cli_and_container_env(modal_fake: ModalFake) -> None:
    created = cli(
        modal_fake, "secret", "create", "toy-secret", "TOY_A=alpha-value", "TOY_B=beta-value"
    )
    assert "alpha-value" not in created.stdout + created.stderr
    assert "toy-secret" in cli(modal_fake, "secret", "list").stdout
    listed = json.loads(cli(modal_fake, "secret", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["toy-secret"]
    run = cli(modal_fake, "run", str(EXAMPLES / "secret_app.py"))
    assert "keys=TOY_A,TOY_B,TOY_IMAGE" in run.stdout  # secrets and Image.env() reach the body
    assert "alpha-value" not in modal_fake.stderr_text()
    app = modal_fake.app("modal-fake-secrets")
    assert app is not None and app["state"] == 5  # ephemeral app stopped when `modal run` ended


def test_deployed_function_spawn_and_get(modal_fake: ModalFake) -> None:
    deploy_toy(modal_fake)
    # spawn in one process, fetch the result by id from another
    call = sdk(modal_fake, "spawn", "modal-fake-toy", "square", "[7]")["function_call_id"]
    assert sdk(modal_fake, "get", call, "30") == {"result": 49}

    failed = sdk(modal_fake, "call", "modal-fake-toy", "fail", '["boom"]', "30")
    assert (failed["error"], failed["module"], failed["message"]) == (
        "ValueError",
        "builtins",
        "boom",
    )
    running = sdk(modal_fake, "call", "modal-fake-toy", "resumable", '["slow", 50, 0.2]', "0")
    assert running["error"] == "TimeoutError"
    timed_out = sdk(modal_fake, "call", "modal-fake-toy", "sleepy", "[30]", "30")
    assert timed_out["error"] == "FunctionTimeoutError", timed_out


def test_app_list_logs_and_stop(modal_fake: ModalFake) -> None:
    deploy_toy(modal_fake)
    apps = json.loads(cli(modal_fake, "app", "list", "--json").stdout)
    assert [(a["description"], a["state"]) for a in apps] == [("modal-fake-toy", "deployed")]
    assert APP_ID.match(apps[0]["app_id"])

    assert sdk(modal_fake, "call", "modal-fake-toy", "square", "[4]", "30")["result"] == 16
    assert "squaring 4" in cli(modal_fake, "app", "logs", "modal-fake-toy").stdout

    long = sdk(modal_fake, "spawn", "modal-fake-toy", "resumable", '["stopme", 100, 0.2]')
    modal_fake.wait_for(lambda f: checkpoint_at_least(f, "stopme", 1), timeout=30)
    cli(modal_fake, "app", "stop", "--yes", "modal-fake-toy")
    (task_id,) = {i["task_id"] for i in modal_fake.inputs(long["function_call_id"])}
    assert {t["task_id"]: t["end_reason"] for t in modal_fake.tasks()}[task_id] == "app stopped"
    modal_fake.wait_for(lambda f: not f.tasks(running=True), timeout=10)
    stopped = json.loads(cli(modal_fake, "app", "list", "--json").stdout)
    assert [a["state"] for a in stopped] == ["stopped"]
    assert "was stopped" in sdk(modal_fake, "get", long["function_call_id"], "5")["message"]

    deploy_toy(modal_fake)  # a new deployment under the same name, stopped by id this time
    app_id = next(a["app_id"] for a in modal_fake.state()["apps"] if a["state"] == 3)
    cli(modal_fake, "app", "stop", "--yes", app_id)
    assert modal_fake.app(app_id)["state"] == 5  # type: ignore[index]


def test_image_build_delay_and_failure(modal_fake: ModalFake) -> None:
    modal_fake.set_image_build(delay_s=1.0)
    t0 = time.monotonic()
    deploy_toy(modal_fake)
    assert time.monotonic() - t0 >= 1.0
    modal_fake.set_image_build(fail="pip install exploded")
    proc = cli(modal_fake, "deploy", TOY_APP, ok=False)
    assert proc.returncode != 0 and "pip install exploded" in proc.stdout + proc.stderr


# ---- running functions ----------------------------------------------------------------------


def test_modal_run_detach(modal_fake: ModalFake) -> None:
    proc = cli(modal_fake, "run", "--detach", f"{TOY_APP}::main", "--x", "5", timeout=90)
    assert "result=25" in proc.stdout  # --detach still waits for the entrypoint and streams logs
    app = modal_fake.app("modal-fake-toy")
    assert app is not None and app["state"] == 5  # detached, client gone, nothing left to run


def test_detached_app_survives_sigkilled_launcher(modal_fake: ModalFake) -> None:
    args = ("detach-spawn", "write_file", '["out/marker.txt", "survived"]', "--hang")
    with launched(modal_fake, *args) as (proc, ids):
        proc.send_signal(signal.SIGKILL)  # killed inside `with app.run(detach=True)`, after spawn
        proc.wait(10)
    assert APP_ID.match(ids["app_id"]) and ids["function_call_id"].startswith("fc-")
    assert sdk(modal_fake, "get", ids["function_call_id"], "60") == {"result": "out/marker.txt"}
    assert volume_file(modal_fake, "toy-vol", "out/marker.txt").read_text() == "survived"
    app = modal_fake.app(ids["app_id"])
    assert app is not None and app["state"] == 2  # still DETACHED: nothing stopped it


def test_preemption_with_retries_resumes(modal_fake: ModalFake) -> None:
    with launched(modal_fake, "detach-spawn", "resumable", '["pre", 12, 0.2]') as (_, ids):
        modal_fake.wait_for(lambda f: checkpoint_at_least(f, "pre", 3), timeout=30)
        assert len(modal_fake.kill_container(ids["function_call_id"])) == 1
        got = sdk(modal_fake, "get", ids["function_call_id"], "60")
    assert got["result"]["steps"] == 12 and got["result"]["resumed_from"] >= 3
    attempts = volume_file(modal_fake, "toy-vol", "pre/attempts").read_text().split()
    assert attempts[0] == "0" and len(attempts) == 2
    assert [i["retry_count"] for i in modal_fake.inputs(ids["function_call_id"])] == [1]
    logs = cli(modal_fake, "app", "logs", ids["app_id"]).stdout
    assert "retry 1/2" in logs


def test_continuation_spawned_inside_container(modal_fake: ModalFake) -> None:
    with launched(modal_fake, "detach-spawn", "chain", '["ch", 2]') as (proc, ids):
        assert sdk(modal_fake, "get", ids["function_call_id"], "60") == {"result": 2}
        assert proc.wait(30) == 0  # the launcher left its `with app.run(detach=True)` block
    modal_fake.wait_for(lambda f: volume_file(f, "toy-vol", "ch/0").exists(), timeout=60)
    tasks = {volume_file(modal_fake, "toy-vol", f"ch/{n}").read_text() for n in range(3)}
    assert len(tasks) == 3  # each link of the chain ran in its own container
    modal_fake.wait_for(lambda f: f.app(ids["app_id"])["state"] == 5, timeout=20)


_EPHEMERAL = """
import json, time, toy_app
with toy_app.app.run():
    call = toy_app.resumable.spawn("eph", 1000, 0.1)
    print(json.dumps({"app_id": toy_app.app.app_id}), flush=True)
    time.sleep(3600)
"""


def test_ephemeral_app_stops_when_its_client_dies(tmp_path: Path) -> None:
    # The client heartbeats every MODAL_HEARTBEAT_INTERVAL s (15 by default); the fake stops an
    # ephemeral app whose heartbeats stop for --heartbeat-timeout s (40 by default).
    with ModalFake.start(tmp_path / "fake", args=["--heartbeat-timeout", "2"]) as fake:
        script = [sys.executable, "-c", _EPHEMERAL]
        env = {"MODAL_HEARTBEAT_INTERVAL": "0.3"}
        with launched(fake, cwd=EXAMPLES, script=script, env=env) as (proc, ids):
            fake.wait_for(lambda f: checkpoint_at_least(f, "eph", 25), timeout=30)
            assert fake.app(ids["app_id"])["state"] == 1  # type: ignore[index]  # alive: EPHEMERAL
            proc.send_signal(signal.SIGKILL)  # no disconnect, just silence
            proc.wait(10)
        fake.wait_for(lambda f: f.app(ids["app_id"])["state"] == 5, timeout=20)
        fake.wait_for(lambda f: not f.tasks(running=True), timeout=10)
        assert fake.unimplemented() == []


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with ModalFake.start(tmp_path / "fake", args=["--default-volume-version", "1"]) as fake:
        deploy_toy(fake)
        volume_dir = fake.volume_dir("toy-vol")
        assert fake.state()["volumes"][0]["version"] == 1
        assert fake.unimplemented() == []
    with ModalFake.start(tmp_path / "fake") as fake:
        assert fake.volume_dir("toy-vol") == volume_dir
        call = sdk(fake, "spawn", "modal-fake-toy", "square", "[9]")["function_call_id"]
        assert sdk(fake, "get", call, "30") == {"result": 81}
        assert fake.unimplemented() == []
