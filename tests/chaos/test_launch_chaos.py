"""Chaos: launches that are killed, raced and starved of their control plane.

Fixed seeds: a failure prints the seed and the trial, so it can be replayed with
`pytest tests/chaos -k <test> --seed N`-style edits of SEED below.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from trainward.backends.local import LocalBackend
from trainward.core.states import LAUNCHED, NOT_LAUNCHED
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import Registry

from tests.conftest import REPO, tw

pytestmark = pytest.mark.chaos
SEED = 20261123
TRIALS = 30
GRACE = "3"


def _launch_proc(cfg: Path, run: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRAINWARD_SPAWN_GRACE_S": GRACE}
    return subprocess.Popen(
        [sys.executable, "-m", "trainward", "launch", str(cfg), "--run-name", run],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _settled(run: str):
    """The registry's view once the launch has settled (no live launcher, grace over)."""
    backend = LocalBackend()
    rec = Registry().get(run)
    if rec is None:
        return None

    def ids(r):  # the run's ids on the backend, or None
        handle = backend.find_run(r.run)
        return None if handle is None else dict(handle.ids)

    return Registry().view(rec, ids)


def _supervisors(run: str) -> int:
    needle = f"/local/runs/{run}".encode()
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            raw = cmdline.read_bytes()
        except OSError:
            continue
        if b"trainward.backends.supervisor" in raw and raw.endswith(needle + b"\x00"):
            count += 1
    return count


def test_launcher_sigkilled_at_random_moments(ticker_experiment, monkeypatch) -> None:
    monkeypatch.setenv("TRAINWARD_SPAWN_GRACE_S", GRACE)
    cfg = ticker_experiment(name="kill", steps=8, interval=0.01)
    t = time.monotonic()
    ref = _launch_proc(cfg, "reference")
    assert ref.wait(60) == 0
    span = time.monotonic() - t  # how long a whole launch takes here
    rng = random.Random(SEED)
    outcomes: dict[str, str] = {}
    for i in range(TRIALS):
        run = f"k{i}"
        proc = _launch_proc(cfg, run)
        time.sleep(rng.uniform(0, span * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        outcomes[run] = "killed"
    time.sleep(float(GRACE) + 0.5)  # let every spawn that happened start, and every grace expire
    for i, run in enumerate(outcomes):
        where = f"seed {SEED}, trial {i} ({run})"
        view = _settled(run)
        assert _supervisors(run) <= 1, where
        if view is None or view.state == NOT_LAUNCHED:
            outcomes[run] = "not launched"
            backend = LocalBackend()
            assert backend.find_run(run) is None, where
            assert not (backend.proc_dir(run) / "proc.json").exists(), where
            assert not LedgerReader(backend, "trainward", run).exists(), where
            continue
        assert view.state == LAUNCHED, (where, view)
        outcomes[run] = "launched"
        st = tw("wait", run, "--timeout", "60", "--interval", "0.2", "--json")
        doc = st.json()
        assert doc["verdict"] == "finished" and doc["progress"]["step"] == 8, (where, doc)
        events = [e["event"] for e in LedgerReader(LocalBackend(), "trainward", run).events()]
        assert events.count("start") == 1 and "restart" not in events, (where, events)
    counts = {k: list(outcomes.values()).count(k) for k in ("launched", "not launched")}
    print(f"launcher-kill trials: {counts}")
    assert sum(counts.values()) == TRIALS
    assert counts["launched"] and counts["not launched"], counts  # both sides of the race were hit


def test_concurrent_launches_of_one_name_start_exactly_one(ticker_experiment) -> None:
    cfg = ticker_experiment(name="race", steps=5, interval=0.01)

    def race(run: str) -> list[subprocess.CompletedProcess[str]]:
        barrier = threading.Barrier(2)
        results: list[subprocess.CompletedProcess[str]] = []
        argv = [sys.executable, "-m", "trainward", "launch", str(cfg), "--run-name", run]

        def go() -> None:
            barrier.wait()
            results.append(
                subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
            )

        threads = [threading.Thread(target=go) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return results

    for trial in range(5):
        run = f"race{trial}"
        results = race(run)
        codes = sorted(r.returncode for r in results)
        assert codes == [0, 2], [(r.returncode, r.stderr) for r in results]
        loser = next(r for r in results if r.returncode == 2)
        assert "already exists" in loser.stderr or "being launched" in loser.stderr
        doc = tw("wait", run, "--timeout", "60", "--interval", "0.2", "--json").json()
        assert doc["verdict"] == "finished" and doc["attempt"] == 1


def test_modal_control_plane_flapping_launch_retries_once(modal_fake, project) -> None:
    from tests.helpers.modal_cli import run as mrun

    cfg = project / "experiments" / "flap.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        f"name: flap\nbackend: modal\nentrypoint: tests.helpers.ticker:main\ncode_dir: {REPO}\n"
        "params: {steps: 10, interval: 0.02}\nresources: {timeout: 5m, retries: 0}\nvolume: tw-vol\n"
    )
    modal_fake.unavailable_for(10)
    t = time.monotonic()
    res = mrun(modal_fake, "launch", str(cfg), "--run-name", "flap", "--json", timeout=120)
    elapsed = time.monotonic() - t
    assert res.code == 0, res.stderr
    assert 8 < elapsed < 60, elapsed
    assert "retrying" in res.stderr
    assert sum(1 for a in modal_fake.state()["apps"] if a.get("description") == "flap") == 1
    assert modal_fake.calls().count("FunctionMap") == 1
    res = mrun(modal_fake, "launch", str(cfg), "--run-name", "flap")
    assert res.code == 2  # idempotent by name: never a second run
    # An outage longer than the bound is reported, with the name free for a later launch.
    modal_fake.unavailable_for(30)
    res = mrun(
        modal_fake,
        "launch",
        str(cfg),
        "--run-name",
        "flap2",
        env={"TRAINWARD_RETRY_S": "4"},
        timeout=60,
    )
    assert res.code == 5 and "after retrying" in res.stderr and "Traceback" not in res.stderr
    modal_fake.unavailable_for(0)
    assert (
        json.loads(
            (Path(os.environ["TRAINWARD_HOME"]) / "runs.jsonl").read_text().splitlines()[-1]
        )["run"]
        == "flap"
    )
