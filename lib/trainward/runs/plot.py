"""`status RUN --plot FILE.png`: loss and validation curves from sampled history (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainward.backends.base import ReadOnlyBackend
from trainward.core.extras import install_hint
from trainward.errors import UsageError
from trainward.runs.ledger import LedgerReader
from trainward.runs.status import RunStatus

MAX_POINTS = 2000


def sample(rows: list[dict[str, Any]], n: int = MAX_POINTS) -> list[dict[str, Any]]:
    """At most `n` rows, evenly spaced, always keeping the last."""
    if len(rows) <= n:
        return rows
    step = len(rows) / n
    picked = [rows[int(i * step)] for i in range(n)]
    return [*picked[:-1], rows[-1]]


def plot_run(status: RunStatus, reader: ReadOnlyBackend, path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib", hint=install_hint("plot")) from None
    batch: list[dict[str, Any]] = []
    if status.volume:
        batch = sample(
            [
                r
                for r in LedgerReader(reader, status.volume, status.run).metrics()
                if "batch/loss" in r
            ]
        )
    val = status.validation
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if batch:
        ax1.plot(
            [r["step"] for r in batch], [r["batch/loss"] for r in batch], lw=0.8, label="batch/loss"
        )
    if val:
        ax1.plot(
            [r.get("step", 0) for r in val],
            [r.get("val_loss/total") for r in val],
            "o-",
            label="val_loss/total",
        )
        for key in ("val_metric/action_change_acc", "val_metric/position_mae"):
            ax2.plot([r.get("epoch") for r in val], [r.get(key) for r in val], "o-", label=key)
    ax1.set(xlabel="step", ylabel="loss", title=f"{status.run}: loss")
    ax2.set(xlabel="epoch", title="validation")
    for ax in (ax1, ax2):
        if ax.lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
