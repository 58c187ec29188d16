"""Against real services and hardware: off by default (`-m live` / `-m gpu` turn them on).

    MODAL_TOKEN_ID=... MODAL_TOKEN_SECRET=... .venv/bin/python -m pytest -m live tests/live -k modal
    WANDB_API_KEY=... TRAINWARD_LIVE_WANDB=entity/project .venv/bin/python -m pytest -m live tests/live -k wandb
    .venv/bin/python -m pytest -m gpu tests/live -k gpu        # on a machine with a CUDA GPU

The Modal test launches the CPU smoke config on a real workspace (a few cents of CPU time),
waits for it, pulls its best checkpoint and stops nothing: the run ends by itself.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import EXPERIMENTS, tw_proc


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("MODAL_TOKEN_ID"), reason="needs a real Modal token")
def test_live_modal_cycle(tmp_path: Path) -> None:
    run = f"live-{uuid.uuid4().hex[:8]}"
    assert tw_proc("doctor", "--backend", "modal", "--json", timeout=120).code == 0
    res = tw_proc(
        "launch",
        str(EXPERIMENTS / "smoke-cpu.yaml"),
        "--backend",
        "modal",
        "--run-name",
        run,
        "--json",
        timeout=1200,
    )
    assert res.code == 0, res.stderr
    res = tw_proc("wait", run, "--timeout", "1500", "--interval", "15", "--json", timeout=1600)
    assert res.code == 0 and res.json()["verdict"] == "finished", res.stdout
    res = tw_proc("pull", run, "--which", "best", "--to", str(tmp_path), "--json", timeout=300)
    assert res.code == 0 and res.json()["verified"]


@pytest.mark.live
@pytest.mark.skipif(
    not (os.environ.get("WANDB_API_KEY") and os.environ.get("TRAINWARD_LIVE_WANDB")),
    reason="needs WANDB_API_KEY and TRAINWARD_LIVE_WANDB=entity/project",
)
def test_live_wandb_status() -> None:
    res = tw_proc(
        "status",
        "--wandb",
        os.environ["TRAINWARD_LIVE_WANDB"],
        "--json",
        timeout=120,
        env={"WANDB_MODE": ""},
    )
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["metrics_source"] == "wandb" and doc["tracker"]["requests"] <= 3


@pytest.mark.gpu
def test_gpu_bf16_compile_smoke(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    res = tw_proc(
        "launch",
        str(EXPERIMENTS / "smoke-cpu.yaml"),
        "--run-name",
        "gpu-smoke",
        "--set",
        "train.device=cuda",
        "--set",
        "train.bf16=true",
        "--set",
        "train.compile=true",
        "--json",
        timeout=600,
    )
    assert res.code == 0, res.stderr
    res = tw_proc("wait", "gpu-smoke", "--timeout", "900", "--json", timeout=960)
    assert res.code == 0 and res.json()["verdict"] == "finished", res.stdout
