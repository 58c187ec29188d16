"""A torch-free trainer for fast tests of launch, status and the backends.

`entrypoint: tests.helpers.ticker:main` with params:
    steps      how many steps (default 20)
    interval   seconds per step (default 0.05)
    fail_at    raise at this step
    hang_at    stop logging at this step and sleep (a frozen trainer)
It writes checkpoints/latest.pt (a small JSON blob) every 5 steps and best.pt at the end,
resumes from latest, and honours ctx.stop_requested and ctx.deadline like the real trainer.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any


def _save(ctx: Any, step: int, which: str = "latest") -> None:
    path = ctx.run_dir / "checkpoints" / f"{which}.pt"
    skill = float(ctx.experiment.params.get("skill", 0.0))
    data = json.dumps({"step": step, "skill": skill, "weights": [step * 0.5] * 64}).encode()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    ctx.ledger.record_checkpoint(
        which,
        f"checkpoints/{which}.pt",
        step=step,
        epoch=1,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def main(ctx: Any) -> dict[str, Any]:
    p = ctx.experiment.params
    steps, interval = int(p.get("steps", 20)), float(p.get("interval", 0.05))
    start = 0
    ckpt = ctx.resume_from or (ctx.run_dir / "checkpoints" / "latest.pt")
    if ckpt.exists():
        start = json.loads(ckpt.read_bytes())["step"]
        ctx.ledger.resumed(step=start, epoch=1, source=str(ckpt))
    ctx.ledger.plan(epochs=1, steps_per_epoch=steps)
    for step in range(start + 1, steps + 1):
        if ctx.stop_requested.is_set():
            _save(ctx, step - 1)
            return {"status": "preempted"}
        if ctx.deadline and time.time() > ctx.deadline:
            _save(ctx, step - 1)
            return {"status": "continue"}
        if step == p.get("fail_at"):
            raise RuntimeError(f"boom at step {step}")
        if step == p.get("hang_at"):
            while True:
                time.sleep(1)
        time.sleep(interval)
        ctx.ledger.log(
            {"batch/loss": 1.0 / step, "batch/step": step}, step=step, epoch=1, batch=step
        )
        if step % 5 == 0:
            _save(ctx, step)
    _save(ctx, steps, "best")
    ctx.ledger.log_validation(
        1,
        {
            "val_loss/total": 1.0 / steps,
            "val_metric/action_change_acc": 0.8,
            "val_action/cat_movement": 0.91,
            "val_action/cat_attack": 0.97,
        },
    )
    return {"status": "finished"}


def evaluate(checkpoint: Any, data_dir: Any, *, games: Any = None) -> dict[str, Any]:
    """A sweep `validation.evaluate` plug-in: deterministic per-game, per-side scores that
    grow with the checkpoint's step and the run's `params.skill` (read from the checkpoint)."""
    state = json.loads(Path(checkpoint).read_bytes())
    skill = float(state.get("skill", 0.0))
    per_game = {}
    for g in games or range(4):
        sides = [round(skill + 0.01 * ((g * 7 + s * 3) % 5), 6) for s in (0, 1)]
        per_game[f"game-{g}"] = {"game": g, "players": [{"score": v} for v in sides]}
    return {"per_game": per_game}
