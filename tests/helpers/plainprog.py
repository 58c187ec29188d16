"""A training program that knows nothing of trainward (not one import): it prints progress,
writes Hugging Face-style folder checkpoints, saves and exits 143 on SIGTERM, and resumes.

    python tests/helpers/plainprog.py --out DIR --steps N [--save-every K] [--interval S]
        [--resume-from CHECKPOINT_DIR] [--fail-at STEP] [--quiet-at STEP]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

STOP = {"now": False}


def save(out: Path, step: int) -> None:
    ckpt = out / f"checkpoint-{step}"
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "weights.bin").write_bytes(bytes([step % 256]) * 4096)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--save-every", type=int, default=2)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--resume-from", type=Path)
    p.add_argument("--fail-at", type=int)
    p.add_argument("--quiet-at", type=int)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: STOP.update(now=True))
    start = 0
    if args.resume_from:
        start = json.loads((args.resume_from / "trainer_state.json").read_text())["global_step"]
        print(f"resumed from {args.resume_from.name} at step {start}", flush=True)
    for step in range(start + 1, args.steps + 1):
        if args.quiet_at is not None and step == args.quiet_at:
            time.sleep(3600)  # hangs without a word
        time.sleep(args.interval)
        print(f"step {step}/{args.steps} loss {1.0 / step:.4f}", flush=True)
        if args.fail_at is not None and step == args.fail_at and not args.resume_from:
            print("CUDA out of memory (simulated)", file=sys.stderr, flush=True)
            return 1
        if step % args.save_every == 0:
            save(args.out, step)
        if STOP["now"]:
            save(args.out, step)
            print(f"stopping at step {step}, checkpoint saved", flush=True)
            return 143
    save(args.out, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
