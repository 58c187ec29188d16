"""The sweep controller on the local backend: its executor, and its process.

Members are launched through `runs.launch.launch` (each an ordinary registered run with a
detached supervisor). Each validation job runs in its own process
(`python -m trainward.sweep.validate JOB RESULT VOLUME`, in its own process group), so a job
that crashes takes nothing else with it and one that runs past its timeout is killed with
everything it started. The controller itself is a detached process started by
`LocalBackend.launch_sweep`:

    python -m trainward.sweep.local PLAN.json
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from trainward.backends.base import ReadOnly
from trainward.backends.local import LocalBackend
from trainward.config.experiment import experiment_from_dict
from trainward.core import paths
from trainward.core.contracts import JsonObject
from trainward.core.sweep_contracts import MemberPlan, SweepPlan, ValidationJob
from trainward.errors import ValidationFailed
from trainward.runs.launch import LaunchRequest, launch
from trainward.runs.registry import Registry
from trainward.runs.status import StatusReader
from trainward.sweep.controller import Controller
from trainward.sweep.deploy import bring_home, deploy_sweep
from trainward.sweep.spec import overrides_of

VERDICT_TO_STATE = {
    "finished": "finished",
    "failed": "failed",
    "stopped": "stopped",
    "timed-out": "failed",
    "zombie": "failed",
    "not-launched": "failed",
}
TAIL_LINES = 15


@dataclass
class LocalJob:
    job: ValidationJob
    proc: subprocess.Popen[bytes]
    result: Path
    log: Path
    out: IO[bytes]


class LocalExecutor:
    grace_s = 0.0

    def __init__(self, plan: SweepPlan, backend: LocalBackend) -> None:
        self.plan = plan
        self.backend = backend
        self.volume_root = backend.volume_root(plan.volume)
        self.jobs_dir = paths.local_sweeps_dir() / plan.sweep / "jobs"

    def launch(self, run: str, member: MemberPlan, timeout_s: int | None) -> dict[str, Any]:
        exp = experiment_from_dict(member.experiment, file=member.config_path, root=member.root)
        req = LaunchRequest(
            exp,
            member.config_path,
            overrides_of(member.overrides),
            run_name=run,
            sweep=self.plan.sweep,
            timeout_s=timeout_s,
            args=member.args,
        )
        return dict(launch(req, self.backend, Registry()).record.ids)

    def state(self, run: str, ids: dict[str, Any]) -> str:
        verdict = StatusReader(Registry(), ReadOnly(self.backend)).read(run).verdict
        return VERDICT_TO_STATE.get(verdict, "running")

    def submit(self, job: ValidationJob) -> LocalJob:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        base = self.jobs_dir / job.job_id
        spec, result, log = (base.with_suffix(s) for s in (".job.json", ".result.json", ".log"))
        spec.write_text(json.dumps(job.to_json()))
        result.unlink(missing_ok=True)
        out = open(log, "wb")  # noqa: SIM115 - closed when the job ends
        argv = [sys.executable, "-m", "trainward.sweep.validate", str(spec), str(result)]
        proc = subprocess.Popen(
            [*argv, str(self.volume_root)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return LocalJob(job, proc, result, log, out)

    def poll(self, handle: LocalJob) -> JsonObject | None:
        code = handle.proc.poll()
        if code is None:
            return None
        handle.out.close()
        if code != 0:
            raise ValidationFailed(
                f"validation job {handle.job.job_id} exited with {code}: {_tail(handle.log)}",
                hint=f"its output: {handle.log}",
            )
        doc: JsonObject = json.loads(handle.result.read_text())
        return doc

    def cancel(self, handle: LocalJob) -> None:
        try:
            os.killpg(handle.proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended meanwhile
            pass
        handle.proc.wait()
        handle.out.close()


def _tail(log: Path) -> str:
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    return " | ".join(lines[-TAIL_LINES:]) or "(no output)"


def finish_locally(backend: LocalBackend) -> Any:
    """What the local controller does at the end: the results folder, then the deploy."""

    def finish(ctl: Controller, merged: JsonObject) -> None:
        ctl.state.saved_to = bring_home(ctl.plan, merged)
        if not ctl.plan.no_deploy:
            ctl.state.deployed = deploy_sweep(ReadOnly(backend), ctl.plan, ctl.state, merged)

    return finish


def main() -> None:
    """The local controller: python -m trainward.sweep.local PLAN.json (started detached)."""
    plan = SweepPlan.from_json(json.loads(Path(sys.argv[1]).read_text()))
    backend = LocalBackend()
    ctl = Controller(plan, backend.volume_root(plan.volume), LocalExecutor(plan, backend))
    print(f"[trainward] sweep {plan.sweep} controller started (pid {os.getpid()})", flush=True)
    try:
        state = ctl.run(finish=finish_locally(backend))
    except Exception as err:
        traceback.print_exc()
        ctl.state.phase, ctl.state.error = "failed", f"{type(err).__name__}: {err}"
        ctl.save()
        sys.exit(1)
    print(f"[trainward] sweep {plan.sweep} done; winner {state.winner}", flush=True)


__all__ = ["LocalExecutor", "finish_locally", "main"]


if __name__ == "__main__":
    main()
