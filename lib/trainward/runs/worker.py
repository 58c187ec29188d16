"""The worker: what runs inside a local process or a Modal container, on every backend.

    python -m trainward.runs.worker SPEC.json

It opens the run's ledger (a new attempt), builds a `RunContext`, runs the entrypoint
(the built-in trainer, `package.module:function`, or a command), and records how it ended.
SIGTERM and SIGINT set `ctx.stop_requested`: the built-in trainer checkpoints and returns,
and the ledger says `preempted` so a retry resumes.

Exit codes: 0 finished, 2 configuration error (not retried), 1 failed, 143 stopped by signal.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainward.config.experiment import Experiment, experiment_from_dict
from trainward.core.paths import run_path
from trainward.errors import CommandFailed, TrainwardError, UsageError
from trainward.runs.ledger import ENV_ATTEMPT, ENV_RUN, ENV_RUN_DIR, LedgerWriter

ENV_VOLUME_ROOT = "TRAINWARD_VOLUME_ROOT"
ENV_DATA_DIR = "TRAINWARD_DATA_DIR"
ENV_RESUME = "TRAINWARD_RESUME"
ENV_SPEC = "TRAINWARD_SPEC"
EXIT_STOPPED = 143


@dataclass
class RunContext:
    """What an entrypoint receives. Paths are real local paths (the volume is mounted)."""

    run: str
    experiment: Experiment
    volume_root: Path
    run_dir: Path
    data_dir: Path
    ledger: LedgerWriter
    attempt: int = 1
    resume_from: Path | None = None
    commit: Callable[[], None] = lambda: None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # wall time at which this attempt should hand over
    spec: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """Environment for a child process, so user code can attach with `trainward.ledger.open_run()`."""
        out = {
            ENV_RUN: self.run,
            ENV_RUN_DIR: str(self.run_dir),
            ENV_ATTEMPT: str(self.attempt),
            ENV_VOLUME_ROOT: str(self.volume_root),
            ENV_DATA_DIR: str(self.data_dir),
            "TRAINWARD_EXPERIMENT": json.dumps(self.experiment.to_dict()),
        }
        if self.resume_from:
            out[ENV_RESUME] = str(self.resume_from)
        return out


def load_spec(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc.get("worker_spec", doc)


def build_context(
    spec: dict[str, Any],
    volume_root: Path,
    *,
    attempt: int,
    commit: Callable[[], None] | None = None,
    deadline: float | None = None,
) -> RunContext:
    exp = experiment_from_dict(spec["experiment"], file="worker spec", root=spec.get("root"))
    run_dir = volume_root / run_path(spec["run"])
    ledger = LedgerWriter.start(run_dir, spec["run_info"], commit=commit)
    resume = spec.get("resume")
    return RunContext(
        run=spec["run"],
        experiment=exp,
        volume_root=volume_root,
        run_dir=run_dir,
        data_dir=volume_root / exp.data.volume_path,
        ledger=ledger,
        attempt=attempt,
        resume_from=volume_root / resume if resume else None,
        commit=commit or (lambda: None),
        deadline=deadline,
        spec=spec,
    )


def _call_function(ctx: RunContext) -> Any:
    target = ctx.experiment.entry.target or ""
    module_name, func_name = target.split(":")
    code_dir = ctx.spec.get("code_dir")
    if code_dir and code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise UsageError(
            f"cannot load entrypoint {target!r}: {err}",
            hint="check the module is importable from code_dir and the function exists",
        ) from None
    return func(ctx)


def _run_command(ctx: RunContext) -> Any:
    argv = list(ctx.experiment.entry.command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    cwd = ctx.spec.get("code_dir") or None
    env = {**os.environ, **ctx.env()}
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    while proc.poll() is None:
        if ctx.stop_requested.wait(0.5) and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
    if proc.returncode != 0:
        raise CommandFailed(proc.returncode, argv)
    return {"status": "finished"}


def run_entrypoint(ctx: RunContext) -> Any:
    kind = ctx.experiment.entry.kind
    if kind == "builtin":
        from trainward.train import run_training  # torch is imported only here

        return run_training(ctx)
    if kind == "function":
        return _call_function(ctx)
    return _run_command(ctx)


def execute(ctx: RunContext) -> tuple[int, Any]:
    """Run the entrypoint and record the outcome in the ledger. Returns (exit code, result)."""
    try:
        result = run_entrypoint(ctx)
    except KeyboardInterrupt:
        ctx.ledger.close()
        ledger = LedgerWriter.attach(ctx.run_dir)
        ledger.preempted("interrupted")
        return EXIT_STOPPED, None
    except TrainwardError as err:
        ctx.ledger.close()
        ledger = LedgerWriter.attach(ctx.run_dir)
        ledger.fail(err.message + (f" ({err.hint})" if err.hint else ""), exit_code=err.exit_code)
        print(f"[trainward] run failed: {err.message}", file=sys.stderr, flush=True)
        if err.hint:
            print(f"[trainward] hint: {err.hint}", file=sys.stderr, flush=True)
        return (err.exit_code if err.exit_code == 2 else 1), None
    except Exception as err:
        traceback.print_exc()
        ctx.ledger.close()
        ledger = LedgerWriter.attach(ctx.run_dir)
        ledger.fail(f"{type(err).__name__}: {err}", exit_code=1)
        return 1, None
    # Entry points that wrote their own terminal state (or user code in a child process)
    # are respected: write what is pending, reload what is on disk, then complete it.
    ctx.ledger.close()
    ledger = LedgerWriter.attach(ctx.run_dir)
    status = (result or {}).get("status") if isinstance(result, dict) else None
    if ctx.stop_requested.is_set() and status != "finished":
        ledger.preempted("received a stop signal; the latest checkpoint is on the volume")
        return EXIT_STOPPED, result
    if status == "continue":
        return 0, result
    if ledger.status.get("state") not in ("finished", "failed"):
        ledger.finish()
    ledger.close()
    return (0 if ledger.status.get("state") == "finished" else 1), result


def install_signal_handlers(ctx: RunContext) -> None:
    def handler(signum: int, frame: Any) -> None:
        print(
            f"[trainward] received signal {signum}; checkpointing and stopping",
            file=sys.stderr,
            flush=True,
        )
        ctx.stop_requested.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_attempt(
    spec: dict[str, Any],
    volume_root: Path,
    *,
    commit: Callable[[], None] | None = None,
    deadline: float | None = None,
) -> tuple[int, Any, RunContext]:
    """One attempt on any backend: build the context, run the entrypoint, report on stdout."""
    started = time.time()
    attempt = int(os.environ.get("TRAINWARD_ATTEMPT", "1"))
    ctx = build_context(spec, volume_root, attempt=attempt, commit=commit, deadline=deadline)
    ctx.attempt = int(ctx.ledger.status.get("attempt") or attempt)
    install_signal_handlers(ctx)
    print(
        f"[trainward] run {ctx.run} attempt {ctx.attempt} started (pid {os.getpid()})", flush=True
    )
    code, result = execute(ctx)
    ctx.ledger = LedgerWriter.attach(ctx.run_dir)  # what is on disk now, whoever wrote it
    print(
        f"[trainward] run {ctx.run} attempt {ctx.attempt} ended with {code} after {time.time() - started:.1f} s",
        flush=True,
    )
    return code, result, ctx


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m trainward.runs.worker SPEC.json", file=sys.stderr)
        sys.exit(2)
    code, _, _ = run_attempt(load_spec(Path(args[0])), Path(os.environ[ENV_VOLUME_ROOT]))
    sys.exit(code)


if __name__ == "__main__":
    main()
