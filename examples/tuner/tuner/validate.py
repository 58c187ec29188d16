"""The tuner's validation program: one slice of the round-robin, as trainward hands it over.

    TRAINWARD_SLICE=slice.json TRAINWARD_RESULT=result.json python -m tuner.validate

The slice names two members (their weights.toml among their artifacts), the matchups
(faction pairs such as `argentum-ember`), the direction (`ab`: member a plays the first
faction's deck; `ba`: member b does) and the games per matchup. The result counts member a's
wins, losses and draws, in all and per matchup (the shape is in docs/sweeps.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tuner.game import load_weights, play, policy


def play_slice(doc: dict) -> dict:
    wa = load_weights(doc["a"]["artifacts"]["weights.toml"])
    wb = load_weights(doc["b"]["artifacts"]["weights.toml"])
    result: dict = {"wins": 0, "losses": 0, "draws": 0, "matchups": {}}
    for i, matchup in enumerate(doc["matchups"]):
        first, second = matchup.split("-")
        deck_a, deck_b = (first, second) if doc["direction"] == "ab" else (second, first)
        out = play(
            policy(wa, deck_a), policy(wb, deck_b), deck_a, deck_b, doc["games"], doc["seed"] + i
        )
        counts = {
            "wins": int(np.sum(out > 0)),
            "losses": int(np.sum(out < 0)),
            "draws": int(np.sum(out == 0)),
        }
        result["matchups"][matchup] = counts
        for key, n in counts.items():
            result[key] += n
    return result


def main() -> None:
    doc = json.loads(Path(os.environ["TRAINWARD_SLICE"]).read_text())
    Path(os.environ["TRAINWARD_RESULT"]).write_text(json.dumps(play_slice(doc)))


if __name__ == "__main__":
    main()
