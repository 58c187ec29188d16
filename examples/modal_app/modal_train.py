"""A Modal app of your own, as you already have it: `modal run modal_train.py::train ...`.

trainward adopts it unchanged (`entrypoint: {modal_function: examples/modal_app/modal_train.py::train}`):
it spawns `train` detached in an app named after the run, passes the launch's `--` arguments
as keyword arguments, and reads the call's state and the checkpoints this function writes
under `runs/<run_name>/` on its volume. Nothing here imports trainward.

The model is a small next-state predictor (numpy, so it runs anywhere in seconds): states
of a damped oscillator, learned by gradient descent on a one-hidden-layer network.
"""

from __future__ import annotations

import time
from pathlib import Path

import modal

app = modal.App("world-model-own")
image = modal.Image.debian_slim(python_version="3.11").uv_pip_install("numpy==2.4.6")
volume = modal.Volume.from_name("wm-own-vol", create_if_missing=True)
VOL = Path("/vol")
SIZES = {"tiny": 8, "small": 32, "base": 128}


def _data(n: int, seed: int) -> tuple[object, object]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))  # position, velocity
    dt, k, damp = 0.1, 1.0, 0.2
    nxt = np.stack([x[:, 0] + dt * x[:, 1], x[:, 1] - dt * (k * x[:, 0] + damp * x[:, 1])], 1)
    return x, nxt


def _newest(run_dir: Path) -> Path | None:
    found = sorted(run_dir.glob("ckpt_epoch*.npz"), key=lambda p: int(p.stem.split("epoch")[-1]))
    return found[-1] if found else None


@app.function(image=image, volumes={VOL.as_posix(): volume}, timeout=4 * 3600)
def train(
    config: str = "small",
    epochs: int = 3,
    run_name: str = "dev",
    resume: bool = False,
    lr: float = 0.05,
    epoch_seconds: float = 0.0,
) -> dict[str, float]:
    """Train; write runs/<run_name>/ckpt_epoch<N>.npz after every epoch; return the last loss."""
    import numpy as np

    if config not in SIZES:
        raise ValueError(f"unknown config {config!r}; expected one of {sorted(SIZES)}")
    run_dir = VOL / "runs" / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    hidden = SIZES[config]
    w = {"a": rng.normal(0, 0.5, (2, hidden)), "b": rng.normal(0, 0.5, (hidden, 2))}
    start = 1
    newest = _newest(run_dir) if resume else None
    if newest is not None:
        saved = np.load(newest)
        w = {"a": saved["a"], "b": saved["b"]}
        start = int(saved["epoch"]) + 1
        print(f"resumed from {newest.name} (epoch {start - 1})", flush=True)
    x, y = _data(2048, seed=1)
    loss = float("nan")
    for epoch in range(start, epochs + 1):
        for i in range(0, len(x), 128):
            xb, yb = x[i : i + 128], y[i : i + 128]
            h = np.tanh(xb @ w["a"])
            err = h @ w["b"] - yb
            loss = float((err**2).mean())
            gb = h.T @ err / len(xb)
            ga = xb.T @ ((err @ w["b"].T) * (1 - h**2)) / len(xb)
            w["a"] -= lr * ga
            w["b"] -= lr * gb
        tmp = run_dir / f".ckpt_epoch{epoch}.npz"
        np.savez(tmp, a=w["a"], b=w["b"], epoch=epoch, loss=loss)
        tmp.rename(run_dir / f"ckpt_epoch{epoch}.npz")
        volume.commit()
        print(f"epoch {epoch}/{epochs} loss {loss:.5f}", flush=True)
        time.sleep(epoch_seconds)
    return {"loss": loss, "epochs": float(epochs)}


@app.function(image=image, volumes={VOL.as_posix(): volume})
def upload_data(n: int = 2048) -> str:
    """The dataset this trainer reads, written once to the volume (`modal run ...::upload_data`)."""
    import numpy as np

    x, y = _data(n, seed=1)
    out = VOL / "data" / "oscillator.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x=x, y=y)
    volume.commit()
    return f"{out} ({n} transitions)"
