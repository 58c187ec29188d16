"""`trainward status SWEEP --plot FILE.png`: the member x member win-rate matrix and the
leaderboard (matplotlib, imported only here)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from trainward.core.contracts import JsonObject
from trainward.errors import UsageError
from trainward.sweep.results import cell_rate


def plot_results(results: JsonObject, sweep: str, path: Path) -> str:
    """`status SWEEP --plot FILE.png`: the win-rate matrix and the leaderboard's points."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib", hint="pip install -c constraints.txt -e '.[plot]'"
        ) from None
    runs = [r["run"] for r in results["leaderboard"]]
    grid = [
        [math.nan if a == b else (cell_rate(results["matrix"][a].get(b)) or math.nan) for b in runs]
        for a in runs
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    image = ax1.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn")
    ax1.set(xticks=range(len(runs)), yticks=range(len(runs)), title=f"{sweep}: row vs column")
    ax1.set_xticklabels(runs, rotation=30, ha="right")
    ax1.set_yticklabels(runs)
    for i, j in itertools.product(range(len(runs)), repeat=2):
        if i != j and not math.isnan(grid[i][j]):
            ax1.text(j, i, f"{100 * grid[i][j]:.0f}%", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax1, label="win rate")
    ax2.barh(
        runs[::-1], [r.get("points") or r.get("mean") or 0 for r in results["leaderboard"]][::-1]
    )
    ax2.set(title="leaderboard (points)", xlabel="points")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


__all__ = ["plot_results"]
