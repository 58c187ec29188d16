"""The Modal backend with the real modal 1.6 SDK and CLI, against our fake control plane.

Everything that talks to Modal runs in a subprocess (the modal client is a process-wide
singleton bound to its first server URL). The `modal_fake` fixture fails a test whose client
called an RPC the fake does not serve.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, wait_for
from tests.helpers.modal_cli import run, status, wait_finished

DRIVER = textwrap.dedent("""
    import json, os, sys, hashlib
    from pathlib import Path
    from trainward.backends.modal import ModalBackend
    from trainward.errors import NotFound
    b, vol, tmp = ModalBackend(timeout=30), sys.argv[1], Path(sys.argv[2])
    big = tmp / "big.bin"; big.write_bytes(os.urandom(9 * 2**20 + 123))
    small = tmp / "small.txt"; small.write_text("hello volume")
    out = {"exists_before": b.volume_exists(vol)}
    b.ensure_volume(vol)
    b.upload_files(vol, [(big, "data/big.bin"), (small, "data/sub/small.txt")])
    b.write_file(vol, "data/manifest.json", b'{"ok": true}')
    out["listing"] = [(e.path, e.size, e.is_dir) for e in b.list_files(vol, "data", recursive=True)]
    out["stat"] = b.stat(vol, "data/big.bin").size
    out["stat_missing"] = b.stat(vol, "data/nope.bin")
    dest = tmp / "back.bin"
    b.download_file(vol, "data/big.bin", dest)
    out["roundtrip"] = dest.read_bytes() == big.read_bytes()
    part = tmp / "part.bin"; part.write_bytes(big.read_bytes()[: 5 * 2**20])
    b.download_file(vol, "data/big.bin", part, offset=5 * 2**20)
    out["resumed"] = part.read_bytes() == big.read_bytes()
    out["read_small"] = b.read_file(vol, "data/sub/small.txt").decode()
    b.remove_file(vol, "data/sub")
    try:
        b.read_file(vol, "data/sub/small.txt"); out["removed"] = False
    except NotFound:
        out["removed"] = True
    print(json.dumps(out))
""")


@pytest.mark.parametrize("version", [1, 2])
def test_volume_verbs_round_trip_on_v1_and_v2(modal_fake, tmp_path: Path, version: int) -> None:
    modal_fake.set_volume_version("default", version)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, f"vol{version}", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=modal_fake.client_env(),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["exists_before"] is False and out["roundtrip"] and out["resumed"] and out["removed"]
    assert out["stat"] == 9 * 2**20 + 123 and out["stat_missing"] is None
    assert out["read_small"] == "hello volume"
    assert ["data/big.bin", 9 * 2**20 + 123, False] in out["listing"]


def test_dry_run_needs_no_credentials_and_touches_nothing(modal_fake, modal_exp) -> None:
    cfg = modal_exp(
        gpu="A100-80GB:1",
        timeout="2h",
        retries=3,
        extra="secrets: [{name: wandb, required_keys: [WANDB_API_KEY]}]",
    )
    env = {k: "" for k in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")}
    res = run(
        modal_fake,
        "launch",
        str(cfg),
        "--dry-run",
        "--json",
        env={**env, "MODAL_SERVER_URL": "http://127.0.0.1:9"},
    )
    assert res.code == 0, res.stderr
    plan = res.json()
    assert plan["dry_run"] and plan["app_name"] == plan["run"]
    assert plan["resources"] == {
        "gpu": "A100-80GB:1",
        "cpu": 2.0,
        "memory_mb": 8192,
        "timeout_s": 7200,
        "retries": 3,
        "max_runtime_s": None,
    }
    assert plan["secrets"] == [{"name": "wandb", "required_keys": ["WANDB_API_KEY"]}]
    assert plan["cost"]["price_source"].startswith("table") and plan["cost"]["max_usd"] > 0
    assert modal_fake.calls() == []


def test_no_token_exits_5_before_any_remote_call_with_the_fix(modal_fake, modal_exp) -> None:
    env = {"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": ""}
    for args in (["launch", str(modal_exp())], ["doctor", "--backend", "modal"]):
        res = run(modal_fake, *args, env=env)
        assert res.code == 5 and "modal token new" in (res.stderr + res.stdout), res.stderr
        assert "Traceback" not in res.stderr
    assert modal_fake.calls() == []  # decided before any network I/O (nothing to wait on)


def test_a_rejected_token_fails_launch_at_once_without_retrying(modal_fake, modal_exp) -> None:
    env = {"MODAL_TOKEN_ID": "ak-wrong", "MODAL_TOKEN_SECRET": "as-wrong"}
    res = run(modal_fake, "launch", str(modal_exp()), "--json", env=env)
    assert res.code == 5 and "rejected" in res.stderr.lower(), res.stderr
    assert "retrying" not in res.stderr and "after retrying" not in res.stderr
    authed = [c for c in modal_fake.call_log() if c["status"] == "UNAUTHENTICATED"]
    assert 1 <= len(authed) <= 3  # one failed check, not a minute of retries


def test_full_cycle_doctor_launch_status_pull(modal_fake, modal_exp, tmp_path: Path) -> None:
    cfg = modal_exp()
    res = run(modal_fake, "doctor", "--config", str(cfg), "--json")
    assert res.code == 0, res.stdout
    checks = {c["name"]: c for c in res.json()["checks"]}
    assert checks["modal:token"]["ok"] and checks["modal:reachable"]["ok"]
    assert checks["volume:tw-vol"]["level"] == "warning"  # created by launch
    res = run(modal_fake, "launch", str(cfg), "--run-name", "cycle", "--json")
    assert res.code == 0, res.stderr
    ids = res.json()["ids"]
    assert ids["app_id"].startswith("ap-") and ids["function_call_id"].startswith("fc-")
    st = wait_finished(modal_fake, "cycle")
    assert st["verdict"] == "finished" and st["progress"]["step"] == 20
    assert st["compute"]["state"] == "finished" and st["links"]["modal"]
    res = run(modal_fake, "pull", "cycle", "--which", "best", "--to", str(tmp_path), "--json")
    assert res.code == 0, res.stderr
    pulled = res.json()
    assert pulled["verified"] and Path(pulled["path"]).stat().st_size == pulled["size"]
    logs = run(modal_fake, "logs", "cycle", "--tail", "2", "--json").json()["lines"]
    assert len(logs) == 2 and "ended with 0" in logs[-1]
    assert modal_fake.app("cycle")["description"] == "cycle"


def test_launcher_killed_after_spawn_the_run_completes(modal_fake, modal_exp) -> None:
    cfg = modal_exp(steps=40, interval=0.05)
    code = f"import sys,time\nfrom trainward.cli import main\ntry:\n    main(['launch', {str(cfg)!r}, '--run-name', 'orphan'])\nexcept SystemExit:\n    pass\ntime.sleep(300)"
    launcher = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=modal_fake.client_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        reg = Path(os.environ["TRAINWARD_HOME"]) / "runs.jsonl"
        wait_for(
            lambda: reg.exists() and '"state":"launched"' in reg.read_text(), 60, what="launched"
        )
        assert launcher.poll() is None
    finally:
        launcher.kill()
        launcher.wait(10)
    st = wait_finished(modal_fake, "orphan")
    assert st["verdict"] == "finished" and st["progress"]["step"] == 40


def test_interrupt_during_image_build_is_not_launched(modal_fake, modal_exp) -> None:
    modal_fake.set_image_build(delay_s=30)
    cfg = modal_exp()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "trainward", "launch", str(cfg), "--run-name", "early"],
        cwd=REPO,
        env=modal_fake.client_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    modal_fake.wait_for(lambda f: "ImageGetOrCreate" in f.calls(), 60)
    time.sleep(0.5)
    launcher.send_signal(signal.SIGINT)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 130, err
    rec = json.loads(
        (Path(os.environ["TRAINWARD_HOME"]) / "runs.jsonl").read_text().splitlines()[-1]
    )
    assert rec["state"] == "not-launched" and "interrupted before the run started" in rec["reason"]
    assert "FunctionMap" not in modal_fake.calls()  # nothing was spawned
    assert run(modal_fake, "status", "early", "--json").json()["verdict"] == "not-launched"
    modal_fake.set_image_build(delay_s=0)
    res = run(
        modal_fake, "launch", str(cfg), "--run-name", "early", "--json"
    )  # the name is free again
    assert res.code == 0, res.stderr


def test_image_build_failure_is_reported_as_not_launched(modal_fake, modal_exp) -> None:
    modal_fake.set_image_build(fail="pip install failed: no matching distribution for torch==9.9")
    res = run(modal_fake, "launch", str(modal_exp()), "--run-name", "nobuild")
    assert res.code != 0 and "Traceback" not in res.stderr
    st = run(modal_fake, "status", "nobuild", "--json").json()
    assert st["verdict"] == "not-launched" and "torch==9.9" in st["reason"]


def test_same_run_name_twice_never_starts_two_runs(modal_fake, modal_exp) -> None:
    cfg = modal_exp(steps=100)
    assert run(modal_fake, "launch", str(cfg), "--run-name", "once").code == 0
    res = run(modal_fake, "launch", str(cfg), "--run-name", "once")
    assert res.code == 2 and "already exists" in res.stderr
    # From another machine (an empty registry), the volume's ledger and the app list still refuse it.
    res = run(
        modal_fake,
        "launch",
        str(cfg),
        "--run-name",
        "once",
        env={"TRAINWARD_HOME": os.environ["TRAINWARD_HOME"] + "-other"},
    )
    assert res.code == 2 and ("already" in res.stderr), res.stderr
    assert sum(1 for a in modal_fake.state()["apps"] if a.get("description") == "once") == 1
    run(modal_fake, "stop", "once", "--yes")


def test_stop_needs_yes_and_stops_the_app(modal_fake, modal_exp) -> None:
    assert run(modal_fake, "launch", str(modal_exp(steps=2000)), "--run-name", "halt").code == 0
    wait_for(
        lambda: (status(modal_fake, "halt")["progress"].get("step") or 0) > 2,
        60,
        interval=0.5,
        what="progress",
    )
    assert run(modal_fake, "stop", "halt").code == 3
    res = run(modal_fake, "stop", "halt", "--yes", "--json")
    assert res.code == 0, res.stderr
    st = status(modal_fake, "halt")
    assert st["verdict"] == "stopped" and st["compute"]["state"] == "stopped"


def test_preemption_resumes_from_the_newest_checkpoint(modal_fake, modal_exp) -> None:
    res = run(
        modal_fake,
        "launch",
        str(modal_exp(steps=200, interval=0.05, retries=2)),
        "--run-name",
        "pre",
        "--json",
    )
    call = res.json()["ids"]["function_call_id"]
    wait_for(
        lambda: (status(modal_fake, "pre")["checkpoints"].get("latest") or {}).get("step", 0) >= 10,
        60,
        interval=0.3,
        what="a checkpoint",
    )
    assert modal_fake.kill_container(call)
    st = wait_finished(modal_fake, "pre")
    assert st["verdict"] == "finished" and st["progress"]["step"] == 200
    assert st["attempt"] == 2 and st["resumes"] == 1


def test_long_run_continues_through_chained_calls(modal_fake, modal_exp, tw_home: Path) -> None:
    cfg = modal_exp(steps=300, interval=0.05, timeout="10s", retries=0)
    assert run(modal_fake, "launch", str(cfg), "--run-name", "chain").code == 0
    st = wait_finished(modal_fake, "chain", timeout=120)
    assert st["verdict"] == "finished" and st["progress"]["step"] == 300
    vol = modal_fake.volume_dir("tw-vol")
    events = [
        json.loads(line) for line in (vol / "runs/chain/events.jsonl").read_text().splitlines()
    ]
    continues = [e for e in events if e["event"] == "continue"]
    assert len(continues) >= 1 and all(e["next_call"].startswith("fc-") for e in continues)


def test_deploy_once_launch_many_without_image_builds(modal_fake, modal_exp) -> None:
    cfg = modal_exp(name="dep", steps=400, interval=0.05)
    res = run(modal_fake, "deploy", str(cfg), "--json")
    assert res.code == 0, res.stderr
    assert res.json()["app"] == "trainward-dep"
    modal_fake.reset_calls()
    for name in ("d1", "d2"):
        res = run(modal_fake, "launch", str(cfg), "--run-name", name, "--deployed", "--json")
        assert res.code == 0, res.stderr
        assert res.json()["ids"]["deployed_app"] == "trainward-dep"
    assert not {"ImageGetOrCreate", "AppCreate", "FunctionCreate"} & set(modal_fake.calls())
    wait_for(
        lambda: all((status(modal_fake, n)["progress"].get("step") or 0) > 2 for n in ("d1", "d2")),
        60,
        interval=0.5,
        what="both runs progressing",
    )
    # Stopping a run of a deployed app cancels its call only; the app and the other run go on.
    assert run(modal_fake, "stop", "d1", "--yes").code == 0
    assert status(modal_fake, "d1")["verdict"] == "stopped"
    other = status(modal_fake, "d2")
    assert other["verdict"] == "running" and other["compute"]["detail"]["app_state"] == "deployed"
    run(modal_fake, "stop", "d2", "--yes")


def test_deployed_launch_refuses_other_infrastructure(modal_fake, modal_exp) -> None:
    cfg = modal_exp(name="dep2")
    res = run(modal_fake, "launch", str(cfg), "--deployed")
    assert res.code == 4 and "trainward deploy" in res.stderr
    assert run(modal_fake, "deploy", str(cfg)).code == 0
    res = run(modal_fake, "launch", str(cfg), "--deployed", "--set", "resources.gpu=H100:2")
    assert (
        res.code == 2
        and "gpu: deployed None, wanted 'H100:2'" in res.stderr
        and "redeploy" in res.stderr
    )


def test_web_endpoint_is_off_by_default_and_requires_proxy_auth() -> None:
    code = textwrap.dedent("""
        import importlib.util, json, os, sys
        decl = {"app": "w", "volume": "v", "secrets": [], "gpu": None, "cpu": 1.0, "memory": 512, "timeout": 60,
                "retries": 0, "code_dir": sys.argv[1], "validate_cpu": 1.0, "web": sys.argv[2] == "1"}
        os.environ["TRAINWARD_MODAL_DECL"] = json.dumps(decl)
        spec = importlib.util.spec_from_file_location("modal_train", sys.argv[1] + "/scripts/modal_train.py")
        m = importlib.util.module_from_spec(spec); sys.modules["modal_train"] = m; spec.loader.exec_module(m)
        print(json.dumps({"endpoint": hasattr(m, "launch_endpoint"), "options": m.WEB_ENDPOINT}))
    """)
    for web, expected in (("0", False), ("1", True)):
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code, str(REPO), web],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        doc = json.loads(out.stdout)
        assert doc["endpoint"] is expected
        assert doc["options"] == {"method": "POST", "requires_proxy_auth": True}


def test_sweep_spawns_every_call_from_one_app(modal_fake, project: Path, tmp_path: Path) -> None:
    from tests.test_sweep import ticker_sweep

    cfg = ticker_sweep(project, name="msw", extra="backend: modal")
    base = project / "experiments" / "tick.yaml"
    base.write_text(base.read_text().replace("backend: local", "backend: modal\nvolume: tw-vol"))
    res = run(modal_fake, "sweep", str(cfg), "--json")
    assert res.code == 0, res.stderr
    doc = wait_for(lambda: (d := run(modal_fake, "status", "msw", "--json").json())["state"] in ("done", "failed") and d,
                   180, interval=1.0, what="the Modal sweep")  # fmt: skip
    assert doc["state"] == "done" and doc["winner"] == "msw-strong", doc
    apps = [a for a in modal_fake.state()["apps"] if not a.get("name")]  # not deployed ones
    assert [a["description"] for a in apps] == ["msw"]
    app_id = apps[0]["app_id"]
    inputs = modal_fake.inputs()
    assert len(inputs) == 1 + 3 + 6  # the controller, three members, six validation jobs
    calls = {c["function_call_id"] for c in inputs}
    fns = {t["function_id"] for t in modal_fake.tasks()}
    assert (
        all(t["app_id"] == app_id for t in modal_fake.tasks())
        and len(calls) == 10
        and len(fns) == 3
    )
    assert modal_fake.calls().count("AppCreate") == 1
    res = run(modal_fake, "sweep", "deploy", "msw", "--to", str(tmp_path / "w"), "--json")
    assert res.code == 0, res.stderr
    assert res.json()["run"] == "msw-strong" and (tmp_path / "w" / "champ.pt").exists()


@pytest.mark.parametrize("version", [1, 2])
def test_incremental_push_sends_exactly_the_changed_file(
    modal_fake, tmp_path: Path, version: int
) -> None:
    from tests.test_datasync import make_dataset, rewrite_same_size

    modal_fake.set_volume_version("default", version)
    src = tmp_path / "ds"
    make_dataset(src, 200)
    args = (
        "data",
        "push",
        str(src),
        "--volume",
        "dvol",
        "--to",
        "datasets/inc",
        "--backend",
        "modal",
        "--json",
    )
    first = run(modal_fake, *args)
    assert first.code == 0, first.stderr
    assert first.json()["uploaded_files"] == 200
    before = modal_fake.bytes_uploaded()
    changed = src / "part-3" / "f-0123.bin"
    rewrite_same_size(changed)
    second = run(modal_fake, *args)
    assert second.code == 0, second.stderr
    doc = second.json()
    assert doc["uploaded_files"] == 1 and doc["paths"]["changed"] == ["part-3/f-0123.bin"]
    after = modal_fake.bytes_uploaded()
    new_uploads = after["files"][len(before["files"]) :]
    data_files = [
        f for f in new_uploads if not f["path"].rsplit("/", 1)[-1].startswith(".")
    ]  # not the manifest or lease
    assert [f["path"] for f in data_files] == ["datasets/inc/part-3/f-0123.bin"]
    sent = after["total"] - before["total"]
    assert (
        changed.stat().st_size <= sent < changed.stat().st_size + 200_000
    )  # the file, plus the manifest
    third = run(modal_fake, *args)
    assert third.json()["uploaded_files"] == 0 and third.json()["up_to_date"]


def test_launch_prices_from_the_workspace_rates(modal_fake, modal_exp) -> None:
    modal_fake.set_billing_rates(
        {"gpu.a100-80gb": "0.001", "cpu.core": "0.00001", "memory.gib": "0.000001"}
    )
    cfg = modal_exp(name="priced", gpu="A100-80GB:2", timeout="1h", retries=0)
    res = run(modal_fake, "launch", str(cfg), "--run-name", "priced", "--json")
    assert res.code == 0, res.stderr
    cost = res.json()["plan"]["cost"]
    assert cost["price_source"] == "modal-billing-rates"
    assert cost["price_per_hour"] == pytest.approx(2 * 3.6 + 2 * 0.036 + 8 * 0.0036, abs=1e-3)
    st = status(modal_fake, "priced")
    assert st["cost"]["source"] == "modal-billing-rates"  # recorded at launch, reported by status
    run(modal_fake, "stop", "priced", "--yes")
    offline = run(
        modal_fake, "launch", str(cfg), "--dry-run", "--json"
    )  # a dry run makes no remote call
    assert offline.json()["cost"]["price_source"].startswith("table")


def test_cli_json_is_read_in_both_key_styles() -> None:
    from trainward.backends.modal import cli_field

    old = {
        "App ID": "ap-1",
        "Description": "run",
        "State": "deployed",
        "Created at": "2026-01-01 00:00:00+00:00",
    }
    new = {
        "app_id": "ap-1",
        "description": "run",
        "state": "deployed",
        "created_at": "2026-01-01 00:00:00+00:00",
    }
    for row in (old, new):
        assert cli_field(row, "app_id") == "ap-1" and cli_field(row, "description") == "run"
        assert cli_field(row, "state") == "deployed" and cli_field(row, "created_at").startswith(
            "2026"
        )
