"""On Modal, status never lies and a launch is never lost or doubled (against the fake).

Each test is one of the promises of the Modal backend, driven through the real CLI in
subprocesses (the real modal SDK and CLI talk to tests/fakes/modal_fake):

- a finished run read from a fresh home (no registry) is `finished`, not `stopped`;
- with the token removed, status says `unknown` and exits 5 at once;
- SIGINT while the spawn is in flight leaves exactly one run, registered with its ids;
- two homes launching one name a second apart leave one run and one refusal;
- a launcher killed before the spawn leaves the name free.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from trainward.backends.modal.apps import ACTIVE_APP_STATES, app_state

from tests.conftest import REPO, wait_for
from tests.helpers.modal_cli import run, wait_finished

pytestmark = pytest.mark.usefixtures("modal_fake")


def spawn_launch(fake: Any, cfg: Path, name: str, home: Path) -> subprocess.Popen[str]:
    env = {**fake.client_env(), "TRAINWARD_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "trainward", "launch", str(cfg), "--run-name", name, "--json"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def apps_named(fake: Any, name: str) -> list[dict[str, Any]]:
    return [a for a in fake.state()["apps"] if a.get("description") == name]


def calls_of(fake: Any, name: str) -> list[dict[str, Any]]:
    ids = {a["app_id"] for a in apps_named(fake, name)}
    return [c for c in fake.state()["calls"] if c.get("app_id") in ids]


def test_app_states_read_in_both_spellings() -> None:
    from modal_proto import api_pb2

    cli = {"deployed", "ephemeral (detached)", "ephemeral", "initializing...", "stopping...", "stopped", "disabled"}  # fmt: skip
    assert {app_state(s) for s in cli} == {
        "deployed", "detached", "ephemeral", "initializing", "stopping", "stopped", "disabled",
    }  # fmt: skip
    for number in api_pb2.AppState.values():
        name = api_pb2.AppState.Name(number)
        assert app_state(number) == app_state(name) == name.removeprefix("APP_STATE_").lower()
    active = {app_state(s) for s in ("ephemeral (detached)", "initializing...", "stopping...")}
    assert active <= ACTIVE_APP_STATES and "stopped" not in ACTIVE_APP_STATES


def test_a_finished_run_read_from_a_fresh_home_is_finished(modal_fake, modal_exp, tmp_path) -> None:
    cfg = modal_exp(steps=6, interval=0.02)
    assert run(modal_fake, "launch", str(cfg), "--run-name", "done").code == 0
    wait_finished(modal_fake, "done")
    fresh = {"TRAINWARD_HOME": str(tmp_path / "elsewhere")}
    args = ("status", "done", "--volume", "tw-vol", "--backend", "modal", "--json")
    res = run(modal_fake, *args, env=fresh)
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["verdict"] == "finished" and doc["compute"]["detail"]["app_state"] == "stopped"
    assert doc["compute"]["detail"]["function_call_id"]  # found on Modal by the run's name alone
    logs = run(modal_fake, "logs", "done", "--tail", "5", "--search", "started", "--json").json()
    assert logs["lines"] and all("started" in line for line in logs["lines"])
    assert (
        run(modal_fake, "logs", "done", "--since", "2099-01-01T00:00:00", "--json").json()["lines"]
        == []
    )
    res = run(modal_fake, "stop", "done", "--yes", "--json")  # a finished run: nothing to stop
    assert res.code == 0 and res.json()["stopped"] is False and res.json()["was"] == "finished"


def test_without_a_token_status_is_unknown_and_exits_5(modal_fake, modal_exp) -> None:
    cfg = modal_exp(steps=4, interval=0.02)
    assert run(modal_fake, "launch", str(cfg), "--run-name", "tokenless").code == 0
    res = run(
        modal_fake,
        "status",
        "tokenless",
        "--json",
        env={"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": ""},
    )
    assert res.code == 5, res.stdout + res.stderr
    doc = res.json()
    assert doc["verdict"] == "unknown" and "token" in " ".join(doc["notes"]).lower()
    assert "Traceback" not in res.stderr and "unknown" in res.stderr


def test_sigint_during_the_spawn_leaves_exactly_one_registered_run(
    modal_fake, modal_exp, tw_home
) -> None:
    cfg = modal_exp(steps=6, interval=0.02)
    modal_fake.delay_rpc("FunctionMap", 3.0)  # the spawn's RPC: a window to interrupt in
    proc = spawn_launch(modal_fake, cfg, "sigint", tw_home)
    wait_for(lambda: "FunctionMap" in modal_fake.calls(), 90, interval=0.05, what="the spawn")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err  # the interrupt is honoured, after the record
    assert len(calls_of(modal_fake, "sigint")) == 1
    res = run(modal_fake, "runs", "--json", env={"TRAINWARD_HOME": str(tw_home)})
    [rec] = [r for r in res.json()["runs"] if r["run"] == "sigint"]
    assert rec["state"] == "launched"
    doc = wait_finished(modal_fake, "sigint")
    assert doc["verdict"] == "finished"


def test_two_homes_launching_one_name_leave_one_run_and_one_refusal(
    modal_fake, modal_exp, tmp_path
) -> None:
    cfg = modal_exp(steps=40, interval=0.05)
    first = spawn_launch(modal_fake, cfg, "twin", tmp_path / "home-a")
    time.sleep(1.0)
    second = spawn_launch(modal_fake, cfg, "twin", tmp_path / "home-b")
    outcomes = []
    for proc in (first, second):
        _, err = proc.communicate(timeout=180)
        outcomes.append((proc.returncode, err))
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    refusal = next(err for code, err in outcomes if code == 2)
    assert "twin" in refusal and (
        "already" in refusal or "being launched" in refusal or "same moment" in refusal
    )
    assert len(calls_of(modal_fake, "twin")) == 1
    assert len([a for a in apps_named(modal_fake, "twin") if a["state"] != 5]) <= 1  # 5: stopped


def test_a_launcher_killed_before_the_spawn_leaves_the_name_free(
    modal_fake, modal_exp, tw_home
) -> None:
    cfg = modal_exp(steps=6, interval=0.02)
    modal_fake.set_image_build(delay_s=30.0)  # the launch waits in the image build
    proc = spawn_launch(modal_fake, cfg, "reborn", tw_home)
    wait_for(lambda: apps_named(modal_fake, "reborn"), 90, interval=0.1, what="the app")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    modal_fake.set_image_build(delay_s=0.0)
    assert calls_of(modal_fake, "reborn") == []
    res = run(
        modal_fake,
        "launch",
        str(cfg),
        "--run-name",
        "reborn",
        "--json",
        env={"TRAINWARD_HOME": str(tw_home)},
    )
    assert res.code == 0, res.stderr
    assert len(calls_of(modal_fake, "reborn")) == 1
    assert wait_finished(modal_fake, "reborn")["verdict"] == "finished"


def test_a_launcher_killed_right_after_the_spawn_keeps_the_call_id(
    modal_fake, modal_exp, tw_home
) -> None:
    """SIGKILL after the call exists but before the registry recorded it: readers find the
    run and its function call on Modal by name, and a second launch of the name is refused."""
    cfg = modal_exp(steps=6, interval=0.02)
    modal_fake.delay_rpc("AppClientDisconnect", 20.0)  # the launcher's last RPC, after the spawn
    proc = spawn_launch(modal_fake, cfg, "orphaned", tw_home)
    wait_for(
        lambda: "AppClientDisconnect" in modal_fake.calls(), 90, interval=0.05, what="the spawn"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    home = {"TRAINWARD_HOME": str(tw_home)}
    doc = wait_finished(modal_fake, "orphaned")
    assert doc["verdict"] == "finished"
    assert (
        doc["compute"]["detail"]["function_call_id"]
        == calls_of(modal_fake, "orphaned")[0]["function_call_id"]
    )
    res = run(modal_fake, "launch", str(cfg), "--run-name", "orphaned", env=home)
    assert res.code == 2 and "already exists" in res.stderr
