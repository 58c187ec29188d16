"""W&B, the only tracker: a bounded reader for status and a logger for training code.
The only package that imports `wandb` (always inside functions).

wandb.py          WandbReader: a status check in at most two requests
wandb_logger.py   WandbLogger: what the built-in trainer (or your code) logs through
wandb_support.py  keys, deadlines and error classification shared by both
"""

from __future__ import annotations

from typing import Any


class LazyWandbReader:
    """A W&B reader built on first use, so runs without W&B never import wandb."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._reader: Any = None

    def find(self, path: str, run: str | None = None) -> Any:
        if self._reader is None:
            from trainward.tracking.wandb import WandbReader

            self._reader = WandbReader(**self._kwargs)
        return self._reader.find(path, run)


__all__ = ["LazyWandbReader"]
