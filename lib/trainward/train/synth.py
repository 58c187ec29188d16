"""The synthetic replay dataset: one `.npy` file per game, generated deterministically.

    out_dir/game-000000.npy   a structured array of frames (see `sim.FRAME_DTYPE`):
                              pos [2 players, (x, y)], vel [2, (vx, vy)], damage [2],
                              action_frame [2] (frames since the action began), action [2]
    out_dir/manifest.json     generator version, seed, frames, and each file's sha256

Game `i` depends only on (seed, i, frames), so asking for more games later reuses the files
already there, and a re-run with the same arguments verifies hashes and writes nothing.
Pure Python + numpy: importing this module does not import torch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from trainward.core.fileio import sha256_file
from trainward.train import sim
from trainward.train.actions import CATEGORIES, NAMES

GENERATOR = "trainward.synth"
VERSION = 2
MANIFEST = "manifest.json"
BATCH_GAMES = 512  # games simulated together (memory ~ BATCH_GAMES x frames x 44 bytes)


def game_name(index: int) -> str:
    return f"game-{index:06d}.npy"


def game_files(data_dir: Path) -> list[Path]:
    """The game files of a dataset directory, in index order."""
    return sorted(Path(data_dir).glob("game-*.npy"))


def encode_game(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, frames, allow_pickle=False)
    return buf.getvalue()


def read_game(path: Path) -> np.ndarray:
    frames = np.load(path, allow_pickle=False)
    if frames.dtype != sim.FRAME_DTYPE or frames.ndim != 1:
        raise ValueError(
            f"{path} is not a replay file (dtype {frames.dtype}, shape {frames.shape})"
        )
    return frames


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load_manifest(out_dir: Path, *, frames: int, seed: int) -> dict[str, Any]:
    fresh = {
        "generator": GENERATOR,
        "version": VERSION,
        "seed": seed,
        "frames": frames,
        "files": {},
    }
    try:
        old = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return fresh
    same = all(old.get(k) == fresh[k] for k in ("generator", "version", "seed", "frames"))
    return old if same and isinstance(old.get("files"), dict) else fresh


def _missing(out_dir: Path, manifest: dict[str, Any], games: int) -> list[int]:
    """Game indices whose file is absent or differs from what the manifest recorded."""
    files = manifest["files"]
    out = []
    for i in range(games):
        path = out_dir / game_name(i)
        if not (path.exists() and files.get(path.name) == sha256_file(path)):
            out.append(i)
    return out


def generate_dataset(out_dir: Path, *, games: int, frames: int, seed: int) -> list[Path]:
    """Write games 0..games-1 into `out_dir` (skipping identical files); returns their paths."""
    if games <= 0 or frames <= 1:
        raise ValueError(f"need games >= 1 and frames >= 2, got games={games}, frames={frames}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(out_dir, frames=frames, seed=seed)
    todo = _missing(out_dir, manifest, games)
    for start in range(0, len(todo), BATCH_GAMES):
        chunk = np.array(todo[start : start + BATCH_GAMES])
        for index, game in zip(chunk.tolist(), sim.simulate(seed, chunk, frames), strict=True):
            data = encode_game(game)
            _write(out_dir / game_name(index), data)
            manifest["files"][game_name(index)] = hashlib.sha256(data).hexdigest()
    if todo or not (out_dir / MANIFEST).exists():
        manifest["actions"], manifest["categories"] = list(NAMES), list(CATEGORIES)
        _write(out_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return [out_dir / game_name(i) for i in range(games)]


def main(argv: list[str] | None = None) -> None:
    """`python -m trainward.train.synth OUT_DIR --games N --frames N --seed N`"""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m trainward.train.synth", description=main.__doc__
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = generate_dataset(args.out_dir, games=args.games, frames=args.frames, seed=args.seed)
    print(json.dumps({"dir": str(args.out_dir), "games": len(paths)}))


if __name__ == "__main__":
    main()
