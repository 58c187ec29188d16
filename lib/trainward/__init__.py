"""trainward: run ML training on Modal GPUs or locally, tracked in W&B, without losing a run.

The public API (everything else is private and may change):

    trainward.launch(config, epochs=3)  launch detached; returns a Run (status, wait, pull, ...)
    trainward.plan(config, ...)   the launch's dry run: a LaunchPlan with the cost
    trainward.status(run)         a run's read-only status (RunStatus); status_all() for all
    trainward.runs()              the launched runs, as Run objects
    trainward.sweep(file)         start a sweep detached; returns a Sweep
    trainward.open_run()          attach your training code to the run trainward started
    trainward.LedgerWriter        the ledger writer `open_run` returns
    trainward.RunContext          what a `module:function` entrypoint receives
    trainward.load_experiment     read and validate an experiment file
    trainward.errors              the exception tree (each error has an exit code and a hint)

Names are imported on first use, so `import trainward` costs nothing (see trainward.api).
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "launch": "trainward.api",
    "plan": "trainward.api",
    "status": "trainward.api",
    "status_all": "trainward.api",
    "Run": "trainward.api",
    "Sweep": "trainward.api",
    "open_run": "trainward.runs.ledger",
    "LedgerWriter": "trainward.runs.ledger",
    "RunContext": "trainward.runs.context",
    "load_experiment": "trainward.config.experiment",
    "Experiment": "trainward.config.experiment",
}

__all__ = ["__version__", *_EXPORTS, "runs", "sweep"]


class _CallableModule(types.ModuleType):
    """`trainward.runs` and `trainward.sweep` are subpackages, and, called, the API functions
    of the same name: `trainward.runs()` lists runs, `trainward.sweep(file)` starts a sweep.
    (Typed code can import them as `from trainward.api import runs, sweep`.)"""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        api = importlib.import_module("trainward.api")
        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


for _name in ("runs", "sweep"):  # both __init__ modules import nothing: this costs nothing
    importlib.import_module(f"trainward.{_name}").__class__ = _CallableModule


def __getattr__(name: str) -> Any:
    if name in ("errors", "api"):  # submodules, reachable as attributes without an import
        return importlib.import_module(f"trainward.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trainward' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
