"""The sweep controller's executor on the local backend, and deploying the winner's weights.

Members are launched through `launch.launch` (so each is an ordinary registered run with a
detached supervisor); validation jobs run in a bounded process pool; the controller itself
is a detached local process (`python -m trainward.sweep.controller PLAN.json`).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from trainward.backends.base import ReadOnly, ReadOnlyBackend
from trainward.backends.local import LocalBackend
from trainward.config.experiment import experiment_from_dict
from trainward.core.fileio import sha256_file
from trainward.runs.launch import LaunchRequest, launch
from trainward.runs.pull import pull_checkpoint
from trainward.runs.registry import Registry
from trainward.runs.status import StatusReader
from trainward.sweep.spec import overrides_of
from trainward.sweep.validate import run_job

VERDICT_TO_STATE = {
    "finished": "finished",
    "failed": "failed",
    "stopped": "stopped",
    "zombie": "failed",
    "not-launched": "failed",
}


class LocalExecutor:
    def __init__(self, plan: dict[str, Any], backend: LocalBackend) -> None:
        self.plan = plan
        self.backend = backend
        self.volume_root = backend.volume_root(plan["volume"])
        self.pool: ProcessPoolExecutor | None = None

    def launch(self, run: str, member: dict[str, Any], timeout_s: int | None) -> dict[str, Any]:
        exp = experiment_from_dict(
            member["experiment"], file=member["config_path"], root=member["root"]
        )
        req = LaunchRequest(
            exp,
            member["config_path"],
            overrides_of(member["overrides"]),
            run_name=run,
            sweep=self.plan["sweep"],
            timeout_s=timeout_s,
        )
        return dict(launch(req, self.backend, Registry()).record.ids)

    def state(self, run: str, ids: dict[str, Any]) -> str:
        verdict = StatusReader(Registry(), ReadOnly(self.backend)).read(run).verdict
        return VERDICT_TO_STATE.get(verdict, "running")

    def submit(self, job: dict[str, Any]) -> Future[dict[str, Any]]:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.plan["validation"]["workers"])
        return self.pool.submit(run_job, job, self.volume_root)

    def poll(self, handle: Future[dict[str, Any]]) -> dict[str, Any] | None:
        return handle.result() if handle.done() else None


def deploy_winner(
    reader: ReadOnlyBackend, plan: dict[str, Any], results: dict[str, Any], to: Path | None = None
) -> dict[str, Any]:
    """Copy the winner's best (else latest) checkpoint, verified, to `<to>/<name>.pt` plus metadata."""
    winner = results["winner"]
    dest_dir = Path(to or plan["deploy"]["to"])
    name = plan["deploy"]["name"] or plan["sweep"]
    last_err: Exception | None = None
    for which in ("best", "latest"):
        try:
            pulled = pull_checkpoint(reader, plan["volume"], winner, which, dest_dir / f"{name}.pt")
            break
        except Exception as err:  # no 'best': fall back to 'latest'
            last_err = err
    else:
        raise last_err  # type: ignore[misc]
    row: dict[str, Any] = next((r for r in results["leaderboard"] if r["run"] == winner), {})
    meta = {
        "sweep": plan["sweep"],
        "run": winner,
        "which": which,
        "config_hash": plan["members"][winner]["config_hash"],
        "metric": results["metric"],
        "value": row.get("mean"),
        "points": row.get("points"),
        "sha256": sha256_file(Path(pulled["path"])),
        "size": pulled["size"],
        "step": pulled.get("step"),
        "deployed_at": time.time(),
        "path": pulled["path"],
    }
    (dest_dir / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def deploy_locally(plan: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    return deploy_winner(ReadOnly(LocalBackend()), plan, results)
