"""Running your own program as a run, and telling the truth about it without a line of its code.

The worker starts a `command` entrypoint as a child process and watches it:

- its output: every line is passed through (to the run's log) and the time of the last one
  goes into the ledger (`last_output_at`), so status can tell a live program that prints
  from one that has gone silent, and the last lines become the failure reason;
- its checkpoints: the files or folders the config's `checkpoints.paths` name, indexed in
  the ledger once they stop changing (`checkpoints.py`), so `pull` and `--resume` find them;
- its identity: placeholders (`{run_dir}`, `{data_dir}`, `{resume}`, `{run}`, `{attempt}`,
  `{volume_root}`) expand in the command and the launch's `--` arguments, and W&B variables
  (`WANDB_RUN_ID`, `WANDB_PROJECT`, ...) point the program's own `wandb.init()` at the run
  that status already knows how to join.

How it ended is the one exit table (`core.states.exit_meaning`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from trainward.config.experiment import Wandb
from trainward.core.contracts import RunInfo
from trainward.errors import CommandFailed
from trainward.runs.checkpoints import CheckpointWatcher
from trainward.runs.context import RunContext

TAIL_LINES = 20  # the last lines kept for a failure's reason
WATCH_S = 2.0  # how often output time and checkpoints reach the ledger
STOP_GRACE_S = float(os.environ.get("TRAINWARD_STOP_GRACE_S", "120"))


def placeholders(ctx: RunContext, resume: str | None) -> dict[str, str]:
    return {
        "run": ctx.run,
        "run_dir": str(ctx.run_dir),
        "data_dir": str(ctx.data_dir),
        "volume_root": str(ctx.volume_root),
        "attempt": str(ctx.attempt),
        "resume": resume or "",
    }


def expand(argv: list[str], values: dict[str, str]) -> list[str]:
    """Fill `{name}` placeholders. Without a checkpoint to resume from, an argument holding
    `{resume}` is left out, and so is the flag right before a bare `{resume}`
    (`--resume_from_checkpoint {resume}` disappears as a whole)."""
    out: list[str] = []
    for arg in argv:
        if "{resume}" in arg and not values["resume"]:
            if arg == "{resume}" and out and out[-1].startswith("-") and "=" not in out[-1]:
                out.pop()
            continue
        for key, value in values.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def wandb_env(ctx: RunContext) -> dict[str, str]:
    """What the program's own `wandb.init()` reads, so it logs to the run trainward records."""
    return wandb_env_of(ctx.spec.run_info, ctx.experiment.wandb, ctx.run)


def wandb_env_of(info: RunInfo, wb: Wandb, run: str) -> dict[str, str]:
    if wb.mode == "disabled" or info.wandb is None:
        return {}
    env = {"WANDB_RUN_ID": info.wandb.id or "", "WANDB_RESUME": "allow", "WANDB_MODE": wb.mode,
           "WANDB_NAME": run, "WANDB_PROJECT": wb.project or ""}  # fmt: skip
    if wb.entity:
        env["WANDB_ENTITY"] = wb.entity
    if wb.tags:
        env["WANDB_TAGS"] = ",".join(wb.tags)
    if info.sweep:
        env["WANDB_RUN_GROUP"] = info.sweep
    return {k: v for k, v in env.items() if v}


class Output:
    """Passes a child's lines through and remembers when the last came, and the last few."""

    def __init__(self) -> None:
        self.last_at: float | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()

    def pump(self, stream: IO[bytes], sink: IO[str]) -> threading.Thread:
        def run() -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                sink.write(line)
                sink.flush()
                with self._lock:
                    self.last_at = time.time()
                    if line.strip():
                        self.tail.append(line.rstrip())

        thread = threading.Thread(target=run, daemon=True, name="program-output")
        thread.start()
        return thread

    def last_lines(self, n: int = 5) -> str:
        with self._lock:
            return " | ".join(list(self.tail)[-n:])


def run_command(ctx: RunContext, resume: str | None) -> dict[str, Any]:
    """Run the `command` entrypoint under watch; raise CommandFailed when it fails."""
    values = placeholders(ctx, resume)
    argv = expand([*ctx.experiment.entry.command, *ctx.spec.args], values)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    env = {**os.environ, **ctx.experiment.environment.env, **wandb_env(ctx), **ctx.env()}
    if resume:
        env["TRAINWARD_RESUME"] = resume
    proc = subprocess.Popen(argv, cwd=ctx.spec.code_dir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    output = Output()
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [output.pump(proc.stdout, sys.stdout), output.pump(proc.stderr, sys.stderr)]
    watcher = CheckpointWatcher(ctx)
    _supervise(ctx, proc, lambda: _record(ctx, output, watcher))
    for pump in pumps:
        pump.join(timeout=10)
    _record(ctx, output, watcher, final=True)
    if proc.returncode != 0:
        raise CommandFailed(proc.returncode, argv, last_output=output.last_lines())
    return {"status": "finished"}


def _supervise(ctx: RunContext, proc: subprocess.Popen[bytes], tick: Callable[[], None]) -> None:
    """Wait for the child; forward a stop request as SIGTERM, then SIGKILL after the grace."""
    signalled_at: float | None = None
    while proc.poll() is None:
        ctx.stop_requested.wait(WATCH_S)
        tick()
        if ctx.stop_requested.is_set() and signalled_at is None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            signalled_at = time.time()
        elif signalled_at is not None and time.time() - signalled_at > STOP_GRACE_S:
            proc.kill()
    proc.wait()


def _record(
    ctx: RunContext, output: Output, watcher: CheckpointWatcher, final: bool = False
) -> None:
    if output.last_at is not None:
        ctx.ledger.output_seen(output.last_at)
    watcher.scan(final=final)
