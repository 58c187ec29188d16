"""`trainward status SWEEP`: every member's status, validation progress and failures, the
leaderboard and matrix, the cost of every job and the total. Read-only."""

from __future__ import annotations

import json
from typing import Any

from trainward.backends.base import ReadOnlyBackend
from trainward.core.contracts import JsonObject
from trainward.core.paths import sweep_file
from trainward.core.sweep_contracts import SweepRecord, SweepState
from trainward.errors import ContractError, NotFound, RunNotFound
from trainward.runs.registry import Registry
from trainward.sweep import store
from trainward.sweep.results import costs


def read_state(reader: ReadOnlyBackend, rec: SweepRecord) -> tuple[SweepState | None, str | None]:
    """The controller's state, or None (not written yet); and why it could not be read."""
    try:
        raw = reader.read_file(rec.volume, sweep_file(rec.sweep, "state.json"))
    except NotFound:
        return None, None
    try:
        return SweepState.from_json(json.loads(raw)), None
    except (ValueError, ContractError) as err:
        return None, f"sweeps/{rec.sweep}/state.json is unreadable: {err}"


def read_results(reader: ReadOnlyBackend, rec: SweepRecord) -> tuple[JsonObject | None, str | None]:
    """The merged results, or None (not merged yet); and why they could not be read."""
    try:
        raw = reader.read_file(rec.volume, sweep_file(rec.sweep, "results.json"))
    except NotFound:
        return None, None
    try:
        doc: JsonObject = json.loads(raw)
    except ValueError as err:
        return None, f"sweeps/{rec.sweep}/results.json is unreadable: {err}"
    return doc, None


def _runs(
    rec: SweepRecord, state: SweepState | None, reader: ReadOnlyBackend, registry: Registry
) -> list[JsonObject]:
    from trainward.runs.status import StatusReader

    status_reader = StatusReader(registry, reader)
    runs = []
    for run in rec.members:
        member = state.members.get(run) if state else None
        if registry.get(run) is None:
            runs.append(
                {
                    "run": run,
                    "verdict": member.state if member else "pending",
                    "reason": member.reason if member else None,
                }
            )
            continue
        doc = status_reader.read(run).to_dict()
        doc["sweep_state"] = member.state if member else None
        doc["cost_usd"] = member.cost_usd if member else None
        runs.append(doc)
    return runs


def _failed_jobs(state: SweepState) -> list[JsonObject]:
    return [
        {
            "job_id": job_id,
            "a": j.job.a or j.job.run,
            "b": j.job.b,
            "matchups": list(j.job.matchups),
            "direction": j.job.direction if j.job.kind == "slice" else None,
            "attempts": j.attempts,
            "error": j.error,
        }
        for job_id, j in state.validation.jobs.items()
        if j.state == "failed"
    ]


def _validation(state: SweepState | None, results: JsonObject | None) -> JsonObject:
    v = state.validation if state else None
    res = results or {}
    games = len(v.games) if v and v.games else (v.games_per_matchup if v else None)
    return {
        "mode": v.mode if v else None,
        "done": v.done if v else 0,
        "total": v.total if v else 0,
        "failed": v.failed if v else 0,
        "games": games or 0,
        "failed_jobs": _failed_jobs(state) if state else [],
        "leaderboard": res.get("leaderboard"),
        "matrix": res.get("matrix"),
        "by_matchup": res.get("by_matchup"),
        "complete": res.get("complete"),
    }


def sweep_status(name: str, reader: ReadOnlyBackend, registry: Registry) -> dict[str, Any]:
    skipped: list[str] = []
    rec = store.find(name, skipped)
    if rec is None:
        raise RunNotFound(f"unknown sweep '{name}'", hint="`trainward sweep FILE` starts one")
    state, unreadable = read_state(reader, rec)
    results, bad_results = read_results(reader, rec)
    problems = [p for p in (bad_results, *skipped) if p]
    phase = state.phase if state else ("not-started" if rec.state == "not-started" else "starting")
    return {
        "sweep": name,
        "backend": rec.backend,
        "mode": state.mode if state else rec.mode,
        "plan_id": state.plan_id if state else rec.plan_id,
        "state": phase,
        "error": unreadable or (state.error if state else rec.reason),
        "errors": [*(state.errors if state else []), *problems],
        "budget": state.budget.to_json() if state else None,
        "runs": _runs(rec, state, reader, registry),
        "validation": _validation(state, results),
        "cost": costs(state) if state else None,
        "winner": state.winner if state else None,
        "deployed": state.deployed if state else None,
        "results": state.results if state else None,
        "saved_to": state.saved_to if state else None,
        "next": {"deploy": f"trainward sweep deploy {name} --json"},
    }


__all__ = ["read_results", "read_state", "sweep_status"]
