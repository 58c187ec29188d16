"""The verdict: one pure function from what could be read to what status says, for every backend.

The rules, in order (docs/status.md has the full table, tested row by row):

1. The ledger's terminal states win: finished, stopped, timed-out. A detached app always
   ends `stopped`, so a stopped compute never hides a finished run.
2. A failed ledger with live compute is a retry in progress (`running`); otherwise `failed`.
3. Compute stopped: `stopped`. Compute failed: `failed`.
4. A preempted ledger waits for its retry: `preempted`.
5. Compute gone (lost, ended) while the ledger says running or nothing: `zombie`.
6. Compute pending: `pending`.
7. Nothing could be read (neither compute nor ledger): `unknown`; the CLI exits 5.
8. Compute alive: `running` while the program logs metrics or prints; `stale` when a program
   that logs metrics has gone quiet (no metrics, no output) for `stale_after`; `silent` when
   a program that logs no metrics has printed nothing for that long (or nothing at all since
   the attempt started): alive, perhaps hung, never called dead.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainward.core.states import Verdict


@dataclass(frozen=True)
class Evidence:
    """What status could read about one run."""

    compute: str  # a compute state, or "unknown" (no handle, or not readable)
    ledger: str | None  # the ledger's state, or None (no ledger, or not readable)
    compute_readable: bool = True
    ledger_readable: bool = True
    compute_reason: str | None = None
    since_log: float | None = None  # seconds since the run last logged metrics
    since_output: float | None = None  # seconds since the program last printed a line
    since_start: float | None = None  # seconds since this attempt started
    stale_after: float = 600.0
    stop_requested: bool = False  # `trainward stop` left its marker


def verdict(e: Evidence) -> tuple[Verdict, str | None]:
    """(verdict, reason) for one run; see the module docstring."""
    c, led = e.compute, e.ledger
    if led in ("finished", "stopped", "timed-out"):
        return led, None  # type: ignore[return-value]
    if led == "failed":
        if c in ("running", "pending"):
            return "running", "the last attempt failed; the backend is retrying it"
        return "failed", None
    if c == "stopped" or (e.stop_requested and c in ("finished", "lost", "failed")):
        return "stopped", e.compute_reason or "stopped by `trainward stop`"
    if c == "failed":
        return "failed", e.compute_reason
    if led == "preempted":
        return (
            "preempted",
            "the last attempt was preempted; the retry resumes from the latest checkpoint",
        )
    if c in ("lost", "finished"):
        gone = e.compute_reason or f"the compute is {c}"
        return "zombie", f"the ledger says {led or 'nothing'} but {gone}"
    if c == "pending":
        return "pending", None
    if not e.compute_readable and not e.ledger_readable:
        return "unknown", "neither the compute state nor the run's ledger could be read"
    return _live(e)


def _live(e: Evidence) -> tuple[Verdict, str | None]:
    """The compute is running (or could not be read while the ledger says running)."""
    heard = [t for t in (e.since_log, e.since_output) if t is not None]
    threshold = f"(threshold {minutes(e.stale_after)})"
    if not heard:
        if e.since_start is not None and e.since_start > e.stale_after:
            quiet = minutes(e.since_start)
            return "silent", f"alive, but nothing logged or printed in {quiet} {threshold}"
        return "running", "starting"
    quiet_for = min(heard)
    if quiet_for > e.stale_after:
        if e.since_log is not None:
            return "stale", f"nothing logged or printed for {minutes(quiet_for)} {threshold}"
        return "silent", f"alive, but no output for {minutes(quiet_for)} {threshold}"
    if e.since_log is not None and e.since_log > e.stale_after:
        out = minutes(e.since_output or 0.0)
        return "running", f"no metrics for {minutes(e.since_log)}, but it printed {out} ago"
    return "running", None


def minutes(seconds: float) -> str:
    """A duration for a reason text: `12.5 min`, `3.2 h`, `4.1 days`."""
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
