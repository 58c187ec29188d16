"""The local backend: detached runs that survive their launcher, state, logs, stop, volumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from trainward.backends.local import LocalBackend
from trainward.errors import NotFound, UsageError
from trainward.runs.registry import Registry

from tests.conftest import REPO, tw, wait_for

LAUNCH_THEN_LINGER = textwrap.dedent("""
    import sys, time
    from trainward.cli import main
    try:
        main(["launch", sys.argv[1], "--run-name", sys.argv[2]])
    except SystemExit:
        pass
    print("LAUNCHED", flush=True)
    time.sleep(120)  # a terminal, an agent session: anything that goes away later
""")


def _launched(run: str) -> bool:
    rec = Registry().get(run)
    return bool(rec and rec.state == "launched")


def _start_launcher(cfg: Path, run: str, new_session: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH_THEN_LINGER, str(cfg), run],
        cwd=REPO,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=new_session,
    )


def _final_status(run: str) -> dict:
    res = tw("wait", run, "--timeout", "60", "--interval", "0.2", "--json")
    assert res.code == 0, res.stderr
    return res.json()


def test_run_survives_sigkill_of_its_launcher(ticker_experiment, kill_on_exit) -> None:
    cfg = ticker_experiment(steps=30, interval=0.05)
    launcher = _start_launcher(cfg, "survivor", new_session=False)
    wait_for(lambda: _launched("survivor"), 30, what="the launch")
    assert launcher.poll() is None, "the launcher must still be alive when killed"
    launcher.kill()
    launcher.wait(10)
    kill_on_exit.append(Registry().get("survivor").ids["pid"])
    st = _final_status("survivor")
    assert st["verdict"] == "finished"
    assert st["progress"]["step"] == 30 and st["validation"][-1]["val_loss/total"] == pytest.approx(
        1 / 30
    )


def test_run_survives_sighup_to_the_launchers_process_group(
    ticker_experiment, kill_on_exit
) -> None:
    cfg = ticker_experiment(steps=30, interval=0.05)
    launcher = _start_launcher(cfg, "hup", new_session=True)  # like a terminal's foreground group
    wait_for(lambda: _launched("hup"), 30, what="the launch")
    kill_on_exit.append(Registry().get("hup").ids["pid"])
    os.killpg(launcher.pid, signal.SIGHUP)
    assert launcher.wait(10) == -signal.SIGHUP
    st = _final_status("hup")
    assert st["verdict"] == "finished" and st["latest"]["batch/step"] == 30


def test_failure_is_reported_with_reason_and_retries(ticker_experiment) -> None:
    cfg = ticker_experiment(name="fails", steps=10, extra="", retries=1)
    text = cfg.read_text().replace("interval: 0.05}", "interval: 0.01, fail_at: 4}")
    cfg.write_text(text)
    assert tw("launch", str(cfg), "--run-name", "fails").code == 0
    res = tw("wait", "fails", "--timeout", "60", "--interval", "0.2", "--json")
    assert res.code == 1
    st = res.json()
    assert st["verdict"] == "failed" and "boom at step 4" in st["reason"]
    assert st["compute"]["detail"]["attempts"] == 2  # retried once, like Modal


def test_stop_needs_yes_and_exact_name_and_ends_the_run(ticker_experiment) -> None:
    cfg = ticker_experiment(name="long", steps=1000, interval=0.05)
    assert tw("launch", str(cfg), "--run-name", "long").code == 0
    wait_for(
        lambda: tw("status", "long", "--json").json()["progress"].get("step"), 30, what="progress"
    )
    assert tw("stop", "long").code == 3
    assert tw("stop", "latest", "--yes").code == 2
    assert tw("stop", "lon", "--yes").code == 4
    res = tw("stop", "long", "--yes", "--json")
    assert res.code == 0 and res.json()["state"]["state"] == "stopped"
    st = tw("status", "long", "--json").json()
    assert st["verdict"] == "stopped"
    assert st["checkpoints"]["latest"]["step"] >= 1  # it checkpointed on SIGTERM
    res = tw("pull", "long", "--which", "best")
    assert res.code == 4 and "no 'best' checkpoint (available: latest)" in res.stderr


def test_logs_are_bounded(ticker_experiment) -> None:
    cfg = ticker_experiment(name="chatty", steps=5, interval=0.01)
    tw("launch", str(cfg), "--run-name", "chatty")
    tw("wait", "chatty", "--timeout", "60", "--interval", "0.2")
    res = tw("logs", "chatty", "--tail", "1", "--json")
    assert res.code == 0 and len(res.json()["lines"]) == 1
    assert "ended with 0" in res.json()["lines"][0]
    assert tw("logs", "chatty", "--tail", "0").code == 2  # must be >= 1: no unbounded mode


def test_logs_filter_by_source_text_and_time(ticker_experiment) -> None:
    cfg = ticker_experiment(name="noisy", steps=5, interval=0.01)
    tw("launch", str(cfg), "--run-name", "noisy")
    tw("wait", "noisy", "--timeout", "60", "--interval", "0.2")
    doc = tw("logs", "noisy", "--search", "attempt 1 started", "--json").json()
    assert len(doc["lines"]) == 1 and doc["filters"] == {"search": "attempt 1 started"}
    started = tw("logs", "noisy", "--source", "stdout", "--json").json()["lines"]
    assert started and all("received signal" not in line for line in started)
    assert tw("logs", "noisy", "--since", "1h", "--json").json()["lines"]
    assert tw("logs", "noisy", "--since", "2099-01-01T00:00:00", "--json").json()["lines"] == []
    stamped = tw("logs", "noisy", "--tail", "1", "--timestamps").stdout
    assert stamped[:4].isdigit() and "Z " in stamped
    res = tw("logs", "noisy", "--since", "yesterday-ish")
    assert res.code == 2 and "30m, 2h, 1d" in res.stderr


def test_lost_process_is_detected(ticker_experiment) -> None:
    cfg = ticker_experiment(name="lost", steps=1000, interval=0.05)
    tw("launch", str(cfg), "--run-name", "lost")
    wait_for(
        lambda: tw("status", "lost", "--json").json()["progress"].get("step"), 30, what="progress"
    )
    pid = Registry().get("lost").ids["pid"]
    os.killpg(pid, signal.SIGKILL)  # supervisor and worker die with no exit record
    backend = LocalBackend()
    wait_for(lambda: backend.state(backend.find_run("lost")).state == "lost", 10, what="lost")
    st = tw("status", "lost", "--json").json()
    assert st["verdict"] == "zombie" and "vanished" in st["reason"]


def test_same_run_name_twice_is_refused(ticker_experiment) -> None:
    cfg = ticker_experiment(name="twice", steps=3, interval=0.01)
    assert tw("launch", str(cfg), "--run-name", "twice").code == 0
    res = tw("launch", str(cfg), "--run-name", "twice")
    assert res.code == 2 and "already exists" in res.stderr and "--resume twice" in res.stderr


def test_resume_same_run_continues_from_its_checkpoint(ticker_experiment) -> None:
    cfg = ticker_experiment(name="again", steps=12, interval=0.01)
    tw("launch", str(cfg), "--run-name", "again")
    tw("wait", "again", "--timeout", "60", "--interval", "0.2")
    backend = LocalBackend()  # `wait` returns only once the process has ended, not just the ledger
    assert not backend.state(backend.find_run("again")).active
    res = tw(
        "launch", str(cfg), "--run-name", "again", "--resume", "again", "--set", "params.steps=20"
    )
    assert res.code == 0, res.stderr
    st = tw("wait", "again", "--timeout", "60", "--interval", "0.2", "--json").json()
    assert st["verdict"] == "finished" and st["progress"]["step"] == 20 and st["resumes"] == 1
    res = tw("launch", str(cfg), "--run-name", "fresh", "--resume", "again/step-7.pt")
    assert res.code == 4 and "available: best.pt, latest.pt" in res.stderr


def test_volume_verbs(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "home")
    with pytest.raises(NotFound):
        b.list_files("v")
    b.ensure_volume("v")
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(3 << 20))
    b.upload_files("v", [(src, "a/b/f.bin")])
    assert b.stat("v", "a/b/f.bin").size == 3 << 20
    assert [e.path for e in b.list_files("v", "", recursive=True)] == ["a", "a/b", "a/b/f.bin"]
    dest = tmp_path / "out.bin"
    b.download_file("v", "a/b/f.bin", dest)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(UsageError):
        b.read_file("v", "../../etc/passwd")
    b.remove_file("v", "a")
    assert b.stat("v", "a") is None
    with pytest.raises(NotFound):
        b.read_file("v", "a/b/f.bin")


def test_proc_files_record_identity(ticker_experiment) -> None:
    cfg = ticker_experiment(name="ident", steps=3, interval=0.01)
    tw("launch", str(cfg), "--run-name", "ident")
    tw("wait", "ident", "--timeout", "60", "--interval", "0.2")
    pdir = LocalBackend().proc_dir("ident")
    wait_for(lambda: (pdir / "exit.json").exists(), 10, what="the exit record")
    proc = json.loads((pdir / "proc.json").read_text())
    exit_doc = json.loads((pdir / "exit.json").read_text())
    assert proc["pid"] == Registry().get("ident").ids["pid"]
    assert exit_doc["state"] == "finished" and exit_doc["exit_code"] == 0


def test_wait_until_checkpoint_files_and_lookup_by_id(ticker_experiment) -> None:
    cfg = ticker_experiment(name="ckw", steps=400, interval=0.02)
    assert tw("launch", str(cfg), "--run-name", "ckw").code == 0
    res = tw(
        "wait", "ckw", "--until", "checkpoint", "--timeout", "60", "--interval", "0.1", "--json"
    )
    assert res.code == 0 and res.json()["checkpoints"]["latest"]["step"] >= 5
    assert res.json()["verdict"] == "running"  # it returned long before the end
    listing = tw("files", "ckw", "checkpoints", "--json").json()
    assert [f["path"] for f in listing["files"]] == ["checkpoints/latest.pt"]
    everything = {f["path"] for f in tw("files", "ckw", "-r", "--json").json()["files"]}
    assert {"run.json", "status.json", "metrics.jsonl", "events.jsonl"} <= everything
    pid = Registry().get("ckw").ids["pid"]
    assert pid and tw("stop", "ckw", "--yes").code == 0
    assert tw("files", "nope").code == 4
