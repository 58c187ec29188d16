"""Chaos for the trainer: SIGKILL at random moments, SIGKILL inside checkpoint writes, a full disk.

Every run is compared with one uninterrupted reference run of the same config and seed
(module fixture): resumed runs must end bit-identical (same final weights sha256).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_train_helpers import status, train_argv, train_env, train_proc, write_config

pytestmark = pytest.mark.chaos
SEED = 20261123
KILL_TRIALS = 10
CKPT_TRIALS = 6


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("chaos-train")
    (root / "pyproject.toml").write_text("[project]\nname='scratch'\n")
    config = write_config(root, train={"epochs": 2, "checkpoint_every": 4})
    volume = root / "volume"
    t = time.monotonic()
    run = train_proc(config, volume, "ref")
    assert run.code == 0, run.stderr
    return {
        "root": root,
        "config": config,
        "volume": volume,
        "result": run.result,
        "span": time.monotonic() - t,
    }


def start(ref: dict[str, Any], run: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(train_argv(ref["config"], ref["volume"], run), stdout=fh, stderr=fh,
                                stdin=subprocess.DEVNULL, env=train_env(ref["volume"]))  # fmt: skip


def finish(ref: dict[str, Any], run: str) -> dict[str, Any]:
    done = train_proc(ref["config"], ref["volume"], run)
    assert done.code == 0, done.stderr
    return done.result


def test_trainer_sigkilled_at_random_moments_resumes_bit_identical(
    ref: dict[str, Any], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    for trial in range(KILL_TRIALS):
        run = f"kill{trial}"
        proc = start(ref, run, tmp_path / f"{run}.log")
        time.sleep(rng.uniform(0.2, ref["span"] * 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        result = finish(ref, run)  # resume, as a retry would
        where = f"seed {SEED}, trial {trial}"
        assert result["weights_sha256"] == ref["result"]["weights_sha256"], where
        assert result["final"] == ref["result"]["final"], where
        st = status(ref["volume"], run)
        assert st["state"] == "finished" and [r["epoch"] for r in st["validation"]] == [1, 2], where


def _tmp_files(ckpt_dir: Path) -> list[Path]:
    return list(ckpt_dir.glob(".*.tmp")) if ckpt_dir.exists() else []


def test_sigkill_inside_checkpoint_writes_never_corrupts_latest(
    ref: dict[str, Any], tmp_path: Path
) -> None:
    """Kill exactly while a checkpoint temp file exists (a write in progress), then resume."""
    for trial in range(CKPT_TRIALS):
        run = f"ckpt{trial}"
        ckpt_dir = ref["volume"] / "runs" / run / "checkpoints"
        proc = start(ref, run, tmp_path / f"{run}.log")
        seen = 0
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if _tmp_files(ckpt_dir):
                seen += 1
                if seen > trial:  # a later write each trial
                    proc.send_signal(signal.SIGKILL)
                    break
                while _tmp_files(ckpt_dir) and proc.poll() is None:
                    time.sleep(0.0005)
            time.sleep(0.0005)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, (
            f"trial {trial}: never caught a write in progress"
        )
        latest = ckpt_dir / "latest.pt"
        if latest.exists():
            st = status(ref["volume"], run)
            indexed = st["checkpoints"].get("latest")
            if (
                indexed
            ):  # what the ledger indexes is exactly what is on disk, or an older file rotated
                import hashlib

                digest = hashlib.sha256(latest.read_bytes()).hexdigest()
                prev = ckpt_dir / "latest.prev.pt"
                assert digest == indexed["sha256"] or (
                    prev.exists()
                    and hashlib.sha256(prev.read_bytes()).hexdigest() == indexed["sha256"]
                )
        result = finish(ref, run)
        assert result["weights_sha256"] == ref["result"]["weights_sha256"], f"trial {trial}"
        assert not _tmp_files(ckpt_dir)


ENOSPC_SCRIPT = r"""
set -e
mount -t tmpfs -o size={size} tmpfs "{vol}"
cp -r "{seed}/." "{vol}/"
set +e
{python} -m trainward.train --config "{config}" --volume-root "{vol}" --run-name full > "{log}" 2>&1
echo "EXIT=$?"
set -e
{python} - <<'PY'
import hashlib, json, torch
from pathlib import Path
run = Path("{vol}") / "runs" / "full"
st = json.loads((run / "status.json").read_text())
out = {{"state": st["state"], "reason": st.get("reason"), "indexed": st["checkpoints"], "files": {{}}}}
for p in sorted((run / "checkpoints").iterdir()):
    data = p.read_bytes()
    entry = {{"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    try:
        torch.load(p, weights_only=False, map_location="cpu")
        entry["loads"] = True
    except Exception as err:
        entry["loads"] = repr(err)
    out["files"][p.name] = entry
print("RESULT=" + json.dumps(out))
PY
"""


def _userns_available() -> bool:
    try:
        out = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


@pytest.mark.skipif(
    not _userns_available(), reason="needs `unshare` with unprivileged user namespaces"
)
def test_disk_full_fails_clearly_and_keeps_the_previous_checkpoint(
    ref: dict[str, Any], tmp_path: Path
) -> None:
    """A real ENOSPC: the run's volume is a tiny tmpfs in a private mount namespace."""
    ref_ckpt = ref["volume"] / "runs" / "ref" / "checkpoints" / "latest.pt"
    data_dir = next(p for p in (ref["volume"] / "datasets").iterdir() if p.is_dir())
    seed = tmp_path / "seed"  # the dataset, so only checkpoints fill the disk
    shutil.copytree(data_dir, seed / "datasets" / data_dir.name)
    data_bytes = sum(p.stat().st_size for p in seed.rglob("*") if p.is_file())
    size = (
        data_bytes + int(ref_ckpt.stat().st_size * 3.5) + 256 * 1024
    )  # room for ~3 checkpoint files
    vol, log = tmp_path / "vol", tmp_path / "train.log"
    vol.mkdir()
    script = ENOSPC_SCRIPT.format(
        size=size, vol=vol, seed=seed, python=sys.executable, config=ref["config"], log=log
    )
    out = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", script], capture_output=True,
                         text=True, timeout=300, env=train_env(ref["volume"]))  # fmt: skip
    assert out.returncode == 0, out.stderr
    code = int(next(line for line in out.stdout.splitlines() if line.startswith("EXIT="))[5:])
    result = json.loads(
        next(line for line in out.stdout.splitlines() if line.startswith("RESULT="))[7:]
    )
    text = log.read_text()
    assert code == 1, text
    assert result["state"] == "failed" and "no space left on the volume" in result["reason"], result
    assert "Traceback" not in text
    assert not any(name.startswith(".") for name in result["files"]), result[
        "files"
    ]  # no temp left behind
    indexed = result["indexed"]["latest"]
    on_disk = result["files"]["latest.pt"]
    assert on_disk["loads"] is True and on_disk["sha256"] == indexed["sha256"], result
