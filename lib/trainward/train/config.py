"""The built-in trainer's own config section (`train:`), owned by its plug-in.

The tool's experiment schema knows nothing of these keys: the plug-in (train/plugin.py)
validates this section with the same strict builder every config file uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trainward.config.schema import field as cfield
from trainward.config.values import fraction, non_negative, positive


@dataclass
class Generate:
    """Generate the synthetic replay dataset (into data.source, or on the worker)."""

    games: int = cfield(256, check=positive)
    frames: int = cfield(600, check=positive)
    seed: int = 0


@dataclass
class Train:
    """The world model's hyperparameters and the loop's cadence."""

    arch: Literal["mlp", "gru", "transformer", "mamba2"] = "mamba2"
    size: Literal["small", "medium"] = "small"
    epochs: int = cfield(1, check=positive)
    batch_size: int = cfield(64, check=positive)
    lr: float = cfield(3e-4, check=positive)
    weight_decay: float = cfield(0.01, check=non_negative)
    warmup_steps: int = cfield(20, check=non_negative)
    min_lr_ratio: float = cfield(0.1, check=non_negative)
    grad_clip: float = cfield(1.0, check=non_negative)
    window: int = cfield(16, check=positive)
    max_games: int | None = cfield(None, check=positive)
    val_fraction: float = cfield(0.1, check=fraction)
    seed: int = 0
    bf16: bool = False
    compile: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = cfield(None, check=positive)
    log_every: int = cfield(10, check=positive)
    checkpoint_every: int = cfield(200, check=positive)
    keep_checkpoints: int = cfield(2, check=positive)
    async_checkpoint: bool = False
    best_metric: str = "val_metric/action_change_acc"
    best_mode: Literal["max", "min"] = "max"
    max_steps: int | None = cfield(None, check=positive)
    generate: Generate | None = None


#: Keys of `train:` that may change on resume: they do not change the sequence of parameter
#: updates (cadence, I/O, placement, compilation, which checkpoint is called best).
RESUME_MAY_CHANGE = frozenset(
    {
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "async_checkpoint",
        "compile",
        "device",
        "num_threads",
        "best_metric",
        "best_mode",
    }
)

#: The metric names status, the report and plots use for this trainer's runs.
METRICS = {
    "loss": "batch/loss",
    "primary": "val_metric/action_change_acc",
    "mode": "max",
    "validation": ["val_loss/total", "val_metric/action_change_acc", "val_metric/position_mae"],
    "categories": "val_action/cat_",
    "labels": {
        "val_loss/total": "val loss",
        "val_metric/action_change_acc": "change acc",
        "val_metric/position_mae": "pos MAE",
    },
}
