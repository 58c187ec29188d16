"""The tuner: CMA-ES over Skirmish weights, for one faction (a specialist) or all (the generalist).

    python -m tuner.train --mode generalist [--out weights.toml]
    python -m tuner.train --mode specialist --faction ember

Fitness is the score (win 1, draw 0.5) against the baseline policy over every deck pairing
the config plays: the generalist's one `default` vector plays all three decks, a specialist's
vector only its own (with three times the games per pairing: the same compute). Under
trainward (a sweep member, `entrypoint: {command: python -m tuner.train}`) the settings come
from the experiment's `params:` (flags win), every generation is logged to the run's ledger
(`trainward status` shows it), and weights.toml is written into the run's directory, where
the sweep's validation and deploy find it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tuner.cmaes import CMAES
from tuner.game import BASELINE, FACTIONS, dump_weights, play

DEFAULTS = {"generations": 12, "population": 10, "games": 32, "seed": 0, "sigma": 0.5}


def fitness(w: np.ndarray, mine: tuple[str, ...], games: int, seed: int) -> float:
    """Mean score of weights `w` with each of `mine` against the baseline with every deck."""
    scores = [
        float(np.mean((play(w, BASELINE, f, o, games, seed + 7 * i) + 1) / 2))
        for i, (f, o) in enumerate((f, o) for f in mine for o in FACTIONS)
    ]
    return sum(scores) / len(scores)


def tune(
    mine: tuple[str, ...], cfg: dict[str, float], log: Callable[[int, float, float], None]
) -> tuple[np.ndarray, float]:
    games = int(cfg["games"]) * (len(FACTIONS) // len(mine))
    seed = int(cfg["seed"])
    es = CMAES(BASELINE, float(cfg["sigma"]), int(cfg["population"]), seed)
    for gen in range(1, int(cfg["generations"]) + 1):
        xs = es.ask()  # every candidate of a generation plays the same games (less noise)
        es.tell(xs, [-fitness(x, mine, games, seed * 10_000 + gen) for x in xs])
        log(gen, -es.best_f, es.sigma)
    held_out = fitness(es.best_x, mine, games, seed * 10_000 + 9_999)
    return es.best_x, held_out


def settings(args: argparse.Namespace) -> dict[str, float]:
    params = json.loads(os.environ.get("TRAINWARD_EXPERIMENT", "{}")).get("params") or {}
    cfg = {k: params.get(k, v) for k, v in DEFAULTS.items()}
    cfg.update({k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None})
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description="CMA-ES tuner for Skirmish weights")
    ap.add_argument("--mode", choices=["generalist", "specialist"], required=True)
    ap.add_argument("--faction", choices=FACTIONS)
    ap.add_argument("--out", help="weights file (default: weights.toml in the run's directory)")
    for key in DEFAULTS:
        ap.add_argument(f"--{key}", type=float)
    args = ap.parse_args()
    if args.mode == "specialist" and not args.faction:
        ap.error("--mode specialist needs --faction")
    mine = FACTIONS if args.mode == "generalist" else (args.faction,)
    cfg = settings(args)
    run = _open_run(int(cfg["generations"]))

    def log(gen: int, best: float, sigma: float) -> None:
        print(f"generation {gen}: best fitness {best:.3f} (sigma {sigma:.3f})", flush=True)
        if run is not None:
            run.log({"fitness": best, "loss": 1 - best, "sigma": sigma}, step=gen, epoch=1)

    w, held_out = tune(mine, cfg, log)
    key = "default" if args.mode == "generalist" else args.faction
    header = {
        "mode": args.mode,
        "faction": args.faction or "all",
        "fitness": round(held_out, 4),
        **{k: cfg[k] for k in ("generations", "population", "games", "seed")},
    }
    out = Path(args.out or Path(os.environ.get("TRAINWARD_RUN_DIR", ".")) / "weights.toml")
    out.write_text(dump_weights({key: w}, header))
    if run is not None:
        run.log_validation(1, {"fitness": held_out}, step=int(cfg["generations"]))
        run.close()
    print(f"{args.mode} {args.faction or ''}: fitness {held_out:.3f} -> {out}", flush=True)


def _open_run(generations: int) -> Any:
    """The run's ledger writer when trainward started this process, else None."""
    if not os.environ.get("TRAINWARD_RUN_DIR"):
        return None
    from trainward import open_run

    run = open_run()
    run.plan(epochs=1, steps_per_epoch=generations)
    return run


if __name__ == "__main__":
    main()
