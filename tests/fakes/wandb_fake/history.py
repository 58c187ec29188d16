"""Run history for the fake: logged rows (from file_stream) or synthetic rows (seeded, any length).

Both kinds answer the same questions the GraphQL resolvers ask: how many rows, which steps
carry a set of keys (W&B's AND semantics: a row matches only if it has every key), one row
by step, and how often each key was logged. A synthetic history computes rows on demand,
so seeding 100,000 rows costs nothing until someone scans them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

VAL_KEYS = ("val_loss/total", "val_metric/action_change_acc", "val_metric/position_mae")
CATEGORIES = ("move", "wait", "turn")
BASE_KEYS = ("_step", "_runtime", "_timestamp", "loss", "lr", "epoch")


def sample(steps: Sequence[int], n: int) -> list[int]:
    """At most `n` items of `steps`, evenly spaced, always keeping the first and the last."""
    count = len(steps)
    if n <= 0 or count == 0:
        return []
    if count <= n:
        return list(steps)
    if n == 1:
        return [steps[-1]]
    return [steps[round(j * (count - 1) / (n - 1))] for j in range(n)]


class History:
    """Interface shared by both kinds."""

    def __len__(self) -> int:
        raise NotImplementedError

    def steps_with(self, keys: Sequence[str], lo: int = 0, hi: int | None = None) -> Sequence[int]:
        raise NotImplementedError

    def row(self, step: int) -> dict[str, Any]:
        raise NotImplementedError

    def key_counts(self) -> dict[str, int]:
        raise NotImplementedError

    def latest(self) -> dict[str, Any]:
        """The summary W&B would keep: the last value of every key."""
        raise NotImplementedError

    @property
    def last_step(self) -> int:
        return len(self) - 1

    def rows_between(self, lo: int, hi: int, limit: int) -> list[dict[str, Any]]:
        """Rows with lo <= _step < hi, at most `limit` (what `history(minStep, maxStep)` returns)."""
        return [self.row(s) for s in self.steps_with((), lo, hi)[: max(limit, 0)]]

    def history_keys(self) -> dict[str, Any]:
        keys = {
            k: {"typeCounts": [{"type": "number", "count": c}]}
            for k, c in self.key_counts().items()
        }
        return {"lastStep": self.last_step, "keys": keys}


class LoggedHistory(History):
    """Rows written by a real client through the file_stream endpoint."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._pos: dict[int, int] = {}  # _step -> index in rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last_step(self) -> int:
        return int(self.rows[-1].get("_step", len(self.rows) - 1)) if self.rows else -1

    def put(self, offset: int, rows: list[dict[str, Any]]) -> None:
        """Write rows at a line offset (the client resends from an offset after a failure)."""
        del self.rows[offset:]
        self.rows.extend(rows)
        self._pos = {int(r.get("_step", i)): i for i, r in enumerate(self.rows)}

    def steps_with(self, keys: Sequence[str], lo: int = 0, hi: int | None = None) -> list[int]:
        out = []
        for i, r in enumerate(self.rows):
            step = int(r.get("_step", i))
            if step < lo or (hi is not None and step >= hi):
                continue
            if all(k in r for k in keys):
                out.append(step)
        return out

    def row(self, step: int) -> dict[str, Any]:
        return dict(self.rows[self._pos[step]])

    def key_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            for k in r:
                counts[k] = counts.get(k, 0) + 1
        return counts

    def latest(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.rows:
            out.update(r)
        return out


class SyntheticHistory(History):
    """`rows` training steps; every `val_every`-th step also carries the validation keys.

    Row i: _step=i, _timestamp=t0+i*dt, _runtime=i*dt, loss, lr, epoch=i // val_every.
    Validation rows (i % val_every == val_every-1) add VAL_KEYS and val_action/cat_<c>.
    """

    def __init__(self, rows: int, *, t0: float, dt: float = 0.1, val_every: int = 1000) -> None:
        self.rows = max(int(rows), 0)
        self.t0 = float(t0)
        self.dt = float(dt)
        self.val_every = max(int(val_every), 1)
        self.val_keys = (*VAL_KEYS, *(f"val_action/cat_{c}" for c in CATEGORIES))

    def __len__(self) -> int:
        return self.rows

    def _val_steps(self) -> range:
        return range(self.val_every - 1, self.rows, self.val_every)

    def steps_with(self, keys: Sequence[str], lo: int = 0, hi: int | None = None) -> Sequence[int]:
        hi = self.rows if hi is None else min(hi, self.rows)
        lo = max(lo, 0)
        if any(k not in BASE_KEYS and k not in self.val_keys for k in keys):
            return range(0)
        if any(k in self.val_keys for k in keys):
            first = lo + (self.val_every - 1 - lo) % self.val_every
            return range(first, hi, self.val_every) if first < hi else range(0)
        return range(lo, hi) if lo < hi else range(0)

    def row(self, step: int) -> dict[str, Any]:
        i = int(step)
        row: dict[str, Any] = {
            "_step": i,
            "_runtime": round(i * self.dt, 3),
            "_timestamp": round(self.t0 + i * self.dt, 3),
            "loss": round(2.0 / (1.0 + i / 1000.0), 6),
            "lr": 0.001,
            "epoch": i // self.val_every,
        }
        if i % self.val_every == self.val_every - 1:
            epoch = i // self.val_every + 1
            row["val_loss/total"] = round(1.5 / (1.0 + epoch / 10.0), 6)
            row["val_metric/action_change_acc"] = round(1.0 - 0.5 * math.exp(-epoch / 5.0), 6)
            row["val_metric/position_mae"] = round(0.8 * math.exp(-epoch / 8.0), 6)
            for n, c in enumerate(CATEGORIES):
                row[f"val_action/cat_{c}"] = round(
                    1.0 - (0.4 + 0.1 * n) * math.exp(-epoch / 6.0), 6
                )
        return row

    def key_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(BASE_KEYS, self.rows)
        n_val = len(self._val_steps())
        if n_val:
            counts.update(dict.fromkeys(self.val_keys, n_val))
        return counts if self.rows else {}

    def latest(self) -> dict[str, Any]:
        if not self.rows:
            return {}
        out: dict[str, Any] = {}
        val = self._val_steps()
        if len(val):
            out.update(self.row(val[-1]))
        out.update(self.row(self.rows - 1))
        return out
