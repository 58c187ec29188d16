"""RunContext: what an entrypoint receives, on every backend.

A `module:function` entrypoint is called with it; the built-in trainer gets it through its
plug-in; a command entrypoint sees it as environment variables (`RunContext.env`), so that
`trainward.open_run()` in that program attaches to the same ledger.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trainward.config.experiment import Experiment
from trainward.core.contracts import WorkerSpec
from trainward.runs.ledger import ENV_ATTEMPT, ENV_RUN, ENV_RUN_DIR, LedgerWriter

ENV_VOLUME_ROOT = "TRAINWARD_VOLUME_ROOT"
ENV_DATA_DIR = "TRAINWARD_DATA_DIR"
ENV_RESUME = "TRAINWARD_RESUME"
ENV_EXPERIMENT = "TRAINWARD_EXPERIMENT"
STOP_MARKER = "stop-requested.json"  # runs/<run>/stop-requested.json, written by `trainward stop`


@dataclass
class RunContext:
    """What an entrypoint receives. Paths are real local paths (the volume is mounted)."""

    run: str
    experiment: Experiment
    volume_root: Path
    run_dir: Path
    data_dir: Path
    ledger: LedgerWriter
    spec: WorkerSpec
    attempt: int = 1
    resume_from: Path | None = None
    commit: Callable[[], None] = lambda: None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # wall time at which this attempt should hand over
    stop_reason: str | None = None  # why stop_requested was set ("signal", "max_runtime")

    @property
    def args(self) -> tuple[str, ...]:
        """The arguments given after `--` at launch (a function entrypoint reads them here)."""
        return self.spec.args

    def env(self) -> dict[str, str]:
        """Environment for a child process, so user code can attach with `trainward.open_run()`."""
        out = {
            ENV_RUN: self.run,
            ENV_RUN_DIR: str(self.run_dir),
            ENV_ATTEMPT: str(self.attempt),
            ENV_VOLUME_ROOT: str(self.volume_root),
            ENV_DATA_DIR: str(self.data_dir),
            ENV_EXPERIMENT: json.dumps(self.experiment.to_dict()),
        }
        if self.resume_from:
            out[ENV_RESUME] = str(self.resume_from)
        return out

    def request_stop(self, reason: str) -> None:
        """Ask the entrypoint to checkpoint and return (a signal, or the run's max_runtime)."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
        self.stop_requested.set()

    def stop_was_asked(self) -> bool:
        """True when `trainward stop` asked for this stop (it writes a marker before it
        signals), as opposed to the platform's own SIGTERM (a preemption)."""
        return (self.run_dir / STOP_MARKER).exists()
