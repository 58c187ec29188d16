"""Every architecture learns on the smoke dataset (experiments/smoke-cpu.yaml's data).

Trivial baseline: predicting "no change" (the current action again) scores exactly 0.5 on
val_metric/action_change_acc (a balanced accuracy; see docs/trainer.md). After 300 steps
each model must beat it clearly (> 0.6) and cut the validation loss of its own untrained
initialisation by more than half.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from trainward.config.experiment import experiment_from_dict
from trainward.core.contracts import RunInfo, WorkerSpec
from trainward.runs.worker import build_context
from trainward.train import data, run_training
from trainward.train.metrics import collect, summarize
from trainward.train.models import build_model

REPO = Path(__file__).resolve().parent.parent
STEPS = 300


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("learning") / "volume"


def smoke_experiment(arch: str) -> Any:
    doc = yaml.safe_load((REPO / "experiments" / "smoke-cpu.yaml").read_text())
    doc["train"].update(arch=arch, max_steps=STEPS, log_every=100, checkpoint_every=1000)
    return experiment_from_dict(doc, root=str(REPO))


def untrained_val_loss(exp: Any, data_dir: Path) -> float:
    """Validation loss of the model the trainer starts from (same seed, same init order)."""
    cfg = exp.train
    files = data.select_games(data_dir, generated=exp.train.generate.games, max_games=None)
    _, val_games = data.split_games(len(files), cfg.val_fraction)
    replays = data.Replays(data.encode(files, write=False), cfg.window, torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, cfg.size, cfg.window)
    return summarize(collect(model, replays, replays.windows(val_games), 256))["val_loss/total"]


@pytest.mark.parametrize("arch", ["mlp", "gru", "transformer", "mamba2"])
def test_architecture_learns(arch: str, volume: Path) -> None:
    exp = smoke_experiment(arch)
    spec = WorkerSpec(run=f"learn-{arch}", volume=exp.volume, experiment=exp.to_dict(), root=exp.root,
                      run_info=RunInfo(name=f"learn-{arch}"))  # fmt: skip
    ctx = build_context(spec, volume, attempt=1)
    try:
        result = run_training(ctx)
    finally:
        ctx.ledger.close()
    final = result["final"]
    assert result["status"] == "finished" and result["step"] == STEPS
    assert final["val_metric/action_change_acc"] > 0.6, final
    assert final["val_loss/total"] < 0.5 * untrained_val_loss(exp, ctx.data_dir), final
