"""The state vocabularies of every store, and what a run's exit code means: one table each.

Registry (the launcher's record):  launching -> launched | not-launched
Ledger (the run's own record):     pending -> running -> finished | failed | preempted |
                                   stopped | timed-out       (preempted -> running on retry)
Compute (what the backend says):   pending, running, finished, failed, stopped, lost, unknown
Verdict (what status concludes):   see trainward.runs.verdict
Sweep (sweeps.jsonl):              starting -> started | not-started
Sweep controller (state.json):     training -> validating -> done | failed
Sweep member:                      pending -> launched -> finished | failed | stopped | skipped
Validation job (one slice):        pending -> running -> done | failed  (running -> pending: a retry)

How a run's process (the worker; a command entrypoint too) ends, on every backend:

    exit code   ledger state   retried?   meaning
    0           finished       no         done
    2           failed         no         configuration error: a retry cannot help
    75          (running)      yes        the program asks for a retry (EX_TEMPFAIL)
    124         timed-out      no         resources.max_runtime was reached
    130, 143    stopped        no         stopped by `trainward stop` (SIGINT/SIGTERM, clean)
    130, 143    preempted      yes        the platform's SIGTERM (no stop was asked for)
    other       failed         yes        a crash: retried while retries remain
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RegistryState = Literal["launching", "launched", "not-launched"]
LAUNCHING: RegistryState = "launching"
LAUNCHED: RegistryState = "launched"
NOT_LAUNCHED: RegistryState = "not-launched"

LedgerState = Literal[
    "pending", "running", "finished", "failed", "preempted", "stopped", "timed-out"
]
TERMINAL_LEDGER: tuple[LedgerState, ...] = ("finished", "failed", "stopped", "timed-out")

ComputeStateName = Literal["pending", "running", "finished", "failed", "stopped", "lost", "unknown"]
ACTIVE_COMPUTE: tuple[ComputeStateName, ...] = ("pending", "running")

Verdict = Literal[
    "pending",
    "running",
    "silent",
    "stale",
    "zombie",
    "preempted",
    "finished",
    "failed",
    "stopped",
    "timed-out",
    "not-launched",
    "unknown",
]
TERMINAL_VERDICTS: tuple[Verdict, ...] = (
    "finished",
    "failed",
    "stopped",
    "timed-out",
    "not-launched",
    "zombie",
)

SweepMode = Literal["full", "train-only", "validate-only"]
SweepRecordState = Literal["starting", "started", "not-started"]
SweepPhase = Literal["starting", "training", "validating", "done", "failed"]
MemberState = Literal["pending", "launched", "finished", "failed", "stopped", "skipped"]
TERMINAL_MEMBER: tuple[MemberState, ...] = ("finished", "failed", "stopped", "skipped")
JobState = Literal["pending", "running", "done", "failed"]
ValidationMode = Literal["round-robin", "held-out", "none"]
#: What an alert can be sent for (`alerts.on` in an experiment; trainward.runs.alerts): a
#: run's end (failed and preempted only once no retry follows) and a live run gone quiet.
AlertEvent = Literal["finished", "failed", "preempted", "stopped", "timed-out", "stale"]
ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "finished",
    "failed",
    "preempted",
    "stopped",
    "timed-out",
    "stale",
)

EXIT_FINISHED = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_RETRY = 75
EXIT_TIMED_OUT = 124
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_STOPPED = 143  # 128 + SIGTERM
SIGNAL_EXITS = (EXIT_INTERRUPTED, EXIT_STOPPED)


@dataclass(frozen=True)
class Exit:
    """What one exit code means for the run."""

    state: LedgerState
    retry: bool
    reason: str | None


def exit_meaning(code: int | None, *, stop_requested: bool = False) -> Exit:
    """The one reading of a run's exit code (see the module docstring's table).

    `stop_requested`: trainward asked the run to stop (`trainward stop`), as opposed to the
    platform sending SIGTERM on its own (a preemption)."""
    if code == EXIT_FINISHED:
        return Exit("finished", False, None)
    if code == EXIT_CONFIG:
        return Exit("failed", False, "configuration error (exit 2; not retried)")
    if code == EXIT_TIMED_OUT:
        return Exit("timed-out", False, "reached resources.max_runtime")
    if code == EXIT_RETRY:
        return Exit("running", True, "the program asked for a retry (exit 75)")
    if code in SIGNAL_EXITS or (code is not None and code < 0 and -code in (2, 15)):
        if stop_requested:
            return Exit("stopped", False, "stopped by `trainward stop`")
        return Exit("preempted", True, "stopped by a signal it did not ask for (preemption)")
    if stop_requested:
        return Exit("stopped", False, f"stopped by `trainward stop` (exit {code})")
    if code is None:
        return Exit("failed", True, "no exit code recorded")
    if code < 0:
        return Exit("failed", True, f"killed by signal {-code}")
    return Exit("failed", True, f"exit code {code}")


__all__ = [
    "ALERT_EVENTS",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_FINISHED",
    "EXIT_INTERRUPTED",
    "EXIT_RETRY",
    "EXIT_STOPPED",
    "EXIT_TIMED_OUT",
    "AlertEvent",
    "Exit",
    "JobState",
    "LedgerState",
    "MemberState",
    "RegistryState",
    "SweepMode",
    "SweepPhase",
    "SweepRecordState",
    "ValidationMode",
    "Verdict",
    "exit_meaning",
]
