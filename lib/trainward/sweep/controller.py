"""The sweep controller: launch the members, validate them as they finish, merge, finish.

It runs detached where the runs run (a local process, or a CPU function in the sweep's
Modal app) and is re-entrant: everything it knows is in `sweeps/<name>/state.json` on the
volume (a `SweepState`), so a restart (a retry, a preemption) picks up where it stopped. A
new start of the sweep (a new `plan_id`: `--mode validate-only` after `train-only`) keeps
the trained members and validates afresh. The backend specifics are behind an `Executor`:

    launch(run, member, timeout_s) -> ids   start a member (detached)
    state(run, ids) -> str                  running | finished | failed | stopped
    submit(job) -> handle                   start a validation job
    poll(handle) -> result | None           None while it runs; raises if it failed
    cancel(handle)                          stop a job that ran past its timeout
    grace_s                                 seconds a job may take to start (a container)

Nothing here swallows an error: a member that fails to launch, a slice that fails, a ledger
or a state file that cannot be read is recorded in the state, where `trainward status` shows it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from trainward.core.contracts import JsonObject
from trainward.core.fileio import atomic_write, sha256_file
from trainward.core.paths import STATUS_FILE, run_file, sweep_path
from trainward.core.plugins import trainer_plugin
from trainward.core.states import TERMINAL_MEMBER
from trainward.core.sweep_contracts import (
    BudgetStatus,
    JobStatus,
    MemberPlan,
    MemberStatus,
    SweepPlan,
    SweepState,
    ValidationJob,
    ValidationStatus,
)
from trainward.errors import ContractError, NotFound, ValidationFailed
from trainward.sweep import results as sr
from trainward.sweep import validate as sv

POLL_S = float(os.environ.get("TRAINWARD_SWEEP_POLL_S", "2"))
MIN_RUN_TIMEOUT_S = 60


class Executor(Protocol):
    grace_s: float

    def launch(self, run: str, member: MemberPlan, timeout_s: int | None) -> dict[str, Any]: ...

    def state(self, run: str, ids: dict[str, Any]) -> str: ...

    def submit(self, job: ValidationJob) -> Any: ...

    def poll(self, handle: Any) -> JsonObject | None: ...

    def cancel(self, handle: Any) -> None: ...


Finish = Callable[["Controller", JsonObject], None]


class Controller:
    def __init__(
        self,
        plan: SweepPlan,
        volume_root: Path,
        executor: Executor,
        *,
        commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.root = volume_root
        self.dir = volume_root / sweep_path(plan.sweep)
        (self.dir / "jobs").mkdir(parents=True, exist_ok=True)
        self.executor = executor
        self.commit = commit
        self.clock = clock
        self.handles: dict[str, Any] = {}
        self.notes: list[str] = []
        self.state = self._load() or self._new()
        self.state.errors += self.notes
        atomic_write(self.dir / "plan.json", json.dumps(plan.to_json(), indent=2).encode())

    # -- state ------------------------------------------------------------------------------
    def _new(self) -> SweepState:
        plan = self.plan
        return SweepState(
            sweep=plan.sweep,
            backend=plan.backend,
            mode=plan.mode,
            plan_id=plan.plan_id,
            started_at=self.clock(),
            pid=os.getpid(),
            members={run: MemberStatus() for run in plan.members},
            validation=ValidationStatus(mode=plan.validation.mode),
            budget=BudgetStatus(plan.budget.max_cost_usd, plan.budget.max_gpu_hours),
        )

    def _load(self) -> SweepState | None:
        path = self.dir / "state.json"
        if not path.exists():
            return None
        try:
            state = SweepState.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, ContractError) as err:
            kept = path.with_name(f"state.unreadable-{int(self.clock())}.json")
            os.replace(path, kept)
            self.notes.append(f"state.json was unreadable ({err}); kept as {kept.name}")
            return None
        if state.plan_id != self.plan.plan_id:
            return self._restart(state)
        state.pid = os.getpid()
        for job in state.validation.jobs.values():
            if job.state == "running":  # it died with the old controller: run it again
                job.state = "pending"
        return state

    def _restart(self, old: SweepState) -> SweepState:
        """A new start of the sweep: trained members are kept, everything else is new."""
        new = self._new()
        for run, m in old.members.items():
            if run in new.members and m.state == "finished":
                new.members[run] = m
        return new

    def save(self) -> None:
        self.state.updated_at = self.clock()
        atomic_write(self.dir / "state.json", json.dumps(self.state.to_json(), indent=2).encode())
        self.commit()

    def record(self, message: str) -> None:
        """Keep what went wrong (once) where `trainward status SWEEP` shows it."""
        if message not in self.state.errors:
            self.state.errors.append(message)

    # -- members ----------------------------------------------------------------------------
    def _ledger(self, run: str) -> JsonObject:
        path = self.root / run_file(run, STATUS_FILE)
        try:
            doc: JsonObject = json.loads(path.read_text())
        except FileNotFoundError:
            return {}  # it ended before its first ledger write
        except (OSError, ValueError) as err:
            self.record(f"{run}: its status.json is unreadable ({type(err).__name__}: {err})")
            return {}
        return doc

    def refresh(self) -> None:
        for run, m in self.state.members.items():
            if m.state != "launched":
                continue
            state = self.executor.state(run, m.ids)
            if state in TERMINAL_MEMBER:
                st = self._ledger(run)
                m.state, m.ended_at = state, self.clock()
                m.reason, m.best = st.get("reason"), st.get("best")
                self._charge(run, st)
                if state == "finished":
                    self._record_artifacts(run)

    def _charge(self, run: str, st: JsonObject) -> None:
        member, m = self.plan.members[run], self.state.members[run]
        now = self.clock()
        seconds = max(0.0, float(st.get("ended_at") or now) - float(st.get("started_at") or now))
        m.seconds, m.cost_usd = round(seconds, 1), round(member.price_per_hour * seconds / 3600, 4)
        b = self.state.budget
        b.spent_usd = round(b.spent_usd + m.cost_usd, 4)
        b.spent_gpu_hours = round(b.spent_gpu_hours + member.gpus * seconds / 3600, 4)

    def _record_artifacts(self, run: str) -> None:
        """sha256 and size of each file the member deploys, taken where the run wrote them."""
        m = self.state.members[run]
        for artifact in self.plan.members[run].deploy:
            path = self.root / run_file(run, artifact)
            if not path.is_file():
                self.record(f"{run}: it did not write {artifact} (looked at {path})")
                continue
            m.artifacts[artifact] = {"sha256": sha256_file(path), "size": path.stat().st_size}

    def _timeout(self, run: str) -> int | None:
        """The run's share of what is left of the budget, as a per-attempt timeout."""
        b, member = self.state.budget, self.plan.members[run]
        members = self.state.members
        launched = [r for r, m in members.items() if m.state == "launched"]
        waiting = max(1, sum(1 for m in members.values() if m.state == "pending"))
        committed_usd = committed_gpu = 0.0
        for other in launched:
            o, seconds = self.plan.members[other], members[other].timeout_s or 0
            committed_usd += o.price_per_hour * o.attempts * seconds / 3600
            committed_gpu += o.gpus * o.attempts * seconds / 3600
        caps = [member.timeout_s]
        if b.max_cost_usd is not None and member.price_per_hour > 0:
            left = b.max_cost_usd - b.spent_usd - committed_usd
            caps.append(int(left / waiting / (member.price_per_hour * member.attempts) * 3600))
        if b.max_gpu_hours is not None and member.gpus > 0:
            left = b.max_gpu_hours - b.spent_gpu_hours - committed_gpu
            caps.append(int(left / waiting / (member.gpus * member.attempts) * 3600))
        return None if len(caps) == 1 else min(caps)

    def launch_pending(self) -> None:
        if self.plan.mode == "validate-only":
            for run, m in self.state.members.items():
                if m.state == "pending":
                    m.state, m.reason = "finished", "validate-only: trained earlier"
                    self._record_artifacts(run)
            return
        running = sum(1 for m in self.state.members.values() if m.state == "launched")
        for run, m in self.state.members.items():
            if m.state != "pending" or running >= self.plan.parallel:
                continue
            timeout = self._timeout(run)
            if timeout is not None and timeout < MIN_RUN_TIMEOUT_S:
                m.state, m.reason, m.ended_at = "skipped", "the sweep budget is spent", self.clock()
                continue
            try:
                m.ids = self.executor.launch(run, self.plan.members[run], timeout)
            except Exception as err:  # one member failing to launch must not stop the sweep
                m.state, m.ended_at = "failed", self.clock()
                m.reason = f"launch failed: {type(err).__name__}: {err}"
                continue
            m.state, m.timeout_s, m.launched_at = "launched", timeout, self.clock()
            running += 1

    # -- validation -------------------------------------------------------------------------
    @property
    def validating(self) -> bool:
        return self.plan.validation.mode != "none" and self.plan.mode != "train-only"

    def schedule(self) -> None:
        if not self.validating:
            return
        ready = [r for r, m in self.state.members.items() if m.state == "finished"]
        new = self._slices(ready) if self.plan.validation.user_program else self._scored(ready)
        jobs = self.state.validation.jobs
        for job in new:
            jobs.setdefault(job.job_id, JobStatus(job=job))
        self.state.validation.total = len(jobs)

    def _slices(self, ready: list[str]) -> list[ValidationJob]:
        v, names = self.plan.validation, {r: self.plan.members[r].member or r for r in ready}
        self.state.validation.games_per_matchup = v.games
        return [
            job
            for i, a in enumerate(ready)
            for b in ready[i + 1 :]
            for job in sv.slice_jobs(
                v,
                (a, names[a]),
                (b, names[b]),
                sweep=self.plan.sweep,
                data_path=self.plan.data_path,
                code_dir=v.code_dir,
            )
        ]

    def _scored(self, ready: list[str]) -> list[ValidationJob]:
        v = self.plan.validation
        ckpts = {r: c for r in ready if (c := self._checkpoint(r))}
        if not ckpts:
            return []
        games, chunk, data = self._games(), v.chunk, self.plan.data_path
        if v.match and v.mode == "round-robin":
            runs = list(ckpts)
            return [
                job
                for i, a in enumerate(runs)
                for b in runs[i + 1 :]
                for job in sv.match_jobs(
                    a, b, ckpts, games, chunk=chunk, data_path=data, match=v.match
                )
            ]
        return [
            job
            for run, ckpt in ckpts.items()
            for job in sv.evaluate_jobs(
                run, ckpt, games, chunk=chunk, data_path=data, metric=v.metric, evaluate=v.evaluate
            )
        ]

    def _games(self) -> list[int]:
        """The held-out games every member is scored on: none of them trained on any of these."""
        v = self.state.validation
        if v.games is None:
            n = self.plan.validation.games
            if self.plan.validation.evaluate or self.plan.validation.match:
                v.games = list(range(n))  # your own functions decide what a game index means
            else:
                exps = [m.experiment for m in self.plan.members.values()]
                plugin = trainer_plugin("builtin")
                v.games = list(plugin.held_out(exps, self.root / self.plan.data_path, n))
        return list(v.games)

    def _checkpoint(self, run: str) -> str | None:
        try:
            return str(sv.checkpoint_of(self.root, run).relative_to(self.root))
        except NotFound as err:
            self.record(f"{run}: {err.message}")
            return None

    def run_jobs(self) -> None:
        v, jobs = self.plan.validation, self.state.validation.jobs
        for job_id, j in jobs.items():
            if j.state == "running":
                self._poll(job_id, j)
        running = sum(1 for j in jobs.values() if j.state == "running")
        for job_id, j in jobs.items():
            if j.state == "pending" and running < v.workers:
                self.handles[job_id] = self.executor.submit(j.job)
                j.state, j.attempts, j.started_at = "running", j.attempts + 1, self.clock()
                running += 1
        self.state.validation.done = sum(1 for j in jobs.values() if j.state == "done")
        self.state.validation.failed = sum(1 for j in jobs.values() if j.state == "failed")

    def _poll(self, job_id: str, j: JobStatus) -> None:
        handle = self.handles[job_id]
        try:
            result = self.executor.poll(handle)
        except Exception as err:
            return self._job_ended(j, error=f"{type(err).__name__}: {err}")
        timeout = self.plan.validation.timeout_s
        if (
            result is None
            and timeout
            and self.clock() - (j.started_at or 0) > timeout + self.executor.grace_s
        ):
            self.executor.cancel(handle)
            return self._job_ended(
                j, error=f"{ValidationFailed.__name__}: ran past its {timeout} s timeout"
            )
        if result is not None:
            atomic_write(self.dir / "jobs" / f"{job_id}.json", json.dumps(result).encode())
            self._job_ended(j)

    def _job_ended(self, j: JobStatus, error: str | None = None) -> None:
        j.ended_at = self.clock()
        seconds = max(0.0, j.ended_at - (j.started_at or j.ended_at))
        cost = self.plan.validation.price_per_hour * seconds / 3600
        j.seconds, j.cost_usd = round(j.seconds + seconds, 1), round(j.cost_usd + cost, 4)
        self.state.budget.spent_usd = round(self.state.budget.spent_usd + cost, 4)
        j.error = error
        if error is None:
            j.state = "done"
        else:  # retried `validation.retries` times, then failed (named in status with its error)
            j.state = "pending" if j.attempts <= self.plan.validation.retries else "failed"

    # -- the loop ---------------------------------------------------------------------------
    def finished(self) -> bool:
        members_done = all(m.state in TERMINAL_MEMBER for m in self.state.members.values())
        jobs = self.state.validation.jobs.values()
        return members_done and all(j.state in ("done", "failed") for j in jobs)

    def step(self) -> bool:
        self.refresh()
        self.launch_pending()
        self.schedule()
        self.run_jobs()
        members_done = all(m.state in TERMINAL_MEMBER for m in self.state.members.values())
        self.state.phase = "validating" if members_done else "training"
        self.save()
        return self.finished()

    def merge(self) -> JsonObject:
        """results.json and summary.md on the volume, from the jobs that succeeded."""
        merged = sr.merge_sweep(self.plan, self.state, self.dir / "jobs", validated=self.validating)
        atomic_write(self.dir / "results.json", json.dumps(merged, indent=2).encode())
        atomic_write(self.dir / "summary.md", sr.render(merged, self.plan.sweep).encode())
        return merged

    def run(self, finish: Finish | None = None) -> SweepState:
        """Until every member and job has ended; then merge and `finish` (deploy, bring home)."""
        while not self.step():
            time.sleep(POLL_S)
        merged = self.merge()
        self.state.results = f"{sweep_path(self.plan.sweep)}/results.json"
        self.state.winner = merged["winner"]
        if finish is not None:
            finish(self, merged)
        self.state.phase = "done"
        self.save()
        return self.state


__all__ = ["Controller", "Executor"]
