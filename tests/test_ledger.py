"""The run ledger: atomic status.json, append-only metrics, resume bookkeeping, and the reader."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from trainward.backends.local import LocalBackend
from trainward.runs.ledger import LedgerReader, LedgerWriter, run_path

WRITER = """
import sys
from pathlib import Path
from trainward.runs.ledger import LedgerWriter
w = LedgerWriter.start(Path(sys.argv[1]), {"name": "torn"}, min_interval=0.0)
for i in range(int(sys.argv[2])):
    w.log({"batch/loss": 1.0 / (i + 1), "pad": "x" * (i % 300)}, step=i)
    w.flush(force=True)
w.finish()
"""


def test_no_torn_reads_over_10000_replacements(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "torn"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir), "10000"])
    status = run_dir / "status.json"
    reads = invalid = 0
    last_step = -1
    while proc.poll() is None or reads == 0:
        try:
            raw = status.read_bytes()
        except FileNotFoundError:
            continue
        reads += 1
        try:
            doc = json.loads(raw)
        except ValueError:
            invalid += 1
            continue
        assert doc["step"] >= last_step  # never goes backwards
        last_step = doc["step"]
    assert proc.wait(60) == 0
    assert invalid == 0
    assert reads > 100  # the reader really raced the writer
    assert json.loads(status.read_bytes())["state"] == "finished"


def test_writer_reader_round_trip(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.ensure_volume("v")
    run_dir = backend.volume_root("v") / run_path("r1")
    w = LedgerWriter.start(run_dir, {"name": "r1", "price_per_hour": 1.0})
    w.plan(epochs=2, steps_per_epoch=10)
    for s in range(1, 11):
        w.log({"batch/loss": 1 / s}, step=s, epoch=1, batch=s)
    w.log_validation(1, {"val_loss/total": 0.5})
    w.record_checkpoint(
        "latest", "checkpoints/latest.pt", step=10, epoch=1, sha256="ab" * 32, size=3
    )
    w.close()
    reader = LedgerReader(backend, "v", "r1")
    st = reader.status()
    assert st["step"] == 10 and st["pct"] == 50.0 and st["state"] == "running"
    assert st["validation"][0]["val_loss/total"] == 0.5
    assert st["checkpoints"]["latest"]["sha256"] == "ab" * 32
    info = reader.run_info()
    assert info is not None and info.name == "r1"
    assert [e["event"] for e in reader.events()] == ["start", "checkpoint"]


def test_resume_rewinds_rows_of_the_dead_attempt(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.ensure_volume("v")
    run_dir = backend.volume_root("v") / run_path("r")
    w = LedgerWriter.start(run_dir, {"name": "r"})
    for s in range(1, 21):
        w.log({"batch/loss": float(s)}, step=s)
        if s == 10:
            w.log_validation(1, {"val_loss/total": 1.0})
    w.log_validation(2, {"val_loss/total": 0.9})  # at step 20, after the last checkpoint (step 10)
    w.close()
    w2 = LedgerWriter.start(run_dir, {"name": "r"})  # attempt 2
    w2.resumed(step=10, epoch=1, source="checkpoints/latest.pt")
    for s in range(11, 16):
        w2.log({"batch/loss": -float(s)}, step=s)
    w2.close()
    st = LedgerReader(backend, "v", "r").status()
    assert st["attempt"] == 2 and st["resumes"] == 1
    assert [r["epoch"] for r in st["validation"]] == [1]
    rows = list(LedgerReader(backend, "v", "r").metrics())
    by_step = {r["step"]: r for r in rows if "batch/loss" in r}
    assert by_step[12]["batch/loss"] == -12.0  # the newest attempt wins for repeated steps
    assert by_step[18]["batch/loss"] == 18.0


def test_progress_writes_are_throttled_but_events_are_not(tmp_path: Path) -> None:
    now = [1000.0]
    w = LedgerWriter.start(tmp_path / "r", {"name": "r"}, min_interval=2.0, clock=lambda: now[0])
    before = (tmp_path / "r" / "status.json").read_bytes()
    w.log({"batch/loss": 1.0}, step=1)
    assert (tmp_path / "r" / "status.json").read_bytes() == before  # throttled
    now[0] += 2.5
    w.log({"batch/loss": 0.5}, step=2)
    assert json.loads((tmp_path / "r" / "status.json").read_bytes())["step"] == 2
    w.log({"batch/loss": 0.4}, step=3)
    w.log_validation(1, {"val_loss/total": 0.3})  # forced
    assert json.loads((tmp_path / "r" / "status.json").read_bytes())["step"] == 3
    w.close()


def test_commit_hook_runs_on_checkpoints(tmp_path: Path) -> None:
    commits: list[float] = []
    w = LedgerWriter.start(
        tmp_path / "r", {"name": "r"}, commit=lambda: commits.append(time.time())
    )
    n = len(commits)
    w.record_checkpoint("latest", "checkpoints/latest.pt", step=1, epoch=1, sha256="0" * 64, size=1)
    assert len(commits) == n + 1
    w.finish()
    assert len(commits) == n + 2
