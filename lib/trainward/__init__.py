"""trainward: run ML training on Modal GPUs or locally, tracked in W&B, without losing a run.

The public API (everything else is private and may change):

    trainward.open_run()          attach your training code to the run trainward started
    trainward.LedgerWriter        the ledger writer `open_run` returns
    trainward.RunContext          what a `module:function` entrypoint receives
    trainward.load_experiment     read and validate an experiment file
    trainward.errors              the exception tree (each error has an exit code and a hint)

Names are imported on first use, so `import trainward` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_run": "trainward.runs.ledger",
    "LedgerWriter": "trainward.runs.ledger",
    "RunContext": "trainward.runs.context",
    "load_experiment": "trainward.config.experiment",
    "Experiment": "trainward.config.experiment",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trainward' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
