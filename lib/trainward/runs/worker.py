"""The worker: what runs inside a local process or a Modal container, on every backend.

    python -m trainward.runs.worker SPEC.json

It opens the run's ledger (a new attempt), builds a `RunContext`, runs the entrypoint (a
trainer plug-in such as the built-in one, `package.module:function`, or a command), and
records how it ended. SIGTERM and SIGINT ask the entrypoint to checkpoint and return; the
ledger then says `stopped` (when `trainward stop` asked) or `preempted` (the platform did,
and a retry resumes). `resources.max_runtime` ends the run as `timed-out` the same way.
The exit code's meaning is `trainward.core.states.exit_meaning`, the one table for every
backend.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainward.config.experiment import experiment_from_dict
from trainward.core.contracts import WorkerSpec
from trainward.core.loader import load_object
from trainward.core.paths import run_path
from trainward.core.states import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_RETRY,
    EXIT_STOPPED,
    EXIT_TIMED_OUT,
    TERMINAL_LEDGER,
    exit_meaning,
)
from trainward.errors import CommandFailed, TrainwardError, UsageError
from trainward.runs.alerts import notify_outcome
from trainward.runs.checkpoints import resume_point
from trainward.runs.context import ENV_VOLUME_ROOT, RunContext
from trainward.runs.ledger import LedgerWriter
from trainward.runs.program import run_command, wandb_env

#: After asking an entrypoint to stop at max_runtime, how long it may take to checkpoint.
MAX_RUNTIME_GRACE_S = float(os.environ.get("TRAINWARD_STOP_GRACE_S", "120"))


def load_spec(path: Path) -> WorkerSpec:
    doc = json.loads(path.read_text())
    return WorkerSpec.from_json(doc.get("worker_spec", doc))


def build_context(
    spec: WorkerSpec,
    volume_root: Path,
    *,
    attempt: int,
    commit: Callable[[], None] | None = None,
    deadline: float | None = None,
) -> RunContext:
    exp = experiment_from_dict(spec.experiment, file="worker spec", root=spec.root)
    run_dir = volume_root / run_path(spec.run)
    ledger = LedgerWriter.start(run_dir, spec.run_info, commit=commit)
    return RunContext(
        run=spec.run,
        experiment=exp,
        volume_root=volume_root,
        run_dir=run_dir,
        data_dir=volume_root / exp.data.volume_path,
        ledger=ledger,
        spec=spec,
        attempt=attempt,
        resume_from=volume_root / spec.resume if spec.resume else None,
        commit=commit or (lambda: None),
        deadline=deadline,
    )


def _program_exit(code: int) -> int:
    """The worker's exit code for a program that failed with `code`: a configuration error
    (2) and a retry request (75) keep their meaning; anything else is a retried failure."""
    return code if code in (EXIT_CONFIG, EXIT_RETRY) else EXIT_FAILED


def run_entrypoint(ctx: RunContext) -> Any:
    entry = ctx.experiment.entry
    plugin = ctx.experiment.plugin
    if entry.kind != "command":  # a child process gets these in its own environment
        os.environ.update({**ctx.experiment.environment.env, **wandb_env(ctx)})
    if plugin is not None:
        return plugin.run(ctx)
    if entry.kind == "function":
        return load_object(entry.target or "", code_dir=ctx.spec.code_dir)(ctx)
    if entry.kind == "command":
        return run_command(ctx, resume_point(ctx))
    raise UsageError(
        f"a {entry.kind} entrypoint does not run through the worker",
        hint="modal_function entrypoints run in your own Modal app: launch with --backend modal",
    )


def _reattach(ctx: RunContext) -> LedgerWriter:
    """Write what is pending, then reload what is on disk: user code in a child process (or a
    plug-in) may have written its own terminal state."""
    ctx.ledger.close()
    return LedgerWriter.attach(ctx.run_dir)


def _stopped(ctx: RunContext, ledger: LedgerWriter) -> int:
    """Record how a requested stop ended, and the exit code that says so."""
    if ctx.stop_reason == "max_runtime":
        ledger.timed_out("reached resources.max_runtime; the latest checkpoint is on the volume")
        return EXIT_TIMED_OUT
    if ctx.stop_was_asked():
        ledger.stopped("stopped by `trainward stop`; the latest checkpoint is on the volume")
    else:
        ledger.preempted("received a stop signal; the latest checkpoint is on the volume")
    return EXIT_STOPPED


def execute(ctx: RunContext) -> tuple[int, Any]:
    """Run the entrypoint and record the outcome in the ledger. Returns (exit code, result)."""
    try:
        result = run_entrypoint(ctx)
    except KeyboardInterrupt:
        ctx.request_stop("signal")
        return _stopped(ctx, _reattach(ctx)), None
    except CommandFailed as err:
        ledger = _reattach(ctx)
        meaning = exit_meaning(err.code, stop_requested=ctx.stop_was_asked())
        if ctx.stop_requested.is_set() and meaning.state in ("stopped", "preempted"):
            return _stopped(ctx, ledger), None
        ledger.fail(err.message, exit_code=err.code)
        return _program_exit(err.code), None
    except TrainwardError as err:
        ledger = _reattach(ctx)
        ledger.fail(err.message + (f" ({err.hint})" if err.hint else ""), exit_code=err.exit_code)
        print(f"[trainward] run failed: {err.message}", file=sys.stderr, flush=True)
        if err.hint:
            print(f"[trainward] hint: {err.hint}", file=sys.stderr, flush=True)
        return (EXIT_CONFIG if err.exit_code == EXIT_CONFIG else EXIT_FAILED), None
    except Exception as err:
        traceback.print_exc()
        _reattach(ctx).fail(f"{type(err).__name__}: {err}", exit_code=EXIT_FAILED)
        return EXIT_FAILED, None
    ledger = _reattach(ctx)
    status = result.get("status") if isinstance(result, dict) else None
    if ctx.stop_requested.is_set() and status != "finished":
        return _stopped(ctx, ledger), result
    if status == "continue":
        return EXIT_FINISHED, result
    if ledger.status.get("state") not in TERMINAL_LEDGER:
        ledger.finish()
    ledger.close()
    return (EXIT_FINISHED if ledger.status.get("state") == "finished" else EXIT_FAILED), result


def install_signal_handlers(ctx: RunContext) -> None:
    def handler(signum: int, frame: Any) -> None:
        print(
            f"[trainward] received signal {signum}; checkpointing and stopping",
            file=sys.stderr,
            flush=True,
        )
        ctx.request_stop("signal")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def enforce_max_runtime(ctx: RunContext, clock: Callable[[], float] = time.time) -> None:
    """At `resources.max_runtime` after the run's first start, ask the entrypoint to stop; if
    it has not returned `MAX_RUNTIME_GRACE_S` later, record `timed-out` and end the process."""
    limit = ctx.spec.max_runtime_s
    started = ctx.ledger.status.get("started_at")
    if not limit or not started:
        return
    left = float(started) + limit - clock()

    def force() -> None:
        print("[trainward] max_runtime grace is over; ending the attempt", flush=True)
        ctx.ledger = _reattach(ctx)
        ctx.ledger.timed_out("reached resources.max_runtime (did not stop within the grace)")
        notify_outcome(ctx, EXIT_TIMED_OUT)
        os._exit(EXIT_TIMED_OUT)

    def ask() -> None:
        print(f"[trainward] reached resources.max_runtime ({limit} s); stopping", flush=True)
        ctx.request_stop("max_runtime")
        grace = threading.Timer(MAX_RUNTIME_GRACE_S, force)
        grace.daemon = True
        grace.start()

    timer = threading.Timer(max(left, 0.0), ask)
    timer.daemon = True
    timer.start()


def run_attempt(
    spec: WorkerSpec,
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
    enforce_max_runtime(ctx)
    print(
        f"[trainward] run {ctx.run} attempt {ctx.attempt} started (pid {os.getpid()})", flush=True
    )
    code, result = execute(ctx)
    ctx.ledger = LedgerWriter.attach(ctx.run_dir)  # what is on disk now, whoever wrote it
    notify_outcome(ctx, code)  # the run's end, to its alerts webhook (runs/alerts.py)
    print(
        f"[trainward] run {ctx.run} attempt {ctx.attempt} ended with {code} after {time.time() - started:.1f} s",
        flush=True,
    )
    return code, result, ctx


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m trainward.runs.worker SPEC.json", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    code, _, _ = run_attempt(load_spec(Path(args[0])), Path(os.environ[ENV_VOLUME_ROOT]))
    sys.exit(code)


__all__ = [
    "RunContext",
    "WorkerSpec",
    "build_context",
    "execute",
    "install_signal_handlers",
    "load_spec",
    "run_attempt",
]


if __name__ == "__main__":
    main()
