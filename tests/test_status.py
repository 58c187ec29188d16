"""Read-only status on the local backend: verdicts from real processes, no writes, reports."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from trainward.backends.base import ReadOnly
from trainward.backends.local import LocalBackend
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import Registry
from trainward.runs.status import StatusReader

from tests.conftest import tw, wait_for


class WritesForbidden(LocalBackend):
    """A real local backend whose every write verb records the call and raises."""

    def __init__(self) -> None:
        super().__init__()
        self.write_calls: list[str] = []

    def _refuse(self, verb: str) -> Any:
        self.write_calls.append(verb)
        raise AssertionError(f"the status path called {verb}")

    def ensure_volume(self, *a: Any, **k: Any) -> None:
        self._refuse("ensure_volume")

    def upload_files(self, *a: Any, **k: Any) -> None:
        self._refuse("upload_files")

    def write_file(self, *a: Any, **k: Any) -> None:
        self._refuse("write_file")

    def remove_file(self, *a: Any, **k: Any) -> None:
        self._refuse("remove_file")

    def launch(self, *a: Any, **k: Any) -> Any:
        return self._refuse("launch")

    def stop(self, *a: Any, **k: Any) -> None:
        self._refuse("stop")


def _snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*") if p.is_file()}


def _pid_of_worker(run: str) -> int:
    """The worker (child of the supervisor) that runs the trainer."""
    sup = Registry().get(run).ids["pid"]
    children = Path(f"/proc/{sup}/task/{sup}/children").read_text().split()
    return int(children[0])


def test_status_path_makes_no_write_calls(ticker_experiment, tw_home: Path) -> None:
    cfg = ticker_experiment(name="ro", steps=15, interval=0.01)
    assert tw("launch", str(cfg), "--run-name", "ro").code == 0
    tw("wait", "ro", "--timeout", "60", "--interval", "0.2")
    backend = WritesForbidden()
    wait_for(
        lambda: backend.state(backend.find_run("ro")).state == "finished", 10, what="exit record"
    )
    before = _snapshot(tw_home)
    reader = StatusReader(Registry(), ReadOnly(backend))
    s = reader.read("ro")
    assert s.verdict == "finished" and s.progress.step == 15
    for verb in ("ensure_volume", "upload_files", "write_file", "remove_file", "launch", "stop"):
        with pytest.raises(AttributeError):
            getattr(ReadOnly(backend), verb)
    assert backend.write_calls == []
    assert _snapshot(tw_home) == before  # not a byte written anywhere under TRAINWARD_HOME


def test_stale_when_logging_freezes(ticker_experiment) -> None:
    cfg = ticker_experiment(name="frozen", steps=10000, interval=0.02)
    tw("launch", str(cfg), "--run-name", "frozen")
    wait_for(
        lambda: (tw("status", "frozen", "--json").json()["progress"].get("step") or 0) > 3,
        30,
        what="progress",
    )
    worker = _pid_of_worker("frozen")
    os.kill(worker, signal.SIGSTOP)  # the process is alive but logs nothing
    try:
        wait_for(
            lambda: (
                tw("status", "frozen", "--json", "--stale-after", "1.5").json()["verdict"]
                == "stale"
            ),
            15,
            interval=0.3,
            what="stale",
        )
        s = tw("status", "frozen", "--json", "--stale-after", "1.5").json()
        assert s["compute"]["state"] == "running" and "nothing logged" in s["reason"]
        assert (
            tw("status", "frozen", "--json").json()["verdict"] == "running"
        )  # default threshold: 10 min
    finally:
        os.kill(worker, signal.SIGCONT)
        tw("stop", "frozen", "--yes")


def test_zombie_when_the_trainer_is_killed(ticker_experiment) -> None:
    cfg = ticker_experiment(name="zomb", steps=10000, interval=0.02)
    tw("launch", str(cfg), "--run-name", "zomb")
    wait_for(
        lambda: (tw("status", "zomb", "--json").json()["progress"].get("step") or 0) > 3,
        30,
        what="progress",
    )
    os.killpg(Registry().get("zomb").ids["pid"], signal.SIGKILL)
    s = wait_for(
        lambda: (d := tw("status", "zomb", "--json").json())["verdict"] == "zombie" and d,
        15,
        what="zombie",
    )
    assert s["state"] == "running" and s["compute"]["state"] == "lost"


def test_zombie_when_compute_runs_but_nothing_is_logged(ticker_experiment) -> None:
    cfg = ticker_experiment(name="silent", steps=100)
    cfg.write_text(cfg.read_text().replace("interval: 0.05}", "interval: 0.05, hang_at: 1}"))
    tw("launch", str(cfg), "--run-name", "silent")
    try:
        s = wait_for(
            lambda: (
                (d := tw("status", "silent", "--json", "--stale-after", "1").json())["verdict"]
                == "zombie"
                and d
            ),
            20,
            interval=0.3,
            what="zombie",
        )
        assert s["compute"]["state"] == "running" and "logged nothing" in s["reason"]
    finally:
        tw("stop", "silent", "--yes")


def test_report_has_targets_categories_and_cost(ticker_experiment) -> None:
    cfg = ticker_experiment(
        name="rep",
        steps=8,
        interval=0.01,
        extra=(
            "targets: {val_metric/action_change_acc: '>0.75', val_action/cat_movement: '>=93%'}\nprice_per_hour: 3.6\n"
            "metrics: {categories: val_action/cat_}"
        ),
    )
    tw("launch", str(cfg), "--run-name", "rep")
    tw("wait", "rep", "--timeout", "60", "--interval", "0.2")
    doc = tw("status", "rep", "--json").json()
    cats = {c["category"]: c for c in doc["categories"]}
    assert cats["movement"]["ok"] is False  # its own target, >=93%
    assert cats["attack"]["ok"] is True and cats["attack"]["target"] == ">=0.93"  # the default bar
    assert doc["targets"][0] == {
        "metric": "val_metric/action_change_acc",
        "target": ">0.75",
        "value": 0.8,
        "ok": True,
    }
    assert doc["cost"]["price_per_hour"] == 3.6 and doc["cost"]["source"] == "config"
    assert doc["cost"]["so_far_usd"] > 0
    text = tw("status", "rep").stdout
    assert "## rep: FINISHED" in text and "| movement | 91.0% | >=93% | BELOW TARGET |" in text
    assert "### Validation" in text and "val_metric/action_change_acc" in text


def test_status_all_and_runs(ticker_experiment) -> None:
    for name in ("one", "two"):
        tw("launch", str(ticker_experiment(name=name, steps=3, interval=0.01)), "--run-name", name)
    for name in ("one", "two"):
        tw("wait", name, "--timeout", "60", "--interval", "0.2")
    rows = tw("status", "all", "--json").json()["runs"]
    assert [r["run"] for r in rows] == ["one", "two"] and {r["verdict"] for r in rows} == {
        "finished"
    }
    assert "| one | local | finished |" in tw("status", "all").stdout
    assert [r["run"] for r in tw("runs", "--json").json()["runs"]] == ["one", "two"]


def test_status_reads_status_json_not_history(ticker_experiment) -> None:
    """Status must never read metrics.jsonl: its cost may not grow with the run."""
    cfg = ticker_experiment(name="cheap", steps=3, interval=0.01)
    tw("launch", str(cfg), "--run-name", "cheap")
    tw("wait", "cheap", "--timeout", "60", "--interval", "0.2")
    read: list[str] = []

    class Spy(LocalBackend):
        def read_file(self, volume: str, path: str) -> bytes:
            read.append(path)
            return super().read_file(volume, path)

    StatusReader(Registry(), ReadOnly(Spy())).read("cheap")
    assert sorted(read) == ["runs/cheap/run.json", "runs/cheap/status.json"]


def test_pull_is_verified_resumable_and_never_overwrites_on_mismatch(
    ticker_experiment, tmp_path: Path
) -> None:
    cfg = ticker_experiment(name="pl", steps=10, interval=0.01)
    tw("launch", str(cfg), "--run-name", "pl")
    tw("wait", "pl", "--timeout", "60", "--interval", "0.2")
    out = tmp_path / "ck"
    res = tw("pull", "pl", "--which", "latest", "--to", str(out), "--json")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["verified"] and doc["step"] == 10
    dest = Path(doc["path"])
    good = dest.read_bytes()
    # Resume a partial download.
    dest.unlink()
    (out / "pl-latest.pt.part").write_bytes(good[:100])
    doc = tw("pull", "pl", "--which", "latest", "--to", str(out), "--json").json()
    assert doc["downloaded_bytes"] == len(good) - 100 and dest.read_bytes() == good
    # Corrupt the checkpoint on the volume (same size): detected, nothing overwritten.
    remote = LocalBackend().volume_root("trainward") / "runs/pl/checkpoints/latest.pt"
    remote.write_bytes(bytes(b ^ 0xFF for b in good))
    dest.write_bytes(b"my precious older copy")
    res = tw("pull", "pl", "--which", "latest", "--to", str(out))
    assert res.code == 1 and "does not match the ledger" in res.stderr and "untouched" in res.stderr
    assert dest.read_bytes() == b"my precious older copy"
    assert not (out / "pl-latest.pt.part").exists()
    res = tw("pull", "pl", "--which", "best", "--to", str(out), "--json")
    assert res.code == 0 and res.json()["step"] == 10


def test_ledger_reader_lists_events(ticker_experiment) -> None:
    cfg = ticker_experiment(name="ev", steps=5, interval=0.01)
    tw("launch", str(cfg), "--run-name", "ev")
    tw("wait", "ev", "--timeout", "60", "--interval", "0.2")
    events = [e["event"] for e in LedgerReader(LocalBackend(), "trainward", "ev").events()]
    assert events[0] == "start" and events[-1] == "finish" and "checkpoint" in events


def test_plot_draws_loss_and_validation_curves(ticker_experiment, tmp_path: Path) -> None:
    cfg = ticker_experiment(name="plotme", steps=30, interval=0.01)
    tw("launch", str(cfg), "--run-name", "plotme")
    tw("wait", "plotme", "--timeout", "60", "--interval", "0.2")
    out = tmp_path / "curves.png"
    res = tw("status", "plotme", "--plot", str(out), "--json")
    assert res.code == 0, res.stderr
    assert res.json()["links"]["plot"] == str(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real figure, two panels
