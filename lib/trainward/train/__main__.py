"""Standalone training, no Modal and no launcher:

    python -m trainward.train --config experiments/smoke-cpu.yaml [--epochs N] [--max-games N]
        [--run-name R] [--resume RUN[/latest.pt|/best.pt] | --resume PATH] [--volume-root DIR]
        [--set train.lr=1e-3 ...] [--time-limit SECONDS]

It runs the worker's own path (`build_context` + `execute`) on a local volume root, default
the local backend's directory for the experiment's volume ($TRAINWARD_HOME/volumes/<volume>).
Re-running with the same --run-name resumes from that run's newest valid checkpoint.
Progress goes to stderr; one JSON line with the outcome goes to stdout. Exit codes: 0
finished (or handed over at --time-limit), 1 failed, 2 config error or mismatch, 143 stopped.
Under torchrun (WORLD_SIZE > 1) every process runs this; rank 0 owns the ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainward.core.contracts import WorkerSpec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trainward.train", description="Run the built-in trainer locally."
    )
    parser.add_argument("--config", required=True, help="experiment YAML")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--max-games", type=int, help="override train.max_games")
    parser.add_argument(
        "--run-name", help="run name (default: <experiment>-<timestamp>); reuse it to resume"
    )
    parser.add_argument("--resume", help="RUN, RUN/latest.pt, RUN/best.pt, or a checkpoint path")
    parser.add_argument("--volume-root", type=Path, help="directory standing in for the volume")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. train.lr=1e-3")  # fmt: skip
    parser.add_argument(
        "--time-limit", type=float, help="hand over (exit 0, status continue) after SECONDS"
    )
    return parser.parse_args(argv)


def resume_ref(ref: str | None, volume_root: Path) -> str | None:
    """A checkpoint reference as the worker spec wants it: a path relative to the volume root."""
    if not ref:
        return None
    path = Path(ref).expanduser()
    if path.is_file():
        path = path.resolve()
        return (
            path.relative_to(volume_root).as_posix()
            if path.is_relative_to(volume_root)
            else str(path)
        )
    from trainward.core.paths import parse_checkpoint_ref

    return parse_checkpoint_ref(ref)[1]


def make_spec(exp: Any, args: argparse.Namespace, run: str, resume: str | None) -> WorkerSpec:
    from trainward.core.contracts import RunInfo, WorkerSpec

    run_info = RunInfo(name=run, experiment=exp.name, config_path=args.config, config=exp.to_dict(),
                       config_hash=exp.config_hash, identity=exp.identity(), backend="local",
                       gpu=exp.resources.gpu, launched_at=time.time(), targets=dict(exp.targets),
                       metrics=exp.to_dict()["metrics"], launcher="python -m trainward.train")  # fmt: skip
    return WorkerSpec(run=run, volume=exp.volume, experiment=exp.to_dict(), root=exp.root,
                      resume=resume, run_info=run_info)  # fmt: skip


def run_follower(spec: WorkerSpec, volume_root: Path, deadline: float | None) -> int:
    """Rank > 0 under torchrun: train without a ledger; rank 0 reports the outcome."""
    from trainward.errors import TrainwardError
    from trainward.runs.worker import install_signal_handlers
    from trainward.train import run_training
    from trainward.train.parallel import follower_context

    resume = volume_root / spec.resume if spec.resume else None
    ctx = follower_context(spec, volume_root, resume_from=resume, deadline=deadline)
    install_signal_handlers(ctx)  # rank 0 decides when to stop; this one must not die first
    try:
        result = run_training(ctx)
    except TrainwardError as err:
        print(f"[trainward] rank {os.environ.get('RANK')} failed: {err.message}", file=sys.stderr)
        return err.exit_code
    except Exception:
        traceback.print_exc()
        return 1
    return 143 if result.get("status") == "preempted" else 0


def run_main(spec: WorkerSpec, volume_root: Path, deadline: float | None) -> int:
    """Rank 0 (or the only process): the worker's path, with the ledger; prints the outcome."""
    from trainward.runs.worker import build_context, execute, install_signal_handlers

    ctx = build_context(spec, volume_root, attempt=1, deadline=deadline)
    ctx.attempt = int(ctx.ledger.status.get("attempt", 1))
    install_signal_handlers(ctx)
    code, result = execute(ctx)
    outcome = {"run": ctx.run, "run_dir": str(ctx.run_dir), "exit_code": code, "result": result}
    print(json.dumps(outcome, default=str))
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from trainward.backends.local import LocalBackend
    from trainward.config.experiment import load_experiment
    from trainward.config.overrides import Overrides
    from trainward.errors import TrainwardError

    overrides = Overrides(epochs=args.epochs, max_games=args.max_games, sets=tuple(args.sets))
    try:
        exp = load_experiment(args.config, overrides)
    except TrainwardError as err:
        print(
            f"error: {err.message}" + (f"\nhint: {err.hint}" if err.hint else ""), file=sys.stderr
        )
        return err.exit_code
    volume_root = (
        (args.volume_root or LocalBackend().volume_root(exp.volume)).expanduser().resolve()
    )
    run = args.run_name or f"{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = make_spec(exp, args, run, resume_ref(args.resume, volume_root))
    deadline = time.time() + args.time_limit if args.time_limit else None
    if int(os.environ.get("RANK", "0")) > 0:
        return run_follower(spec, volume_root, deadline)
    return run_main(spec, volume_root, deadline)


if __name__ == "__main__":
    sys.exit(main())
