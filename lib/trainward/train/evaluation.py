"""Held-out evaluation of a checkpoint, for sweeps: `evaluate(checkpoint, data_dir)`.

Which games: by default the checkpoint's own validation games, chosen by the rule in
`data.split_games` from the config stored in the checkpoint (so they are the games the run
validated on, never trained on). Explicit `games` (indices in name order) may be any games
the run did not train on: its validation games, or games beyond its max_games; a training
game is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from trainward.config.experiment import experiment_from_dict
from trainward.errors import NotFound, UsageError
from trainward.train import checkpoint, data, synth
from trainward.train.metrics import SIZE, collect_players, summarize
from trainward.train.models import build_model

EVAL_BATCH = 512


def held_out_games(exp: Any, data_dir: Path, games: Sequence[int] | None) -> list[int]:
    """The games to evaluate: the run's validation split, or `games` checked against training."""
    gen = exp.train.generate
    used = data.select_games(
        data_dir, generated=gen.games if gen else None, max_games=exp.train.max_games
    )
    train_games, val_games = data.split_games(len(used), exp.train.val_fraction)
    if games is None:
        return val_games
    available = len(synth.game_files(data_dir))
    bad = sorted({g for g in games if not 0 <= g < available})
    if bad:
        raise NotFound(f"games {bad[:10]} are not in {data_dir} (it has {available} games)")
    trained = sorted(set(games) & set(train_games))
    if trained:
        raise UsageError(
            f"games {trained[:10]} were used to train this checkpoint; evaluation needs held-out games",
            hint=f"omit games to use the run's validation games, or pick indices >= {len(used)}",
        )
    return list(games)


def evaluate(
    checkpoint_path: Path,
    data_dir: Path,
    *,
    games: Sequence[int] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Aggregate metrics (the validation keys) of a checkpoint on held-out games, plus per game."""
    path, data_dir = Path(checkpoint_path), Path(data_dir)
    state = checkpoint.load(path)
    exp = experiment_from_dict(state["config"]["experiment"], file=str(path))
    chosen = held_out_games(exp, data_dir, games)
    dev = torch.device(device)
    model = build_model(exp.train.arch, exp.train.size, exp.train.window)
    model.load_state_dict(state["model"])
    model.to(dev)
    files = synth.game_files(data_dir)
    replays = data.Replays(data.pack([files[g] for g in chosen]), exp.train.window, dev)
    total = torch.zeros(SIZE, dtype=torch.float64, device=dev)
    per_game: dict[str, dict[str, Any]] = {}
    for j, game in enumerate(chosen):
        sides = collect_players(model, replays, replays.windows([j]), EVAL_BATCH)
        stats = sides.sum(0)
        per_game[files[game].name] = {
            "game": game,
            **summarize(stats),
            "players": [summarize(sides[0]), summarize(sides[1])],
        }
        total += stats
    return {
        **summarize(total),
        "checkpoint": str(path),
        "step": state["step"],
        "config_hash": state["config"]["hash"],
        "games": chosen,
        "per_game": per_game,
    }


def common_held_out(experiments: Sequence[dict[str, Any]], data_dir: Path, n: int) -> list[int]:
    """`n` games none of `experiments` trained on: first the validation games they share,
    then games past every run's data. Deterministic; fewer than `n` if the dataset is short."""
    files = synth.game_files(Path(data_dir))
    trained: set[int] = set()
    used_max = 0
    for d in experiments:
        exp = experiment_from_dict(d, file="sweep member")
        gen = exp.train.generate
        used = data.select_games(
            Path(data_dir), generated=gen.games if gen else None, max_games=exp.train.max_games
        )
        train_games, _ = data.split_games(len(used), exp.train.val_fraction)
        trained.update(train_games)
        used_max = max(used_max, len(used))
    shared = [g for g in range(used_max) if g not in trained]
    beyond = list(range(used_max, len(files)))
    return (shared + beyond)[:n]
