"""Skirmish: a small card game for three factions, played many games at a time with numpy.

Each player holds a hand of 4 cards drawn from their faction's deck of 16. Every round both
players choose a card at once, by scoring each card in hand with their weights (a linear
policy over 6 features of the card and the state of the game). A card deals
`max(0, power - guard_of_the_other)`, plus 2 if it is faster. After 6 rounds, or when a
player's 20 hit points are gone, the one with more hit points left wins; equal is a draw.

The factions play differently, so good weights differ by faction: argentum guards, ember
hits hard and guards little, verdant is fast; no deck beats another by much. A weights file names weights per faction
(`[weights] argentum = [...]`) and may have `default` for the factions it does not name.
"""

from __future__ import annotations

import tomllib
import zlib
from pathlib import Path

import numpy as np

FACTIONS = ("argentum", "ember", "verdant")
HP, ROUNDS, HAND, DECK = 20, 6, 4, 16
FEATURES = ("power", "guard", "speed", "power_late", "guard_early", "trade_when_ahead")
# (low, high) of power, guard and speed in each faction's deck
STATS = {
    "argentum": ((3, 6), (3, 6), (1, 4)),
    "ember": ((5, 8), (0, 3), (2, 5)),
    "verdant": ((3, 6), (1, 4), (4, 7)),
}
BASELINE = np.array([1.0, 0.5, 0.5, 0.0, 0.0, 0.0])  # a plain "play your strongest card"


def deck(faction: str) -> np.ndarray:
    """The faction's 16 cards: (power, guard, speed) each, the same on every machine."""
    rng = np.random.default_rng(zlib.crc32(faction.encode()))
    cols = [rng.integers(lo, hi + 1, size=DECK) for lo, hi in STATS[faction]]
    return np.stack(cols, axis=1).astype(np.float64)


DECKS = {f: deck(f) for f in FACTIONS}


def features(hand: np.ndarray, t: float, lead: np.ndarray) -> np.ndarray:
    """(games, hand, 6) features: the card's stats, and how they matter now."""
    p, g, s = hand[..., 0], hand[..., 1], hand[..., 2]
    ahead = lead[:, None]
    return np.stack([p, g, s, p * t, g * (1 - t), (p - g) * ahead], axis=-1) / 8.0


def _choose(hand: np.ndarray, w: np.ndarray, t: float, lead: np.ndarray) -> np.ndarray:
    return np.argmax(features(hand, t, lead) @ w, axis=1)


def play(
    w_a: np.ndarray, w_b: np.ndarray, faction_a: str, faction_b: str, games: int, seed: int
) -> np.ndarray:
    """`games` games of a (weights w_a, deck of faction_a) against b: +1 a won, 0 draw, -1 lost."""
    rng = np.random.default_rng(seed)
    deck_a, deck_b = DECKS[faction_a], DECKS[faction_b]
    order_a = np.argsort(rng.random((games, DECK)), axis=1)
    order_b = np.argsort(rng.random((games, DECK)), axis=1)
    hand_a, hand_b = deck_a[order_a[:, :HAND]], deck_b[order_b[:, :HAND]]
    hp_a, hp_b = np.full(games, float(HP)), np.full(games, float(HP))
    rows = np.arange(games)
    for r in range(ROUNDS):
        t = r / (ROUNDS - 1)
        ia = _choose(hand_a, w_a, t, (hp_a - hp_b) / HP)
        ib = _choose(hand_b, w_b, t, (hp_b - hp_a) / HP)
        ca, cb = hand_a[rows, ia], hand_b[rows, ib]
        hit_a = np.maximum(ca[:, 0] - cb[:, 1], 0) + 2 * (ca[:, 2] > cb[:, 2])
        hit_b = np.maximum(cb[:, 0] - ca[:, 1], 0) + 2 * (cb[:, 2] > ca[:, 2])
        alive = (hp_a > 0) & (hp_b > 0)
        hp_a, hp_b = hp_a - hit_b * alive, hp_b - hit_a * alive
        hand_a[rows, ia] = deck_a[order_a[:, HAND + r]]
        hand_b[rows, ib] = deck_b[order_b[:, HAND + r]]
    return np.sign(hp_a - hp_b)


def policy(weights: dict[str, np.ndarray], faction: str) -> np.ndarray:
    """The weights a player uses with `faction`'s deck: its own, else `default`, else the baseline."""
    return weights.get(faction, weights.get("default", BASELINE))


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    doc = tomllib.loads(Path(path).read_text())
    return {name: np.asarray(w, dtype=np.float64) for name, w in doc["weights"].items()}


def dump_weights(weights: dict[str, np.ndarray], header: dict[str, object]) -> str:
    """A weights file as TOML: the header's scalars, then `[weights]`."""
    lines = [f"# Skirmish weights; features: {', '.join(FEATURES)}"]
    lines += [f"{k} = {_toml(v)}" for k, v in header.items()]
    lines += ["", "[weights]"]
    lines += [f"{name} = [{', '.join(f'{x:.6f}' for x in w)}]" for name, w in weights.items()]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
