"""Training throughput and MFU on a GPU: bf16 + torch.compile vs eager fp32.

    python bench/bench_gpu.py [--archs mamba2,transformer] [--modes bf16-compile,eager-fp32]
                              [--steps 30] [--set train.batch_size=1024 ...] [--json OUT]

For each architecture (the medium size of experiments/<arch>-medium-gpu.yaml: window 32,
global batch 512) and each mode, it builds the real `Trainer` on a small generated dataset
(kept on the GPU as in training), warms up (compilation happens there), then times `steps`
full training steps (batch fetch, forward, loss, backward, clip, fused AdamW, schedule)
between two device synchronisations (the faster of two such runs).

FLOPs are counted, not estimated: `torch.utils.flop_counter.FlopCounterMode` over one eager
forward + backward of the same model and batch (matmuls, attention, einsums; elementwise
work is not counted). MFU = counted FLOPs per step / step time / the GPU's dense bf16 peak
from its datasheet (H100 SXM and H200: 989.4 TFLOP/s; A100: 312), for both modes. The
GRU's MFU is not reported: the counter does not see cuDNN's RNN kernels. It also
reports a measured bf16 matmul rate (8192^3) as the achievable ceiling, the time to fetch a
batch, and how long the training thread blocks on an (asynchronous) checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_train import REPO, make_trainer

PEAK_BF16 = {
    "H100": 989.4e12,
    "H200": 989.4e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10": 125e12,
    "L4": 121e12,
}
MODES = {
    "bf16-compile": ["train.bf16=true", "train.compile=true"],
    "eager-fp32": ["train.bf16=false", "train.compile=false"],
    "bf16-eager": ["train.bf16=true", "train.compile=false"],
}


def peak_flops(name: str) -> float | None:
    if "H100" in name and "PCIe" in name:
        return 756e12
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def matmul_tflops() -> float:
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (time.perf_counter() - start) / 1e12


def counted_flops(trainer: Any) -> float:
    """FLOPs of one eager fp32 forward + backward of the raw model on a training batch."""
    from torch.utils.flop_counter import FlopCounterMode
    from trainward.train.metrics import losses

    batch = trainer.next_batch(0, 0)
    with FlopCounterMode(display=False) as counter:
        logits, delta = trainer.raw(batch.states, batch.actions, batch.frames)
        losses(logits, delta, batch)[0].backward()
    trainer.opt.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def timed(trainer: Any, steps: int) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(trainer.next_batch(*divmod(trainer.step, trainer.spe)))
        trainer.step += 1
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def fetch_ms(trainer: Any, n: int = 50) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(n):
        trainer.next_batch(0, i % trainer.spe)
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / n


def checkpoint_block_ms(trainer: Any) -> list[float]:
    """How long the training thread blocks on a checkpoint: the first (which allocates the
    pinned host buffers) and the next (which reuses them, as every later one does)."""
    blocked = []
    for _ in range(2):
        start = time.perf_counter()
        trainer.save()
        blocked.append(1000 * (time.perf_counter() - start))
        trainer.saver.wait()
    trainer.saver.close()
    return blocked


def run_one(
    arch: str, mode: str, steps: int, volume: Path, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    config = REPO / "experiments" / f"{arch}-medium-gpu.yaml"
    sets = [
        "data.dataset=fgc-bench",
        "train.generate.games=48",
        "wandb.mode=disabled",
        *MODES[mode],
        *extra,
    ]
    trainer = make_trainer(config, volume, f"bench-{arch}-{mode}", sets)
    flops = counted_flops(trainer)
    started = time.perf_counter()
    timed(trainer, 3)  # warm-up; compilation happens here
    warmup_s = time.perf_counter() - started
    step_s = min(timed(trainer, steps), timed(trainer, steps))
    cfg, peak = trainer.cfg, peak_flops(torch.cuda.get_device_name())
    out = {
        "arch": arch, "mode": mode, "params": sum(p.numel() for p in trainer.raw.parameters()),
        "batch": cfg.batch_size, "window": cfg.window, "step_ms": 1000 * step_s, "warmup_s": warmup_s,
        "samples_per_s": cfg.batch_size / step_s, "window_frames_per_s": cfg.batch_size * cfg.window / step_s,
        "flops_per_step": flops, "tflops": flops / step_s / 1e12,
        "mfu": flops / step_s / peak if peak and arch != "gru" else None,  # cuDNN RNN FLOPs are not counted
        "fetch_ms": fetch_ms(trainer), "checkpoint_block_ms": checkpoint_block_ms(trainer),
    }  # fmt: skip
    trainer.ctx.ledger.close()
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| arch | mode | params | step ms | frames/s (predicted) | window frames/s | TFLOP/s | MFU | fetch ms | ckpt block ms (first, next) |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        lines.append(f"| {r['arch']} | {r['mode']} | {r['params'] / 1e6:.1f}M | {r['step_ms']:.1f} | "
                     f"{r['samples_per_s']:,.0f} | {r['window_frames_per_s']:,.0f} | {r['tflops']:.0f} | {mfu} | "
                     f"{r['fetch_ms']:.2f} | {r['checkpoint_block_ms'][0]:.0f}, {r['checkpoint_block_ms'][1]:.0f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="mamba2,transformer")
    parser.add_argument("--modes", default="bf16-compile,eager-fp32")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], help="extra config override"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name()
    head = {"gpu": name, "torch": torch.__version__, "peak_bf16_tflops": (peak_flops(name) or 0) / 1e12,
            "measured_matmul_bf16_tflops": matmul_tflops()}  # fmt: skip
    print(json.dumps(head), file=sys.stderr, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            for mode in args.modes.split(","):
                rows.append(run_one(arch, mode, args.steps, Path(tmp) / "volume", tuple(args.sets)))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                torch.cuda.empty_cache()
    print(f"{name}, torch {torch.__version__}, overrides {args.sets or 'none'}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({**head, "sets": args.sets, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
