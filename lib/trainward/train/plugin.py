"""The built-in world-model trainer as a trainer plug-in (`entrypoint: builtin`).

Importing this module is cheap (no torch, no numpy): the hooks import what they need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from trainward.core.plugins import TrainerPlugin
from trainward.train.config import METRICS, RESUME_MAY_CHANGE, Generate, Train


class WorldModelTrainer(TrainerPlugin):
    name = "builtin"
    section = "train"
    schema = Train
    resume_may_change = RESUME_MAY_CHANGE
    cli_overrides = MappingProxyType({"epochs": "train.epochs", "max_games": "train.max_games"})
    metrics = METRICS
    summary_keys = ("arch", "size", "epochs", "batch_size", "lr", "max_games", "seed")

    def run(self, ctx: Any) -> Any:
        from trainward.train import run_training  # torch is imported only here

        return run_training(ctx)

    def data_action(self, section: Train, *, has_source: bool) -> str | None:
        gen = section.generate
        if gen is None:
            return None
        if has_source:
            return f"generate {gen.games} games, then upload"
        return "generate on the worker"

    def prepare_data(self, section: Train, directory: Path, note: Callable[[str], None]) -> None:
        """Generate the synthetic games into `directory` (idempotent: completes a half-written
        dataset and keeps identical games)."""
        gen: Generate | None = section.generate
        if gen is None:
            return
        from trainward.train.synth import generate_dataset

        if not directory.is_dir():
            note(f"generating {gen.games} synthetic games into {directory}")
        generate_dataset(directory, games=gen.games, frames=gen.frames, seed=gen.seed)

    def needs_data_on_volume(self, section: Train) -> bool:
        return section.generate is None

    def evaluate(
        self, checkpoint: Path, data_dir: Path, *, games: Sequence[int] | None = None
    ) -> dict[str, Any]:
        from trainward.train import evaluate

        return evaluate(checkpoint, data_dir, games=games)

    def held_out(
        self, experiments: Sequence[Mapping[str, Any]], data_dir: Path, n: int
    ) -> list[int]:
        from trainward.train import common_held_out

        return common_held_out([dict(e) for e in experiments], data_dir, n)


PLUGIN = WorldModelTrainer()
