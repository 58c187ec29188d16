"""A trainer that is not trainward's: plain PyTorch, launched through `entrypoint: {command: ...}`.

It shows the whole contract for your own code (a TRL GRPO script plugs in the same way):

1. `trainward launch` starts this script detached, in the project root, with the run's
   environment set (TRAINWARD_RUN_DIR, TRAINWARD_EXPERIMENT, TRAINWARD_RESUME, ...).
2. `open_run()` attaches to the run's ledger; `log`, `log_validation`, `record_checkpoint`
   feed `trainward status`, `pull` and sweeps. The worker records finish or failure itself.
3. Resume: a retry or `--resume` restarts the script; it picks up its own checkpoint.

Run it with:  trainward launch examples/custom_trainer/experiment.yaml
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import torch
from torch import nn
from trainward import open_run


def make_data(seed: int, n: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.linspace(-1.0, 1.0, 8)
    y = (x @ w).sin() + 0.05 * torch.randn(n, generator=g)
    return x, y.unsqueeze(1)


def save(path: Path, state: dict) -> tuple[str, int]:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


def main() -> None:
    exp = json.loads(os.environ.get("TRAINWARD_EXPERIMENT", "{}"))
    params = exp.get("params", {})
    epochs, lr, seed = params.get("epochs", 3), params.get("lr", 1e-2), params.get("seed", 0)
    hidden = int(params.get("hidden", 32))
    torch.manual_seed(seed)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    ledger = open_run()
    ckpt_path = ledger.dir / "checkpoints" / "latest.pt"
    x, y = make_data(seed)
    xt, yt, xv, yv = x[:1792], y[:1792], x[1792:], y[1792:]
    model = nn.Sequential(nn.Linear(8, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start_epoch = 0
    resume = os.environ.get("TRAINWARD_RESUME")
    source = Path(resume) if resume else ckpt_path
    if source.exists():
        state = torch.load(source, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start_epoch = state["epoch"]
        ledger.resumed(step=state["step"], epoch=start_epoch, source=str(source))

    batches = len(xt) // 64
    ledger.plan(epochs=epochs, steps_per_epoch=batches)
    step = start_epoch * batches
    for epoch in range(start_epoch, epochs):
        perm = torch.randperm(len(xt))
        for b in range(batches):
            idx = perm[b * 64 : (b + 1) * 64]
            loss = nn.functional.mse_loss(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            ledger.log(
                {"batch/loss": loss.item(), "batch/step": step},
                step=step,
                epoch=epoch + 1,
                batch=b + 1,
            )
        with torch.no_grad():
            val = nn.functional.mse_loss(model(xv), yv).item()
        ledger.log_validation(epoch + 1, {"val_loss/total": val}, step=step)
        sha, size = save(
            ckpt_path,
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch + 1,
                "step": step,
            },
        )
        ledger.record_checkpoint(
            "latest", "checkpoints/latest.pt", step=step, epoch=epoch + 1, sha256=sha, size=size
        )
        if stop["now"]:
            print("stopping after a checkpoint, as asked", flush=True)
            raise SystemExit(143)
    print(f"done: val_loss/total={val:.4f}", flush=True)
    ledger.close()


if __name__ == "__main__":
    main()
