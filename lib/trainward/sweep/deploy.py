"""Bring a finished sweep home: its results into a local folder, its weights into the repo.

Two kinds of deploy, both verified by sha256 before anything in the repo changes:

- **Members' files** (any member with `deploy: {ARTIFACT: REPO_PATH}` in the sweep file): every
  finished member's artifacts (paths in its run directory on the volume) are copied to their
  paths in the project, with a metadata file beside each (`<name>.json`). The sha256 and
  size are the ones the controller recorded where the run wrote them; a download that does not
  match is refused and the repo is left as it was.
- **The winner's checkpoint** (no member deploys): `best` (or `latest`, only when the run has
  no `best`) to `<deploy.to>/<deploy.name>.pt`, with `<name>.json` beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from trainward.backends.base import ReadOnlyBackend
from trainward.core import paths
from trainward.core.contracts import JsonObject
from trainward.core.fileio import sha256_file
from trainward.core.paths import run_file, sweep_file
from trainward.core.sweep_contracts import SweepPlan, SweepRecord, SweepState
from trainward.errors import NotFound
from trainward.runs.pull import download_verified, pull_checkpoint
from trainward.sweep import results as sr
from trainward.sweep import store


def meta_path(dest: Path) -> Path:
    """The metadata file beside a deployed file: `x.toml` -> `x.json` (`x.json` -> `x.meta.json`)."""
    return dest.with_name(dest.stem + (".meta.json" if dest.suffix == ".json" else ".json"))


def deploy_winner(
    reader: ReadOnlyBackend, plan: SweepPlan, results: JsonObject, to: Path | None = None
) -> JsonObject:
    """The winner's best checkpoint (its latest only when it has no best), verified, to
    `<to>/<name>.pt`, with `<name>.json` beside it. An integrity failure is raised, never
    papered over with another checkpoint."""
    winner = results.get("winner")
    if not winner:
        raise NotFound(
            f"sweep '{plan.sweep}' has no winner to deploy",
            hint=f"validation decides the winner: `trainward status {plan.sweep}`",
        )
    dest_dir = Path(to or plan.deploy.to)
    name = plan.deploy.name or plan.sweep
    which = "best"
    try:
        pulled = pull_checkpoint(reader, plan.volume, winner, "best", dest_dir / f"{name}.pt")
    except NotFound:  # the run has no best checkpoint: its latest is its result
        which = "latest"
        pulled = pull_checkpoint(reader, plan.volume, winner, "latest", dest_dir / f"{name}.pt")
    row: JsonObject = next((r for r in results["leaderboard"] if r["run"] == winner), {})
    meta = {
        "sweep": plan.sweep,
        "run": winner,
        "which": which,
        "config_hash": plan.members[winner].config_hash if winner in plan.members else None,
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


def _targets(plan: SweepPlan, state: SweepState, root: Path) -> tuple[list[JsonObject], list[str]]:
    """(run, member, artifact, record, dest) for every file to deploy; and what is skipped."""
    files, skipped = [], []
    for run, member in plan.members.items():
        m = state.members.get(run)
        if not member.deploy:
            continue
        if m is None or m.state != "finished":
            skipped.append(f"{run}: {m.state if m else 'not in this sweep'}")
            continue
        for artifact, target in member.deploy.items():
            record = m.artifacts.get(artifact)
            if record is None:
                raise NotFound(
                    f"member '{member.member or run}' has no recorded {artifact} (run {run})",
                    hint=f"did its program write it into its run directory? `trainward logs {run}`",
                )
            files.append(
                {
                    "run": run,
                    "member": member.member or run,
                    "artifact": artifact,
                    "record": record,
                    "dest": root / target,
                }
            )
    return files, skipped


def deploy_members(
    reader: ReadOnlyBackend,
    plan: SweepPlan,
    state: SweepState,
    results: JsonObject | None = None,
    root: Path | None = None,
) -> JsonObject:
    """Every finished member's files into the project. All are downloaded and verified into a
    staging folder first; only then do they replace the files in the repo."""
    root = Path(root or plan.project_root or ".")
    files, skipped = _targets(plan, state, root)
    staging = root / f".trainward-deploy-{plan.sweep}"
    try:
        for f in files:
            f["staged"] = staging / f["run"] / f["artifact"]
            download_verified(
                reader,
                plan.volume,
                run_file(f["run"], f["artifact"]),
                f["staged"],
                size=int(f["record"]["size"]),
                sha256=str(f["record"]["sha256"]),
                against="the sha256 the sweep recorded where the run wrote it",
            )
        deployed = [_install(f, plan, results) for f in files]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"files": deployed, "skipped": skipped, "deployed_at": time.time()}


def _install(f: JsonObject, plan: SweepPlan, results: JsonObject | None) -> JsonObject:
    dest: Path = f["dest"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(f["staged"], dest)
    row: JsonObject = next(
        (r for r in (results or {}).get("leaderboard") or [] if r["run"] == f["run"]), {}
    )
    member = plan.members[f["run"]]
    meta = {
        "sweep": plan.sweep,
        "member": f["member"],
        "run": f["run"],
        "artifact": f["artifact"],
        "volume": plan.volume,
        "sha256": f["record"]["sha256"],
        "size": f["record"]["size"],
        "config_hash": member.config_hash,
        "args": list(member.args),
        "rank": row.get("rank"),
        "win_rate": row.get("win_rate"),
        "deployed_at": time.time(),
        "path": str(dest),
    }
    meta_path(dest).write_text(json.dumps(meta, indent=2) + "\n")
    return {k: meta[k] for k in ("member", "run", "artifact", "path", "sha256", "size")}


def deploy_sweep(
    reader: ReadOnlyBackend,
    plan: SweepPlan,
    state: SweepState,
    results: JsonObject | None,
    to: Path | None = None,
) -> JsonObject | None:
    """Members' files when the sweep names any, else the winner's checkpoint (when there is one)."""
    if plan.deploys_members:
        return deploy_members(reader, plan, state, results, to)
    if results and results.get("winner"):
        return deploy_winner(reader, plan, results, to)
    return None


def bring_home(plan: SweepPlan, results: JsonObject, folder: Path | None = None) -> str:
    """results.json, summary.txt, the sweep file and the plan into the local results folder."""
    target = Path(
        folder or plan.results_to or Path(plan.project_root or ".") / "sweeps" / plan.sweep
    )
    return sr.save_locally(target, results, sr.render(results, plan.sweep), plan.to_json())


def load_plan(reader: ReadOnlyBackend, rec: SweepRecord) -> SweepPlan:
    """The plan a sweep ran with: from its volume (every controller writes it), else the local
    controller's copy, else the sweep file planned again (sweeps started by older versions)."""
    try:
        return SweepPlan.from_json(
            json.loads(reader.read_file(rec.volume, sweep_file(rec.sweep, "plan.json")))
        )
    except NotFound:
        pass
    local = paths.local_sweeps_dir() / rec.sweep / "plan.json"
    if local.is_file():
        return SweepPlan.from_json(json.loads(local.read_text()))
    from trainward.runs.registry import Registry
    from trainward.sweep.launch import plan_sweep
    from trainward.sweep.spec import load_sweep

    sweep = load_sweep(rec.file or "", backend=rec.backend)
    return plan_sweep(
        sweep, mode="validate-only", no_deploy=False, registry=Registry(), reader=None
    )


def deploy_later(
    name: str, reader: ReadOnlyBackend, *, to: Path | None = None, results_to: Path | None = None
) -> JsonObject:
    """`trainward sweep deploy NAME`: bring a finished sweep's results home and deploy its files."""
    from trainward.sweep.status import read_results, read_state

    rec = store.find(name)
    if rec is None:
        raise NotFound(
            f"unknown sweep '{name}'", hint="start one with `trainward sweep SWEEP.yaml`"
        )
    plan = load_plan(reader, rec)
    state, unreadable = read_state(reader, rec)
    results, bad_results = read_results(reader, rec)
    if state is None or results is None or state.phase not in ("done", "failed"):
        phase = state.phase if state else "starting"
        raise NotFound(
            unreadable or bad_results or f"sweep '{name}' has no results yet (state: {phase})",
            hint=f"wait until `trainward status {name}` says done",
        )
    saved_to = bring_home(plan, results, results_to)
    deployed = deploy_sweep(reader, plan, state, results, to)
    return {"sweep": name, **(deployed or {}), "saved_to": saved_to}


__all__ = [
    "bring_home",
    "deploy_later",
    "deploy_members",
    "deploy_sweep",
    "deploy_winner",
    "load_plan",
    "meta_path",
]
