"""The sweep controller: launch the members, validate each as it finishes, merge, deploy.

It runs detached where the runs run (a local process, or a CPU function in the sweep's
Modal app) and is re-entrant: everything it knows is in `sweeps/<name>/state.json` on the
volume, so a restart (a retry, a preemption, `trainward sweep --mode validate-only`) picks
up where it stopped. The backend specifics are behind an `Executor`:

    launch(run) -> ids        start a member (detached), with its budget-derived timeout
    state(run, ids) -> str    running | finished | failed | stopped
    submit(job) -> handle     start a validation job
    poll(handle) -> result    None while it runs; raises if it failed

    python -m trainward.sweep.controller PLAN.json      (the local controller)
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from trainward.core.fileio import atomic_write
from trainward.core.plugins import trainer_plugin
from trainward.sweep import validate as sv

TERMINAL = ("finished", "failed", "stopped", "skipped")
POLL_S = float(os.environ.get("TRAINWARD_SWEEP_POLL_S", "2"))


class Executor(Protocol):
    def launch(self, run: str, member: dict[str, Any], timeout_s: int | None) -> dict[str, Any]: ...

    def state(self, run: str, ids: dict[str, Any]) -> str: ...

    def submit(self, job: dict[str, Any]) -> Any: ...

    def poll(self, handle: Any) -> dict[str, Any] | None: ...


def sweep_dir(volume_root: Path, name: str) -> Path:
    return volume_root / "sweeps" / name


class Controller:
    def __init__(
        self,
        plan: dict[str, Any],
        volume_root: Path,
        executor: Executor,
        *,
        commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.root = volume_root
        self.dir = sweep_dir(volume_root, plan["sweep"])
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "jobs").mkdir(exist_ok=True)
        self.executor = executor
        self.commit = commit
        self.clock = clock
        self.handles: dict[str, Any] = {}
        self.state = self._load() or self._new()

    # -- state ------------------------------------------------------------------------------
    def _new(self) -> dict[str, Any]:
        validation = self.plan["validation"]
        return {
            "sweep": self.plan["sweep"],
            "backend": self.plan["backend"],
            "mode": self.plan["mode"],
            "phase": "training",
            "started_at": self.clock(),
            "updated_at": None,
            "pid": os.getpid(),
            "members": {run: {"state": "pending", "ids": {}} for run in self.plan["members"]},
            "validation": {
                "mode": validation["mode"],
                "games": None,
                "jobs": {},
                "done": 0,
                "total": 0,
            },
            "budget": {
                "max_cost_usd": self.plan["budget"]["max_cost_usd"],
                "max_gpu_hours": self.plan["budget"]["max_gpu_hours"],
                "spent_usd": 0.0,
                "spent_gpu_hours": 0.0,
            },
            "results": None,
            "winner": None,
            "deployed": None,
            "error": None,
        }

    def _load(self) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = json.loads((self.dir / "state.json").read_text())
        except (OSError, ValueError):
            return None
        doc["pid"] = os.getpid()
        for job in doc["validation"][
            "jobs"
        ].values():  # jobs in flight died with the old controller
            if job["state"] == "running":
                job["state"] = "pending"
        return doc

    def save(self) -> None:
        self.state["updated_at"] = self.clock()
        atomic_write(
            self.dir / "state.json", json.dumps(self.state, indent=2, default=str).encode()
        )
        self.commit()

    # -- members ----------------------------------------------------------------------------
    def _ledger(self, run: str) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads((self.root / "runs" / run / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return doc

    def refresh(self) -> None:
        for run, m in self.state["members"].items():
            if m["state"] != "launched":
                continue
            state = self.executor.state(run, m["ids"])
            if state in TERMINAL:
                st = self._ledger(run)
                m.update(
                    state=state, ended_at=self.clock(), reason=st.get("reason"), best=st.get("best")
                )
                self._charge(run, st)

    def _charge(self, run: str, st: dict[str, Any]) -> None:
        member = self.plan["members"][run]
        seconds = max(
            0.0,
            float(st.get("ended_at") or self.clock()) - float(st.get("started_at") or self.clock()),
        )
        b = self.state["budget"]
        b["spent_usd"] = round(b["spent_usd"] + member["price_per_hour"] * seconds / 3600, 4)
        b["spent_gpu_hours"] = round(b["spent_gpu_hours"] + member["gpus"] * seconds / 3600, 4)

    def _timeout(self, run: str) -> int | None:
        """The run's share of what is left of the budget, as a per-attempt timeout."""
        b, member = self.state["budget"], self.plan["members"][run]
        unfinished = sum(
            1 for m in self.state["members"].values() if m["state"] in ("pending", "launched")
        )
        committed_usd = committed_gpu = 0.0
        for other, m in self.state["members"].items():
            if m["state"] == "launched" and m.get("timeout_s"):
                o = self.plan["members"][other]
                committed_usd += o["price_per_hour"] * o["attempts"] * m["timeout_s"] / 3600
                committed_gpu += o["gpus"] * o["attempts"] * m["timeout_s"] / 3600
        caps = [member["timeout_s"]]
        waiting = max(
            1,
            unfinished - sum(1 for m in self.state["members"].values() if m["state"] == "launched"),
        )
        if b["max_cost_usd"] is not None and member["price_per_hour"] > 0:
            left = b["max_cost_usd"] - b["spent_usd"] - committed_usd
            caps.append(
                int(left / waiting / (member["price_per_hour"] * member["attempts"]) * 3600)
            )
        if b["max_gpu_hours"] is not None and member["gpus"] > 0:
            left = b["max_gpu_hours"] - b["spent_gpu_hours"] - committed_gpu
            caps.append(int(left / waiting / (member["gpus"] * member["attempts"]) * 3600))
        return None if len(caps) == 1 else min(caps)

    def launch_pending(self) -> None:
        if self.plan["mode"] == "validate-only":
            for m in self.state["members"].values():
                if m["state"] == "pending":
                    m.update(state="finished", reason="validate-only: trained earlier")
            return
        running = sum(1 for m in self.state["members"].values() if m["state"] == "launched")
        for run, m in self.state["members"].items():
            if m["state"] != "pending" or running >= self.plan["parallel"]:
                continue
            timeout = self._timeout(run)
            if timeout is not None and timeout < 60:
                m.update(state="skipped", reason="the sweep budget is spent", ended_at=self.clock())
                continue
            try:
                m["ids"] = self.executor.launch(run, self.plan["members"][run], timeout)
            except Exception as err:  # one member failing to launch must not stop the sweep
                m.update(state="failed", reason=f"launch failed: {err}", ended_at=self.clock())
                continue
            m.update(state="launched", timeout_s=timeout, launched_at=self.clock())
            running += 1

    # -- validation -------------------------------------------------------------------------
    def schedule(self) -> None:
        v, jobs = self.plan["validation"], self.state["validation"]["jobs"]
        if v["mode"] == "none" or self.plan["mode"] == "train-only":
            return
        finished = [r for r, m in self.state["members"].items() if m["state"] == "finished"]
        ckpts = {r: c for r in finished if (c := self._checkpoint(r))}
        if not ckpts:
            return
        games = self._games()
        common = {"chunk": v["chunk"], "data_path": self.plan["data_path"]}
        new: list[dict[str, Any]] = []
        if v.get("match") and v["mode"] == "round-robin":
            ready = list(ckpts)
            for i, a in enumerate(ready):
                for b in ready[i + 1 :]:
                    new += sv.match_jobs(a, b, ckpts, games, match=v["match"], **common)
        else:
            for run, ckpt in ckpts.items():
                new += sv.evaluate_jobs(
                    run, ckpt, games, metric=v["metric"], evaluate=v.get("evaluate"), **common
                )
        for job in new:
            jobs.setdefault(job["job_id"], {"state": "pending", "job": job, "attempts": 0})
        self.state["validation"]["total"] = len(jobs)

    def _games(self) -> list[int]:
        """The held-out games every member is scored on: none of them trained on any of these."""
        v = self.state["validation"]
        if v["games"] is None:
            n = self.plan["validation"]["games"]
            if self.plan["validation"].get("evaluate") or self.plan["validation"].get("match"):
                v["games"] = list(range(n))  # your own functions decide what a game index means
            else:
                exps = [m["experiment"] for m in self.plan["members"].values()]
                plugin = trainer_plugin("builtin")
                v["games"] = plugin.held_out(exps, self.root / self.plan["data_path"], n)
        return list(v["games"])

    def _checkpoint(self, run: str) -> str | None:
        try:
            return str(sv.checkpoint_of(self.root, run).relative_to(self.root))
        except Exception:
            return None

    def run_jobs(self) -> None:
        jobs = self.state["validation"]["jobs"]
        for job_id, j in jobs.items():
            if j["state"] != "running":
                continue
            try:
                result = self.executor.poll(self.handles[job_id])
            except Exception as err:
                j.update(state="pending" if j["attempts"] < 2 else "failed", error=str(err))
                continue
            if result is not None:
                atomic_write(self.dir / "jobs" / f"{job_id}.json", json.dumps(result).encode())
                j["state"] = "done"
        running = sum(1 for j in jobs.values() if j["state"] == "running")
        for job_id, j in jobs.items():
            if j["state"] == "pending" and running < self.plan["validation"]["workers"]:
                self.handles[job_id] = self.executor.submit(j["job"])
                j.update(state="running", attempts=j["attempts"] + 1)
                running += 1
        self.state["validation"]["done"] = sum(1 for j in jobs.values() if j["state"] == "done")

    # -- the loop ---------------------------------------------------------------------------
    def finished(self) -> bool:
        members_done = all(m["state"] in TERMINAL for m in self.state["members"].values())
        jobs = self.state["validation"]["jobs"].values()
        return members_done and all(j["state"] in ("done", "failed") for j in jobs)

    def step(self) -> bool:
        self.refresh()
        self.launch_pending()
        self.schedule()
        self.run_jobs()
        self.state["phase"] = (
            "validating"
            if all(m["state"] in TERMINAL for m in self.state["members"].values())
            else "training"
        )
        self.save()
        return self.finished()

    def merge(self) -> dict[str, Any]:
        v = self.plan["validation"]
        results = [json.loads(p.read_text()) for p in sorted((self.dir / "jobs").glob("*.json"))]
        runs = [r for r, m in self.state["members"].items() if m["state"] == "finished"]
        merged = sv.merge(
            results,
            runs,
            mode=v["mode"],
            metric=v["metric"],
            better=v["better"],
            games=self.state["validation"]["games"] or [],
        )
        merged["members"] = {
            r: {k: m.get(k) for k in ("state", "reason", "best")}
            for r, m in self.state["members"].items()
        }
        atomic_write(self.dir / "results.json", json.dumps(merged, indent=2).encode())
        atomic_write(self.dir / "summary.md", sv.render(merged, self.plan["sweep"]).encode())
        return merged

    def run(
        self, deploy: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    ) -> dict[str, Any]:
        while not self.step():
            time.sleep(POLL_S)
        if self.plan["validation"]["mode"] != "none" and self.plan["mode"] != "train-only":
            merged = self.merge()
            self.state.update(
                results=f"sweeps/{self.plan['sweep']}/results.json", winner=merged["winner"]
            )
            if deploy and merged["winner"] and not self.plan.get("no_deploy"):
                self.state["deployed"] = deploy(merged)
        self.state["phase"] = "done"
        self.save()
        return self.state


def main() -> None:
    """The local controller: python -m trainward.sweep.controller PLAN.json (started detached)."""
    from trainward.backends.local import LocalBackend
    from trainward.sweep.local import LocalExecutor, deploy_locally

    plan = json.loads(Path(sys.argv[1]).read_text())
    backend = LocalBackend()
    ctl = Controller(plan, backend.volume_root(plan["volume"]), LocalExecutor(plan, backend))
    print(f"[trainward] sweep {plan['sweep']} controller started (pid {os.getpid()})", flush=True)
    try:
        state = ctl.run(deploy=lambda merged: deploy_locally(plan, merged))
    except Exception as err:
        traceback.print_exc()
        ctl.state.update(phase="failed", error=f"{type(err).__name__}: {err}")
        ctl.save()
        sys.exit(1)
    print(f"[trainward] sweep {plan['sweep']} done; winner {state['winner']}", flush=True)


__all__ = ["Controller", "Executor"]


if __name__ == "__main__":
    main()
