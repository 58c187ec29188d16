"""Replays as tensors: the encoded file, the train/validation split, windows and batches.

Encode: the games' frames are packed into one tensor file, `encoded-<N>.pt` next to the
games (N = number of games), with a fingerprint of the game files (names, sizes and the
manifest's hashes); a stale or foreign file is re-encoded. Loading it is one mmap.

Split (deterministic, by game index in name order, disjoint by construction): with
period = round(1 / val_fraction), game i is held out for validation iff
i % period == period - 1. The rest are training games.

A sample is a window of K frames [t-K+1 .. t] (both players' state, action and action
frame) and its target: the next frame's actions and the position change pos[t+1] - pos[t].
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainward.errors import NotFound
from trainward.train import synth

FORMAT = "trainward-encoded"
VERSION = 2
#: Divisors that bring (x, y, vx, vy, damage) to unit scale; DELTA_SCALE does so for pos[t+1]-pos[t].
STATE_SCALE = (100.0, 100.0, 5.0, 5.0, 100.0)
DELTA_SCALE = 2.0
MAX_ACTION_FRAME = 64  # action frame counters are embedded as 0..63; longer ones are clipped
STATE_FEATURES = len(STATE_SCALE)


def encoded_path(data_dir: Path, games: int) -> Path:
    return Path(data_dir) / f"encoded-{games}.pt"


def fingerprint(files: Sequence[Path]) -> str:
    """Names, sizes and (where the manifest has them) sha256 of the game files."""
    recorded: dict[str, str] = {}
    if files:
        try:
            recorded = json.loads((files[0].parent / synth.MANIFEST).read_text()).get("files", {})
        except (OSError, ValueError):
            recorded = {}
    rows = [(f.name, f.stat().st_size, recorded.get(f.name)) for f in files]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def pack(files: Sequence[Path]) -> dict[str, Any]:
    """Read game files into one frame table: states [N, 2, 5], actions [N, 2], offsets [G+1]."""
    games = [synth.read_game(f) for f in files]
    frames = np.concatenate(games) if games else np.zeros(0, dtype=synth.sim.FRAME_DTYPE)
    states = np.concatenate([frames["pos"], frames["vel"], frames["damage"][..., None]], axis=-1)
    offsets = np.cumsum([0] + [len(g) for g in games])
    return {
        "format": FORMAT, "version": VERSION, "fingerprint": fingerprint(files),
        "games": [f.name for f in files],
        "states": torch.from_numpy(np.ascontiguousarray(states, dtype=np.float32)),
        "actions": torch.from_numpy(frames["action"].astype(np.int16)),
        "action_frames": torch.from_numpy(frames["action_frame"].astype(np.int16)),
        "offsets": torch.from_numpy(offsets.astype(np.int64)),
    }  # fmt: skip


def _load(path: Path, expect: str) -> dict[str, Any] | None:
    try:
        packed: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, ValueError):
        return None
    ok = (
        isinstance(packed, dict)
        and packed.get("format") == FORMAT
        and packed.get("version") == VERSION
    )
    return packed if ok and packed.get("fingerprint") == expect else None


def encode(files: Sequence[Path], *, write: bool = True) -> dict[str, Any]:
    """The packed games, from `encoded-<N>.pt` when it is current, else packed (and written)."""
    path = encoded_path(files[0].parent, len(files))
    packed = _load(path, fingerprint(files)) if path.exists() else None
    if packed is not None:
        return packed
    packed = pack(files)
    if write:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(packed, tmp)
        os.replace(tmp, path)
    return packed


def split_games(n_games: int, val_fraction: float) -> tuple[list[int], list[int]]:
    """(train, validation) game indices among the first `n_games`: see the module docstring."""
    period = max(2, round(1 / val_fraction))
    if n_games < period:
        raise ValueError(
            f"need at least {period} games for val_fraction {val_fraction}, have {n_games}"
        )
    val = [i for i in range(n_games) if i % period == period - 1]
    return [i for i in range(n_games) if i % period != period - 1], val


@dataclass
class Batch:
    states: torch.Tensor  # [B, K, 2, 5] normalized
    actions: torch.Tensor  # [B, K, 2] int64
    frames: torch.Tensor  # [B, K, 2] int64: frames since each player's action began (clipped)
    next_action: torch.Tensor  # [B, 2]
    delta: torch.Tensor  # [B, 2, 2] normalized position change
    current: torch.Tensor  # [B, 2] action at the window's last frame


class Replays:
    """The frame table on a device, and the windows of any set of its games."""

    def __init__(self, packed: dict[str, Any], window: int, device: torch.device) -> None:
        scale = torch.tensor(STATE_SCALE)
        self.states = (packed["states"].float() / scale).to(device)
        self.actions = packed["actions"].long().to(device)
        self.frames = packed["action_frames"].long().clamp(0, MAX_ACTION_FRAME - 1).to(device)
        self.offsets = packed["offsets"].tolist()
        self.names: list[str] = list(packed["games"])
        self.window = window
        self.device = device
        self._steps = torch.arange(window + 1, device=device)
        self._delta_scale = torch.tensor(STATE_SCALE[:2], device=device) / DELTA_SCALE

    @property
    def games(self) -> int:
        return len(self.names)

    def windows(self, games: Sequence[int]) -> torch.Tensor:
        """Start frame of every window (with its target frame) in `games`, in order."""
        parts = []
        for g in games:
            start, end = self.offsets[g], self.offsets[g + 1]
            parts.append(torch.arange(start, max(start, end - self.window), dtype=torch.int64))
        if not parts:
            return torch.zeros(0, dtype=torch.int64, device=self.device)
        return torch.cat(parts).to(self.device)

    def batch(self, starts: torch.Tensor) -> Batch:
        idx = starts[:, None] + self._steps  # [B, K+1]
        states, actions, frames = self.states[idx], self.actions[idx], self.frames[idx]
        k = self.window
        delta = (states[:, k, :, :2] - states[:, k - 1, :, :2]) * self._delta_scale
        return Batch(
            states[:, :k], actions[:, :k], frames[:, :k], actions[:, k], delta, actions[:, k - 1]
        )


class EpochOrder:
    """The shuffled order of training windows: a permutation seeded by (seed, epoch).

    Position (epoch, batch) fully determines a batch, so resuming at a step resumes at the
    exact batch. Each of `world` processes takes its slice of every global batch.
    """

    def __init__(
        self, n_windows: int, batch_size: int, seed: int, *, rank: int = 0, world: int = 1
    ) -> None:
        if batch_size % world:
            raise ValueError(f"train.batch_size {batch_size} is not divisible by {world} processes")
        self.n, self.batch_size, self.seed = n_windows, batch_size, seed
        self.rank, self.world = rank, world
        self._epoch = -1
        self._perm = torch.zeros(0, dtype=torch.int64)

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size

    def indices(self, epoch: int, batch: int) -> torch.Tensor:
        """Positions into the window list for this process's share of global batch `batch`."""
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=gen), epoch
        share = self.batch_size // self.world
        start = batch * self.batch_size + self.rank * share
        return self._perm[start : start + share]


def select_games(data_dir: Path, *, generated: int | None, max_games: int | None) -> list[Path]:
    """The dataset's game files in index order, cut to the generated count and max_games."""
    files = synth.game_files(data_dir)
    for limit in (generated, max_games):
        if limit is not None:
            files = files[:limit]
    return files


def prepare(data_dir: Path, generate: Any, max_games: int | None) -> list[Path]:
    """The run's game files: generated first when `generate` is set and some are missing, then
    encoded (written once to encoded-<N>.pt). Raises NotFound when there are none."""
    if generate is not None:
        names = (synth.game_name(i) for i in range(generate.games))
        if not all((data_dir / name).exists() for name in names):
            print(f"[trainward] generating {generate.games} games of {generate.frames} frames "
                  f"into {data_dir}", file=sys.stderr, flush=True)  # fmt: skip
            synth.generate_dataset(
                data_dir, games=generate.games, frames=generate.frames, seed=generate.seed
            )
    files = select_games(
        data_dir, generated=generate.games if generate else None, max_games=max_games
    )
    if not files:
        raise NotFound(f"no game files (game-*.npy) in {data_dir}",
                       hint="set train.generate in the config, or push the dataset to the volume")  # fmt: skip
    encode(files)
    return files


def main(argv: list[str] | None = None) -> None:
    """`python -m trainward.train.data DATA_DIR [--max-games N]`: write encoded-<N>.pt."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m trainward.train.data", description=main.__doc__
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--max-games", type=int, default=None)
    args = parser.parse_args(argv)
    files = select_games(args.data_dir, generated=None, max_games=args.max_games)
    if not files:
        raise SystemExit(f"no game-*.npy files in {args.data_dir}")
    encode(files)
    print(
        json.dumps({"encoded": str(encoded_path(args.data_dir, len(files))), "games": len(files)})
    )


if __name__ == "__main__":
    main()
