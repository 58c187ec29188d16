"""Start a sweep: plan it, check the budget, sync the data once, start its detached controller.

`trainward sweep` returns at once. The controller (sweep_run.py) then launches the members,
validates, merges and (locally) deploys. Sweeps are recorded in `$TRAINWARD_HOME/sweeps.jsonl`
so `trainward status SWEEP` can find them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from trainward.backends.base import Backend, ReadOnlyBackend
from trainward.config.values import gpu_count
from trainward.core import jsonl, paths
from trainward.core.contracts import RegistryRecord
from trainward.core.fileio import atomic_write
from trainward.core.states import LAUNCHED
from trainward.errors import RunNotFound, UsageError
from trainward.runs.launch import (
    LaunchRequest,
    _sync_data,
    expected_seconds,
    plan_launch,
    worker_spec,
)
from trainward.runs.registry import Registry
from trainward.sweep.spec import Sweep, budget, check_budget, overrides_of

INFRA = ("gpu", "cpu", "memory")


def sweeps_file() -> Path:
    return paths.home() / "sweeps.jsonl"


def find_sweep(name: str) -> dict[str, Any] | None:
    return jsonl.latest(sweeps_file(), "sweep", name)


def plan_sweep(
    sweep: Sweep, *, mode: str, no_deploy: bool, registry: Registry, reader: ReadOnlyBackend | None
) -> dict[str, Any]:
    """The controller's plan (plain data). Raises Refused when over budget."""
    members = sweep.members
    first = next(iter(members.values()))
    backend = first.backend
    if backend == "modal":
        infra = {
            (e.resources.gpu, e.resources.cpu, e.resources.memory, e.volume)
            for e in members.values()
        }
        if len(infra) > 1:
            raise UsageError(
                "on Modal, a sweep's members must share gpu, cpu, memory and volume (one app runs them all)",
                hint="sweep hyperparameters; run separate sweeps for different hardware",
            )
    expected = {run: expected_seconds(exp, registry, reader) for run, exp in members.items()}
    b = budget(sweep, expected)
    v = sweep.spec.validation
    deploy_to = (Path(first.root or ".") / sweep.spec.deploy.to).resolve()
    return {
        "sweep": sweep.name,
        "file": str(sweep.path),
        "backend": backend,
        "volume": first.volume,
        "mode": mode,
        "no_deploy": no_deploy,
        "parallel": sweep.spec.parallel,
        "data_path": first.data.volume_path,
        "validation": {
            "mode": v.mode,
            "games": v.games,
            "workers": v.workers,
            "chunk": v.chunk,
            "metric": v.metric,
            "better": v.better,
            "evaluate": v.evaluate,
            "match": v.match,
        },
        "budget": b,
        "deploy": {"to": str(deploy_to), "name": sweep.spec.deploy.name},
        "members": {
            run: {
                "experiment": exp.to_dict(),
                "root": exp.root,
                "config_path": str(Path(exp.source_file or "")),
                "overrides": sweep.overrides[run],
                "price_per_hour": b["runs"][run]["price_per_hour"],
                "gpus": gpu_count(exp.resources.gpu),
                "attempts": exp.resources.retries + 1,
                "timeout_s": exp.timeout_s,
                "config_hash": exp.config_hash,
            }
            for run, exp in members.items()
        },
        "next": {
            "status": f"trainward status {sweep.name}",
            "deploy": f"trainward sweep deploy {sweep.name}",
        },
    }


def _claim_members(plan: dict[str, Any], registry: Registry) -> None:
    """Refuse a sweep whose member names are taken (members are registered by the controller)."""
    taken = [run for run in plan["members"] if registry.get(run) is not None]
    if taken and plan["mode"] != "validate-only":
        raise UsageError(
            f"runs of this sweep already exist: {', '.join(taken)}",
            hint="rename the sweep (name:), or validate the existing runs with --mode validate-only",
        )
    if plan["mode"] == "validate-only":
        missing = [run for run in plan["members"] if registry.get(run) is None]
        if missing:
            raise RunNotFound(
                f"--mode validate-only needs trained runs; missing: {', '.join(missing)}"
            )


def _modal_specs(sweep: Sweep, plan: dict[str, Any], registry: Registry) -> None:
    """On Modal the controller spawns from inside the app: give it ready worker specs."""
    for run, exp in sweep.members.items():
        req = LaunchRequest(
            exp,
            plan["members"][run]["config_path"],
            overrides_of(sweep.overrides[run]),
            run_name=run,
            sweep=sweep.name,
        )
        spec = worker_spec(req, plan_launch(req, registry, None))
        plan["members"][run]["worker_spec"] = spec.to_json()


def start_sweep(
    sweep: Sweep,
    plan: dict[str, Any],
    backend: Backend,
    registry: Registry,
    note: Any = lambda m: None,
) -> dict[str, Any]:
    check_budget(plan["budget"])
    _claim_members(plan, registry)
    if find_sweep(sweep.name) and plan["mode"] == "full":
        raise UsageError(
            f"sweep '{sweep.name}' was started before",
            hint=f"trainward status {sweep.name}; or rename the sweep",
        )
    first = next(iter(sweep.members.values()))
    if plan["mode"] != "validate-only":
        _sync_data(first, backend, note)
    if plan["backend"] == "modal":
        _modal_specs(sweep, plan, registry)
        ids = backend.launch_sweep(plan)  # type: ignore[attr-defined]
        for run in plan["members"]:
            claimed = registry.claim(
                RegistryRecord(
                    run=run,
                    backend="modal",
                    volume=plan["volume"],
                    sweep=sweep.name,
                    experiment=first.name,
                )
            )
            registry.update(claimed, state=LAUNCHED, ids={"sweep_app_id": ids.get("app_id")})
    else:
        ids = _start_local_controller(plan)
    rec = {
        "sweep": sweep.name,
        "backend": plan["backend"],
        "volume": plan["volume"],
        "mode": plan["mode"],
        "members": list(plan["members"]),
        "controller": ids,
        "launched_at": time.time(),
        "file": plan["file"],
    }
    jsonl.append(sweeps_file(), rec)
    return rec


def _start_local_controller(plan: dict[str, Any]) -> dict[str, Any]:
    from trainward.backends.local import LocalBackend, spawn_detached

    backend = LocalBackend()
    pdir = backend.home / "local" / "sweeps" / plan["sweep"]
    pdir.mkdir(parents=True, exist_ok=True)
    plan_file = pdir / "plan.json"
    atomic_write(plan_file, json.dumps(plan, indent=2, default=str).encode())
    backend.ensure_volume(plan["volume"])
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    pid = spawn_detached(
        [sys.executable, "-m", "trainward.sweep.controller", str(plan_file)],
        env,
        pdir / "output.log",
    )
    return {"pid": pid, "proc_dir": str(pdir)}


def sweep_status(name: str, reader: ReadOnlyBackend, registry: Registry) -> dict[str, Any]:
    """`trainward status SWEEP`: every member's status, validation progress, the leaderboard."""
    from trainward.runs.status import StatusReader

    rec = find_sweep(name)
    if rec is None:
        raise RunNotFound(f"unknown sweep '{name}'")
    state = _read_json(reader, rec["volume"], f"sweeps/{name}/state.json") or {}
    results = _read_json(reader, rec["volume"], f"sweeps/{name}/results.json")
    status_reader = StatusReader(registry, reader)
    runs = []
    for run in rec["members"]:
        member = (state.get("members") or {}).get(run, {})
        if registry.get(run) is None:
            runs.append(
                {
                    "run": run,
                    "verdict": member.get("state", "pending"),
                    "reason": member.get("reason"),
                }
            )
            continue
        doc = status_reader.read(run).to_dict()
        doc["sweep_state"] = member.get("state")
        runs.append(doc)
    v = state.get("validation") or {}
    return {
        "sweep": name,
        "backend": rec["backend"],
        "state": state.get("phase", "starting"),
        "error": state.get("error"),
        "budget": state.get("budget"),
        "runs": runs,
        "validation": {
            "mode": v.get("mode"),
            "done": v.get("done", 0),
            "total": v.get("total", 0),
            "games": len(v.get("games") or []),
            "leaderboard": (results or {}).get("leaderboard"),
            "matrix": (results or {}).get("matrix"),
        },
        "winner": state.get("winner"),
        "deployed": state.get("deployed"),
        "results": state.get("results"),
    }


def _read_json(reader: ReadOnlyBackend, volume: str, path: str) -> dict[str, Any] | None:
    from trainward.errors import NotFound

    try:
        doc: dict[str, Any] = json.loads(reader.read_file(volume, path))
    except (NotFound, ValueError):
        return None
    return doc
