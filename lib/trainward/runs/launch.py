"""Launch: verify the setup, sync the data, start a detached run, record its identity, show the cost.

`plan_launch` is read-only (it is all `--dry-run` does, and on a remote backend a dry run
makes no remote call at all). `launch` claims the run name in the registry, syncs the data,
asks the backend to start the run detached, and records `launched` or `not-launched` with
the reason. Whatever happens between the claim and the record, the registry never shows
a half-registered run: readers resolve a dead launcher's claim against the backend.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainward.backends.base import Backend, LaunchSpec, ReadOnly, ReadOnlyBackend
from trainward.config.experiment import RESUME_MAY_CHANGE, Experiment, config_differences
from trainward.config.overrides import Overrides
from trainward.config.values import check_name
from trainward.core.paths import run_path
from trainward.data import sync as datasync
from trainward.errors import (
    EXIT_REMOTE,
    ConfigMismatch,
    NotFound,
    RemoteUnavailable,
    RunExists,
    TrainwardError,
    UsageError,
)
from trainward.runs import pricing
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import LAUNCHED, NOT_LAUNCHED, Registry


@dataclass
class LaunchRequest:
    experiment: Experiment
    config_path: str
    overrides: Overrides
    run_name: str | None = None
    resume: str | None = None
    sweep: str | None = None
    timeout_s: int | None = None  # a budget-derived cap below the experiment's own timeout
    deployed_app: str | None = None  # Modal: spawn from this deployed app (trainward deploy)

    @property
    def backend(self) -> str:
        return self.experiment.backend

    def run(self) -> str:
        if self.run_name is None:
            self.run_name = f"{self.experiment.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            return check_name(self.run_name)
        except ValueError as err:
            raise UsageError(
                str(err), hint="pass --run-name with lowercase letters, digits, '-', '_' or '.'"
            ) from None


def git_sha(root: str | None) -> str | None:
    if not root:
        return None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def parse_resume(ref: str) -> tuple[str, str]:
    """`RUN`, `RUN/latest.pt`, `RUN/best.pt` or `RUN/checkpoints/X.pt` -> (run, path on the volume)."""
    run, _, rest = ref.strip("/").partition("/")
    rest = rest or "latest.pt"
    if not rest.startswith("checkpoints/"):
        rest = f"checkpoints/{rest}"
    return run, f"{run_path(run)}/{rest}"


def _data_plan(exp: Experiment, reader: ReadOnlyBackend | None) -> dict[str, Any]:
    data = exp.data
    out: dict[str, Any] = {
        "dataset": data.dataset,
        "volume_path": data.volume_path,
        "source": data.source,
    }
    src = exp.resolve(data.source) if data.source else None
    if src is not None and not src.is_dir():
        if data.generate:
            out["action"] = f"generate {data.generate.games} games into {src}, then upload"
            return out
        raise NotFound(
            f"data.source {src} does not exist",
            hint="fix data.source in the experiment, or add data.generate for the synthetic dataset",
        )
    if src is None and exp.entry.kind != "builtin":
        out["action"] = "none (your entrypoint loads its own data)"
        return out
    if src is None:
        missing = (
            reader is not None
            and exp.entry.kind == "builtin"
            and not data.generate
            and reader.stat(exp.volume, data.volume_path) is None
        )
        if missing:
            raise NotFound(
                f"dataset {data.volume_path} is not on volume {exp.volume} and data.source is not set",
                hint=f"upload it: trainward data push DIR --volume {exp.volume} --to {data.volume_path}",
            )
        out["action"] = (
            "use the data on the volume"
            if data.source is None and not data.generate
            else "generate on the worker"
        )
        return out
    if reader is None:
        out["action"] = "sync from source (remote not checked in a dry run)"
        return out
    plan, _, _ = datasync.plan_push(reader, src, exp.volume, data.volume_path, verify=True)
    out["action"] = "up to date" if plan.up_to_date else "upload"
    out["sync"] = {
        k: v
        for k, v in plan.to_dict().items()
        if k in ("files_to_upload", "upload_bytes", "unchanged", "up_to_date")
    }
    return out


def expected_seconds(
    exp: Experiment, registry: Registry, reader: ReadOnlyBackend | None
) -> float | None:
    """Runtime of the newest finished run of the same config on this backend, scaled by epochs."""
    if reader is None:
        return None
    for rec in reversed(registry.records()):
        if (
            rec.get("config_hash") != exp.config_hash
            or rec.get("backend") != exp.backend
            or rec.get("state") != LAUNCHED
        ):
            continue
        try:
            st = LedgerReader(reader, rec["volume"], rec["run"]).status()
        except TrainwardError:
            continue
        if st and st.get("state") == "finished" and st.get("started_at") and st.get("ended_at"):
            return round(float(st["ended_at"]) - float(st["started_at"]), 1)
    return None


def plan_launch(
    req: LaunchRequest, registry: Registry, reader: ReadOnlyBackend | None
) -> dict[str, Any]:
    """The resolved plan. `reader=None` means: make no backend call (a remote dry run)."""
    exp = req.experiment
    run = req.run()
    prior = registry.get(run)
    wandb_id = (
        (prior or {}).get("wandb", {}).get("id")
        if req.resume and (prior or {}).get("wandb")
        else None
    )
    wandb_id = wandb_id or secrets.token_hex(4)
    wb = exp.wandb
    live = reader.live_rates() if reader is not None else None
    cost = pricing.estimate(
        exp, exp.backend, expected_s=expected_seconds(exp, registry, reader), live_rates=live
    )
    resume = None
    if req.resume:
        src_run, ckpt = parse_resume(req.resume)
        resume = {"from_run": src_run, "checkpoint": ckpt, "same_run": src_run == run}
    timeout = min(exp.timeout_s, req.timeout_s) if req.timeout_s else exp.timeout_s
    plan = {
        "run": run,
        "backend": exp.backend,
        "app_name": run if exp.backend == "modal" else None,
        "experiment": exp.name,
        "config": req.config_path,
        "config_hash": exp.config_hash,
        "overrides": req.overrides.to_dict(),
        "entrypoint": exp.entry.to_plain(),
        "train": {
            k: getattr(exp.train, k)
            for k in ("arch", "size", "epochs", "batch_size", "lr", "max_games", "seed")
        },
        "resources": {
            "gpu": exp.resources.gpu,
            "cpu": exp.resources.cpu,
            "memory_mb": exp.resources.memory,
            "timeout_s": timeout,
            "retries": exp.resources.retries,
        },
        "volume": exp.volume,
        "data": _data_plan(exp, reader),
        "secrets": [{"name": s.name, "required_keys": s.required_keys} for s in exp.secret_specs],
        "wandb": None
        if wb.mode == "disabled"
        else {
            "mode": wb.mode,
            "entity": wb.entity,
            "project": wb.project,
            "id": wandb_id,
            "url": f"https://wandb.ai/{wb.entity}/{wb.project}/runs/{wandb_id}"
            if wb.entity and wb.mode == "online"
            else None,
        },
        "resume": resume,
        "deployed": _deployed_plan(req, timeout) if req.deployed_app else None,
        "sweep": req.sweep,
        "cost": cost,
        "detached": True,
        "next": {
            "status": f"trainward status {run}",
            "logs": f"trainward logs {run} --tail 50",
            "wait": f"trainward wait {run}",
            "stop": f"trainward stop {run} --yes",
        },
    }
    if reader is not None:  # read-only checks of the resume source, before anything is claimed
        _check_resume(plan, reader, exp.volume)
        _check_resume_config(exp, plan, reader)
    return plan


def _deployed_plan(req: LaunchRequest, timeout_s: int) -> dict[str, Any]:
    from trainward.backends.modal import declaration_for
    from trainward.runs import deploy

    exp = req.experiment
    if exp.backend != "modal":
        raise UsageError("--deployed needs the modal backend", hint="add --backend modal")
    declared = declaration_for(exp.to_dict(), code_dir=str(exp.code_path))
    rec = deploy.check_launchable(
        exp, req.deployed_app or deploy.default_app(exp), declared, timeout_s
    )
    sha = git_sha(exp.root)
    return {
        "app": rec["app"],
        "deployed_at": rec["deployed_at"],
        "git_sha": rec.get("git_sha"),
        "code_changed_since": bool(sha and rec.get("git_sha") and sha != rec["git_sha"]),
    }


def _sync_data(
    exp: Experiment, backend: Backend, note: Callable[[str], None]
) -> dict[str, Any] | None:
    data = exp.data
    if not data.source:
        return None
    src = exp.resolve(data.source)
    if data.generate:  # idempotent: completes a missing or half-written dataset, skips the rest
        from trainward.train.synth import generate_dataset

        if not src.is_dir():
            note(f"generating {data.generate.games} synthetic games into {src}")
        generate_dataset(
            src, games=data.generate.games, frames=data.generate.frames, seed=data.generate.seed
        )
    result = datasync.push(backend, src, exp.volume, data.volume_path, verify=True)
    if not result.up_to_date:
        note(
            f"uploaded {len(result.new) + len(result.changed)} files ({result.uploaded_bytes / 1e6:.1f} MB) "
            f"to {exp.volume}:{data.volume_path}"
        )
    return result.to_dict()


def _check_resume(plan: dict[str, Any], reader: ReadOnlyBackend, volume: str) -> None:
    resume = plan["resume"]
    if not resume:
        return
    if reader.stat(volume, resume["checkpoint"]) is None:
        base = f"{run_path(resume['from_run'])}/checkpoints"
        try:
            have = [
                e.path.rsplit("/", 1)[-1]
                for e in reader.list_files(volume, base)
                if e.path.endswith(".pt")
            ]
        except NotFound:
            have = []
        raise NotFound(
            f"checkpoint {resume['checkpoint']} is not on volume {volume}",
            hint=(
                f"available: {', '.join(have)}"
                if have
                else f"run '{resume['from_run']}' has no checkpoints"
            )
            + "; use --resume RUN, RUN/latest.pt or RUN/best.pt",
        )


def _check_resume_config(exp: Experiment, plan: dict[str, Any], reader: ReadOnlyBackend) -> None:
    """Refuse, before launching, a built-in-trainer resume whose config would change the math
    (the trainer checks again against the checkpoint itself)."""
    resume = plan["resume"]
    if not resume or exp.entry.kind != "builtin":
        return
    info = LedgerReader(reader, exp.volume, resume["from_run"]).run_info() or {}
    diffs = config_differences(info["identity"], exp.identity()) if info.get("identity") else []
    if diffs:
        listed = "; ".join(f"{k}: {old!r} then, {new!r} now" for k, old, new in diffs)
        raise ConfigMismatch(
            f"cannot resume from run '{resume['from_run']}': its config differs in {len(diffs)} key(s): {listed}",
            hint="resume with that run's config (or its overrides), or start a new run; only "
            + ", ".join(sorted(RESUME_MAY_CHANGE))
            + " may change on resume",
        )


def _preflight(exp: Experiment, backend: Backend, note: Callable[[str], None]) -> None:
    """Setup checks before anything is claimed or created. An unreachable remote (code 5) is
    retried with backoff for TRAINWARD_RETRY_S (default 60 s); anything else fails at once."""
    deadline = time.monotonic() + float(os.environ.get("TRAINWARD_RETRY_S", "60"))
    delay = 1.0
    while True:
        checks = backend.checks(volume=None, secrets=exp.secret_specs)
        failed = [c for c in checks if not c.ok and c.level == "error"]
        if not failed:
            return
        first = failed[0]
        remote = first.code == EXIT_REMOTE and first.name.endswith(":reachable")
        if remote and time.monotonic() + delay < deadline:
            note(f"{first.name}: {first.detail}; retrying in {delay:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
            continue
        err_cls: type[TrainwardError] = (
            RemoteUnavailable if first.code == EXIT_REMOTE else UsageError
        )
        raise err_cls(
            f"setup check '{first.name}' failed: {first.detail}"
            + (" (after retrying)" if remote else ""),
            hint=(f"fix: {first.fix}" if first.fix else "run `trainward doctor` for details"),
        )


def worker_spec(req: LaunchRequest, plan: dict[str, Any]) -> dict[str, Any]:
    exp = req.experiment
    wb = plan["wandb"]
    run_info = {
        "name": plan["run"],
        "experiment": exp.name,
        "config_path": req.config_path,
        "config": exp.to_dict(),
        "config_hash": exp.config_hash,
        "identity": exp.identity(),
        "overrides": plan["overrides"],
        "backend": exp.backend,
        "gpu": exp.resources.gpu,
        "price_per_hour": plan["cost"]["price_per_hour"],
        "price_source": plan["cost"]["price_source"],
        "wandb": wb,
        "git_sha": git_sha(exp.root),
        "launched_at": time.time(),
        "sweep": req.sweep,
        "targets": exp.targets,
        "resume": plan["resume"],
    }
    return {
        "run": plan["run"],
        "volume": exp.volume,
        "experiment": exp.to_dict(),
        "root": exp.root,
        "code_dir": str(exp.code_path),
        "resume": plan["resume"]["checkpoint"] if plan["resume"] else None,
        "wandb_id": wb["id"] if wb else None,
        "run_info": run_info,
        "deadline_s": plan["resources"]["timeout_s"],
    }


def launch(
    req: LaunchRequest,
    backend: Backend,
    registry: Registry,
    note: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Start the run detached and return the registry record (with the plan under `plan`)."""
    exp = req.experiment
    _preflight(exp, backend, note)
    reader: ReadOnlyBackend = ReadOnly(backend)
    plan = plan_launch(req, registry, reader)
    run = plan["run"]
    same_run = bool(plan["resume"] and plan["resume"]["same_run"])

    def allow_existing(rec: dict[str, Any]) -> bool:
        return same_run and not _active(backend, rec)

    def settle(rec: dict[str, Any]) -> str:
        return LAUNCHED if backend.find_run(rec["run"]) is not None else NOT_LAUNCHED

    record = registry.claim(
        {
            "run": run,
            "backend": exp.backend,
            "volume": exp.volume,
            "experiment": exp.name,
            "config": req.config_path,
            "config_hash": exp.config_hash,
            "overrides": plan["overrides"],
            "gpu": exp.resources.gpu,
            "price_per_hour": plan["cost"]["price_per_hour"],
            "wandb": plan["wandb"],
            "sweep": req.sweep,
            "resume": req.resume,
            "ids": {},
        },
        allow_existing=allow_existing,
        settle=settle,
    )
    try:
        if not same_run and LedgerReader(reader, exp.volume, run).exists():
            raise RunExists(
                f"run '{run}' already has a ledger on volume {exp.volume} (launched elsewhere?)",
                hint=f"pick another --run-name, or continue it with --resume {run}",
            )
        plan["data"]["synced"] = _sync_data(exp, backend, note)
        spec = LaunchSpec(
            run=run,
            volume=exp.volume,
            worker_spec=worker_spec(req, plan),
            gpu=exp.resources.gpu,
            cpu=exp.resources.cpu,
            memory_mb=exp.resources.memory,
            timeout_s=plan["resources"]["timeout_s"],
            retries=exp.resources.retries,
            secrets=[s.name for s in exp.secret_specs],
            code_dir=exp.code_path,
            deployed_app=plan["deployed"]["app"] if plan["deployed"] else None,
        )
        handle = backend.launch(spec)
    except BaseException as err:
        reason = err.message if isinstance(err, TrainwardError) else f"{type(err).__name__}: {err}"
        if isinstance(err, KeyboardInterrupt):
            reason = "interrupted before the run started"
        registry.update(record, state=NOT_LAUNCHED, reason=reason)
        raise
    record = registry.update(record, state=LAUNCHED, ids=handle.ids)
    return {**record, "plan": plan}


def _active(backend: ReadOnlyBackend, rec: dict[str, Any]) -> bool:
    handle = backend.find_run(rec["run"])
    return handle is not None and backend.state(handle).active
