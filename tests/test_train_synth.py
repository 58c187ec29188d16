"""The synthetic replay generator: deterministic, incremental, torch-free, and learnable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from trainward.train import sim, synth
from trainward.train.actions import ACTIONS, CATEGORIES, INDEX, NUM_ACTIONS


def test_generation_is_deterministic_and_independent_of_batching(tmp_path: Path) -> None:
    a = synth.generate_dataset(tmp_path / "a", games=6, frames=120, seed=7)
    b = synth.generate_dataset(tmp_path / "b", games=6, frames=120, seed=7)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    alone = sim.simulate(7, np.array([4]), 120)[0]  # game 4 simulated in a batch of one
    assert synth.encode_game(alone) == a[4].read_bytes()
    c = synth.generate_dataset(tmp_path / "c", games=6, frames=120, seed=8)
    assert a[0].read_bytes() != c[0].read_bytes()


def test_rerun_skips_identical_files_and_repairs_changed_ones(tmp_path: Path) -> None:
    paths = synth.generate_dataset(tmp_path, games=4, frames=100, seed=0)
    before = {p.name: p.stat().st_mtime_ns for p in paths}
    good = paths[2].read_bytes()
    paths[2].write_bytes(b"tampered")
    synth.generate_dataset(tmp_path, games=5, frames=100, seed=0)
    after = {p.name: p.stat().st_mtime_ns for p in synth.game_files(tmp_path)}
    assert paths[2].read_bytes() == good
    assert [n for n in before if after[n] != before[n]] == [paths[2].name]
    assert len(after) == 5


def test_importing_synth_does_not_import_torch() -> None:
    code = "import sys, trainward.train, trainward.train.synth; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_actions_persist_and_follow_the_state(tmp_path: Path) -> None:
    games = np.stack(
        [synth.read_game(p) for p in synth.generate_dataset(tmp_path, games=16, frames=600, seed=0)]
    )
    act = games["action"].astype(np.int64)  # [G, T, 2]
    changes = act[:, 1:] != act[:, :-1]
    assert 0.05 < changes.mean() < 0.2  # actions last several frames; a change is the rarer event
    seen = {ACTIONS[a].category for a in np.unique(act)}
    assert seen == set(CATEGORIES) and len(np.unique(act)) > 0.8 * NUM_ACTIONS
    # attacks start when the opponent is close, runs and dashes when far
    dist = np.abs(games["pos"][:, :-1, 0, 0] - games["pos"][:, :-1, 1, 0])
    started = act[:, 1:, 0][changes[..., 0]]
    at = dist[changes[..., 0]]
    attack = np.isin(started, [INDEX[n] for n in ("jab", "ftilt", "dtilt", "grab")])
    dash = np.isin(started, [INDEX[n] for n in ("dash_l", "dash_r")])
    assert np.median(at[attack]) < 2 * sim.CLOSE < sim.FAR <= np.median(at[dash])
    # the action frame counter restarts when the action changes (or restarts), else counts up
    frames, before = games["action_frame"][:, 1:], games["action_frame"][:, :-1]
    assert (frames[changes] == 0).all()
    assert ((frames == before + 1) | (frames == 0))[~changes].all()
