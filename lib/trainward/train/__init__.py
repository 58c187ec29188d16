"""The built-in world-model trainer: synthetic replays, four architectures, a resumable loop.

    run_training(ctx)        what the worker calls (trainward.runs.worker.execute)
    evaluate(ckpt, data_dir) held-out metrics of a checkpoint, for sweeps
    synth.generate_dataset   the deterministic replay generator (numpy only)
    python -m trainward.train --config X   a standalone run on a local volume

This module stays cheap to import: torch is imported inside the functions below, so
`import trainward.train.synth` does not import torch. See docs/trainer.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainward.runs.context import RunContext


def run_training(ctx: RunContext) -> dict[str, Any]:
    """Train (or resume) the run described by `ctx`; see `trainward.train.loop.train`."""
    from trainward.train.loop import train

    return train(ctx)


def evaluate(
    checkpoint: Path, data_dir: Path, *, games: Sequence[int] | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """Metrics of `checkpoint` on held-out games; see `trainward.train.evaluation.evaluate`."""
    from trainward.train.evaluation import evaluate as _evaluate

    return _evaluate(checkpoint, data_dir, games=games, device=device)


def common_held_out(experiments: Sequence[dict[str, Any]], data_dir: Path, n: int) -> list[int]:
    """`n` games none of the runs trained on (a sweep scores every member on the same ones)."""
    from trainward.train.evaluation import common_held_out as _common

    return _common(experiments, data_dir, n)


__all__ = ["common_held_out", "evaluate", "run_training"]
