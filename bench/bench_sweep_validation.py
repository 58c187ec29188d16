"""Sweep validation speedup with parallel workers (the same jobs, 1 worker vs 2), on this machine.

    .venv/bin/python bench/bench_sweep_validation.py [--runs 3] [--games 16] [--chunk 2] [--json OUT]

Trains `--runs` tiny world models once (CPU), then scores every run on the same held-out
games with `trainward.sweep.validate.run_job` jobs in a process pool of 1 and of 2 workers,
alternating the two settings `--repeat` times. It prints the median wall times, the
speedup, and the time per (run, game) evaluation used for the arithmetic in
docs/benchmarks.md. One thread per worker (torch.set_num_threads(1)), as in a sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TRAIN = {
    "arch": "mamba2",
    "size": "small",
    "epochs": 1,
    "batch_size": 32,
    "lr": 3.0e-3,
    "warmup_steps": 5,
    "window": 8,
    "log_every": 20,
    "checkpoint_every": 50,
    "device": "cpu",
    "num_threads": 1,
}


def train_runs(root: Path, runs: int, games: int) -> tuple[Path, list[str], dict]:
    volume = root / "volume"
    names = []
    for i in range(runs):
        doc = {
            "name": f"b{i}",
            "backend": "local",
            "train": {
                **TRAIN,
                "seed": i,
                "generate": {"games": 60 + games, "frames": 300, "seed": 0},
            },
            "data": {"dataset": "bench"},
        }
        cfg = root / f"b{i}.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "trainward.train",
                "--config",
                str(cfg),
                "--volume-root",
                str(volume),
                "--run-name",
                f"b{i}",
                "--max-games",
                "60",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "TRAINWARD_HOME": str(root / "home")},
        )
        names.append(f"b{i}")
    return volume, names, doc


def init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def warm(_: int) -> int:
    return os.getpid()


def timed(volume: Path, jobs: list[dict], workers: int) -> float:
    from trainward.sweep.validate import run_job

    with ProcessPoolExecutor(max_workers=workers, initializer=init_worker) as pool:
        list(pool.map(warm, range(workers * 4)))  # workers started and torch imported before timing
        t = time.perf_counter()
        for result in pool.map(run_job, jobs, [volume] * len(jobs)):
            assert result["per_game"]
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--games", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", dest="out")
    args = ap.parse_args()
    from trainward.sweep.validate import evaluate_jobs

    with tempfile.TemporaryDirectory() as tmp:
        volume, names, _ = train_runs(Path(tmp), args.runs, args.games)
        games = list(range(60, 60 + args.games))  # past every run's max_games: held out for all
        jobs = [
            j
            for r in names
            for j in evaluate_jobs(
                r,
                f"runs/{r}/checkpoints/best.pt",
                games,
                chunk=args.chunk,
                data_path="datasets/bench",
                metric="val_metric/action_acc",
                evaluate=None,
            )
        ]
        one, two = [], []
        for _ in range(args.repeat):
            one.append(timed(volume, jobs, 1))
            two.append(timed(volume, jobs, 2))
    t1, t2 = statistics.median(one), statistics.median(two)
    evaluations = args.runs * args.games
    res = {
        "jobs": len(jobs),
        "runs": args.runs,
        "games": args.games,
        "workers_1_s": round(t1, 3),
        "workers_2_s": round(t2, 3),
        "speedup": round(t1 / t2, 3),
        "seconds_per_run_game": round(t1 / evaluations, 4),
        "cpus": os.cpu_count(),
    }
    print(
        f"{len(jobs)} validation jobs ({args.runs} runs x {args.games} held-out games, chunks of {args.chunk})"
    )
    print(
        f"1 worker:  {t1:.2f} s   2 workers: {t2:.2f} s   speedup {t1 / t2:.2f}x on {os.cpu_count()} CPUs"
    )
    print(f"one (run, game) evaluation: {1000 * t1 / evaluations:.0f} ms (1 thread)")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
