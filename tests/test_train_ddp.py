"""DistributedDataParallel on CPU (gloo): 2 processes match 1 process within tolerance.

`train.batch_size` is the global batch (each of N processes takes batch_size / N of it),
so 2 processes compute the same updates as 1 up to float summation order. Tolerance: every
parameter within 1e-4 (absolute, after 132 AdamW steps; the observed gap is ~1e-6) and
every validation metric within 1e-4.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.test_train_helpers import status, train_argv, train_env, train_proc, write_config

TOL = 1e-4

SPAWN = """
import json, sys
from pathlib import Path
from trainward.runs.worker import WorkerSpec, build_context
from trainward.train import loop, parallel
spec = WorkerSpec.from_json(json.loads(sys.argv[1]))
ctx = build_context(spec, Path(sys.argv[2]), attempt=1)
result = parallel.spawn(ctx, 2, loop.train_process)
ctx.ledger.close()
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ddp")
    (root / "pyproject.toml").write_text("[project]\nname='scratch'\n")
    config, volume = write_config(root), root / "volume"
    run = train_proc(config, volume, "single")
    assert run.code == 0, run.stderr
    return {"config": config, "volume": volume, "result": run.result}


def weights(volume: Path, run: str) -> dict[str, torch.Tensor]:
    state = torch.load(volume / "runs" / run / "checkpoints" / "latest.pt", weights_only=True)
    return state["model"]


def assert_close_to_single(single: dict[str, Any], run: str, result: dict[str, Any]) -> None:
    ref, got = weights(single["volume"], "single"), weights(single["volume"], run)
    worst = max((ref[k] - got[k]).abs().max().item() for k in ref)
    assert worst < TOL, f"largest parameter difference {worst}"
    for key, value in single["result"]["final"].items():
        assert result["final"][key] == pytest.approx(value, abs=TOL), key


def test_torchrun_two_processes_match_one(single: dict[str, Any]) -> None:
    volume = single["volume"]
    argv = train_argv(single["config"], volume, "ddp")
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
    ]
    proc = subprocess.run(launcher + argv[2:], capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL, env=train_env(volume))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])["result"]  # rank 0 alone prints
    assert "on cpu x2" in proc.stderr
    assert_close_to_single(single, "ddp", result)
    assert status(volume, "ddp")["state"] == "finished"


def test_spawned_workers_match_one(single: dict[str, Any]) -> None:
    """The multi-GPU path (rank 0 here, ranks 1..N-1 spawned), exercised on CPU."""
    from trainward.config.experiment import load_experiment

    volume = single["volume"]
    exp = load_experiment(single["config"])
    spec = {
        "run": "spawned",
        "volume": exp.volume,
        "experiment": exp.to_dict(),
        "root": exp.root,
        "run_info": {"name": "spawned"},
    }
    proc = subprocess.run([sys.executable, "-c", SPAWN, json.dumps(spec), str(volume)], capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL, env=train_env(volume))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert_close_to_single(single, "spawned", result)
