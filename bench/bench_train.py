"""Trainer harness and data-loading overhead on CPU, measured in one interleaved run.

    .venv/bin/python bench/bench_train.py [--rounds 4] [--json OUT]

Builds the real `Trainer` for experiments/smoke-cpu.yaml (mamba2-small, 1 thread) on a
dataset of 60 x rounds + 40 games (one epoch outlasts the benchmark, so no validation
runs), then alternates blocks of `checkpoint_every` (200) steps:

- bare:    fetch the batch, forward, backward, clip, AdamW, schedule (`train_step`)
- harness: the same, plus `after_step`: ledger logging every 50 steps, the stop/deadline
           check every step, and the checkpoint that falls at the end of the block

Reports the harness overhead two ways: (a) harness block time over bare block time, per
round (median and range across rounds); (b) the time spent inside `after_step` over the
time of the steps themselves. Data loading is the time to fetch batches (index + gather)
over the step time. Times are wall-clock on a shared machine: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def make_trainer(config: Path, volume: Path, run: str, sets: list[str]) -> Any:
    """The real Trainer for `config` (with --set style overrides) on a scratch volume."""
    from trainward.config.experiment import load_experiment
    from trainward.config.overrides import Overrides
    from trainward.runs.worker import build_context
    from trainward.train import parallel
    from trainward.train.loop import Trainer

    exp = load_experiment(config, Overrides(sets=tuple(sets)))
    spec = {"run": run, "experiment": exp.to_dict(), "root": exp.root, "run_info": {"name": run}}
    ctx = build_context(spec, volume, attempt=1)
    return Trainer(ctx, parallel.setup(exp.train))


def sync(trainer: Any) -> None:
    if trainer.rt.device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def block(trainer: Any, steps: int, harness: bool) -> dict[str, float]:
    """Run `steps` steps; returns seconds in total, fetching data, and inside after_step."""
    data = after = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = trainer.next_batch(*divmod(trainer.step, trainer.spe))
        sync(trainer)
        data += time.perf_counter() - t0
        loss = trainer.train_step(batch)
        trainer.step += 1
        if harness:
            sync(trainer)
            t1 = time.perf_counter()
            assert trainer.after_step(loss) is None
            after += time.perf_counter() - t1
    sync(trainer)
    return {"total": time.perf_counter() - start, "data": data, "after": after}


def measure(rounds: int) -> dict[str, Any]:
    sets = [
        "data.dataset=fgc-bench",
        f"train.generate.games={60 * rounds + 40}",
        "train.checkpoint_every=200",
        "train.log_every=50",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(
            REPO / "experiments" / "smoke-cpu.yaml", Path(tmp) / "volume", "bench", sets
        )
        every = trainer.cfg.checkpoint_every
        assert (2 * rounds + 1) * every < trainer.spe, "the benchmark must stay inside one epoch"
        block(trainer, 20, harness=False)  # warm up
        trainer.step = every  # blocks end on checkpoint steps: a harness block holds exactly one
        bare, harness = [], []
        for _ in range(rounds):
            bare.append(block(trainer, every, harness=False))
            harness.append(block(trainer, every, harness=True))
        if trainer.saver is not None:
            trainer.saver.close()
        trainer.ctx.ledger.close()
        checkpoints = len(
            list((Path(tmp) / "volume" / "runs" / "bench" / "checkpoints").glob("*.pt"))
        )
    ratios = [h["total"] / b["total"] - 1 for b, h in zip(bare, harness, strict=True)]
    steps_s = sum(b["total"] for b in bare) + sum(h["total"] - h["after"] for h in harness)
    return {
        "config": f"experiments/smoke-cpu.yaml (mamba2-small, batch 64, 1 thread), {60 * rounds + 40} games",
        "rounds": rounds, "block_steps": every, "checkpoint_files": checkpoints,
        "bare_step_ms": 1000 * statistics.median(b["total"] for b in bare) / every,
        "harness_step_ms": 1000 * statistics.median(h["total"] for h in harness) / every,
        "harness_overhead_block_ratio": statistics.median(ratios),
        "harness_overhead_block_ratio_range": [min(ratios), max(ratios)],
        "harness_overhead_inside_after_step": sum(h["after"] for h in harness) / sum(h["total"] - h["after"] for h in harness),
        "data_loading_fraction": (sum(b["data"] for b in bare) + sum(h["data"] for h in harness)) / steps_s,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    out = measure(args.rounds)
    print(
        f"bare step {out['bare_step_ms']:.2f} ms, with harness {out['harness_step_ms']:.2f} ms",
        file=sys.stderr,
    )
    print(f"harness overhead: {100 * out['harness_overhead_block_ratio']:+.2f}% (block ratio, median of "
          f"{args.rounds}; range {100 * out['harness_overhead_block_ratio_range'][0]:+.2f}% .. "
          f"{100 * out['harness_overhead_block_ratio_range'][1]:+.2f}%), "
          f"{100 * out['harness_overhead_inside_after_step']:.2f}% (time inside after_step)", file=sys.stderr)  # fmt: skip
    print(f"data loading: {100 * out['data_loading_fraction']:.2f}% of step time", file=sys.stderr)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
