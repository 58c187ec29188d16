"""Resume, through the real CLI (`python -m trainward.train`) as a subprocess.

One uninterrupted reference run (module fixture); every other run must end bit-identical to
it: same weights sha256 and same final metrics, on CPU with one thread.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_train_helpers import events, status, train_argv, train_env, train_proc, write_config

REF = "ref"


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("resume")
    (root / "pyproject.toml").write_text("[project]\nname='scratch'\n")
    config, volume = write_config(root), root / "volume"
    run = train_proc(config, volume, REF)
    assert run.code == 0, run.stderr
    return {"config": config, "volume": volume, "result": run.result}


def copy_run(ref: dict[str, Any], name: str) -> Path:
    runs = ref["volume"] / "runs"
    shutil.copytree(runs / REF, runs / name)
    return runs / name / "checkpoints"


def checkpoint_steps(volume: Path, run: str, attempt: int) -> list[int]:
    try:
        rows = events(volume, run)
    except FileNotFoundError:
        return []
    return [e["step"] for e in rows if e["event"] == "checkpoint" and e["attempt"] == attempt]


def signal_after_checkpoint(ref: dict[str, Any], run: str, attempt: int, at_step: int, tmp: Path,
                            sig: int = signal.SIGKILL) -> int:  # fmt: skip
    """Start the trainer, send `sig` once attempt `attempt` indexed a checkpoint at >= at_step.

    Returns the process's exit code."""
    volume = ref["volume"]
    with open(tmp / f"{run}-{attempt}.log", "w") as log:
        proc = subprocess.Popen(train_argv(ref["config"], volume, run), stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=train_env(volume))  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not any(s >= at_step for s in checkpoint_steps(volume, run, attempt)):
                assert proc.poll() is None, f"attempt {attempt} ended before step {at_step}"
                assert time.monotonic() < deadline, "no checkpoint in time"
                time.sleep(0.01)
            proc.send_signal(sig)
            return proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()


def kill_after_checkpoint(
    ref: dict[str, Any], run: str, attempt: int, at_step: int, tmp: Path
) -> int:
    """SIGKILL the trainer after a checkpoint at >= at_step; returns the newest checkpoint's step."""
    assert signal_after_checkpoint(ref, run, attempt, at_step, tmp) == -signal.SIGKILL
    return max(checkpoint_steps(ref["volume"], run, attempt))


def test_killed_three_times_ends_bit_identical(ref: dict[str, Any], tmp_path: Path) -> None:
    # mid epoch 1; just after the epoch-1 validation (66 steps per epoch); late in epoch 2
    points = [
        kill_after_checkpoint(ref, "killed", i + 1, at, tmp_path)
        for i, at in enumerate((20, 66, 100))
    ]
    assert points[0] < 66 <= points[1] < points[2] < 132
    run = train_proc(ref["config"], ref["volume"], "killed")
    assert run.code == 0, run.stderr
    assert run.result["weights_sha256"] == ref["result"]["weights_sha256"]
    assert run.result["final"] == ref["result"]["final"]
    st = status(ref["volume"], "killed")
    assert (st["state"], st["attempt"], st["resumes"]) == ("finished", 4, 3)
    assert [r["epoch"] for r in st["validation"]] == [1, 2]
    resumed_at = [e["step"] for e in events(ref["volume"], "killed") if e["event"] == "resume"]
    assert len(resumed_at) == 3 and resumed_at == sorted(resumed_at) and resumed_at[-1] >= 100


def test_truncated_latest_falls_back_to_previous(ref: dict[str, Any]) -> None:
    ckpts = copy_run(ref, "truncated")
    latest = ckpts / "latest.pt"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    run = train_proc(ref["config"], ref["volume"], "truncated")
    assert run.code == 0, run.stderr
    assert f"checkpoint {latest} is truncated or corrupt" in run.stderr
    assert f"resuming from {ckpts / 'latest.prev.pt'}" in run.stderr
    warnings = [w["message"] for w in status(ref["volume"], "truncated")["warnings"]]
    assert any(str(latest) in w and "truncated or corrupt" in w for w in warnings)
    assert run.result["weights_sha256"] == ref["result"]["weights_sha256"]


def test_no_valid_checkpoint_fails_instead_of_starting_over(ref: dict[str, Any]) -> None:
    ckpts = copy_run(ref, "allbad")
    for name in ("latest.pt", "latest.prev.pt", "best.pt"):
        (ckpts / name).write_bytes(b"not a checkpoint")
    run = train_proc(ref["config"], ref["volume"], "allbad")
    assert run.code == 1
    assert (
        "no valid checkpoint in" in run.stderr
        and "latest.pt, latest.prev.pt, best.pt" in run.stderr
    )
    assert "Traceback" not in run.stderr
    assert status(ref["volume"], "allbad")["state"] == "failed"
    assert (ckpts / "latest.pt").read_bytes() == b"not a checkpoint"


def test_resume_with_a_different_config_exits_2_listing_keys(ref: dict[str, Any]) -> None:
    copy_run(ref, "mismatch")
    run = train_proc(
        ref["config"], ref["volume"], "mismatch", "--set", "train.lr=0.002", "--epochs", "3"
    )
    assert run.code == 2, run.stderr
    assert "cannot resume from" in run.stderr
    assert "train.epochs: 2 in the checkpoint, 3 now" in run.stderr
    assert "train.lr: 0.003 in the checkpoint, 0.002 now" in run.stderr
    assert "Traceback" not in run.stderr
    assert status(ref["volume"], "mismatch")["state"] == "failed"


def test_cadence_may_change_on_resume(ref: dict[str, Any]) -> None:
    copy_run(ref, "cadence")
    run = train_proc(ref["config"], ref["volume"], "cadence", "--set", "train.log_every=7",
                     "--set", "train.checkpoint_every=50")  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.result["weights_sha256"] == ref["result"]["weights_sha256"]
    assert run.result["final"] == ref["result"]["final"]


def test_resume_from_another_runs_checkpoint(ref: dict[str, Any]) -> None:
    run = train_proc(ref["config"], ref["volume"], "fork", "--resume", f"{REF}/latest.prev.pt")
    assert run.code == 0, run.stderr
    prev_step = next(e for e in events(ref["volume"], "fork") if e["event"] == "resume")["step"]
    assert 0 < prev_step < 132
    assert run.result["weights_sha256"] == ref["result"]["weights_sha256"]


def test_evaluate_held_out_games(ref: dict[str, Any]) -> None:
    from trainward.errors import UsageError
    from trainward.train import evaluate, synth

    data_dir = ref["volume"] / "datasets" / "fgc-tiny"
    best = ref["volume"] / "runs" / REF / "checkpoints" / "best.pt"
    out = evaluate(best, data_dir)
    assert out["games"] == [9] and list(out["per_game"]) == ["game-000009.npy"]
    final = ref["result"]["final"]
    assert set(final) <= set(out)
    assert out["val_loss/total"] == pytest.approx(final["val_loss/total"], rel=1e-5)
    with pytest.raises(UsageError, match="were used to train"):
        evaluate(best, data_dir, games=[0, 9])
    synth.generate_dataset(data_dir, games=14, frames=200, seed=0)  # two games it never saw
    fresh = evaluate(best, data_dir, games=[12, 13])
    assert sorted(g["game"] for g in fresh["per_game"].values()) == [12, 13]
    assert 0.0 <= fresh["val_metric/action_acc"] <= 1.0


def test_sigterm_checkpoints_then_resume_matches(ref: dict[str, Any], tmp_path: Path) -> None:
    assert signal_after_checkpoint(ref, "stopped", 1, 30, tmp_path, signal.SIGTERM) == 143
    st = status(ref["volume"], "stopped")
    assert st["state"] == "preempted"
    assert (
        132 > st["checkpoints"]["latest"]["step"] >= st["step"] >= 30
    )  # checkpointed where it stopped
    run = train_proc(ref["config"], ref["volume"], "stopped")
    assert run.code == 0, run.stderr
    assert run.result["weights_sha256"] == ref["result"]["weights_sha256"]


def test_deadline_hands_over_then_continues(ref: dict[str, Any]) -> None:
    first = train_proc(ref["config"], ref["volume"], "chained", "--time-limit", "0.001")
    assert first.code == 0, first.stderr
    assert first.result == {"status": "continue", "step": 1, "epoch": 0}
    assert status(ref["volume"], "chained")["checkpoints"]["latest"]["step"] == 1
    second = train_proc(ref["config"], ref["volume"], "chained")
    assert second.code == 0, second.stderr
    assert second.result["weights_sha256"] == ref["result"]["weights_sha256"]
