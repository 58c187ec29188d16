"""Launch: verify the setup, sync the data, start a detached run, record its identity, show the cost.

`plan_launch` is read-only (it is all `--dry-run` does, and on a remote backend a dry run
makes no remote call at all). `launch` claims the run name in the registry, syncs the data,
asks the backend to start the run detached, and records `launched` or `not-launched` with
the reason. Whatever happens between the claim and the record, the registry never shows
a half-registered run: readers resolve a dead launcher's claim against the backend.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainward.backends.base import Backend, LaunchSpec, ReadOnly, ReadOnlyBackend
from trainward.config.experiment import Experiment, config_differences, config_hash
from trainward.config.overrides import Overrides
from trainward.config.values import check_name, parse_duration
from trainward.core.contracts import (
    DeployedPlan,
    JsonObject,
    LaunchPlan,
    RegistryRecord,
    ResourcePlan,
    ResumePlan,
    RunInfo,
    SecretRef,
    WandbIdentity,
    WorkerSpec,
)
from trainward.core.paths import (
    RUN_FILE,
    checkpoint_path,
    parse_checkpoint_ref,
    run_file,
    run_path,
)
from trainward.core.retry import with_backoff
from trainward.core.signals import HeldSignals
from trainward.core.states import LAUNCHED, NOT_LAUNCHED
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
from trainward.runs import adopted, environment, pricing
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import Registry


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
    args: tuple[str, ...] = field(default_factory=tuple)  # passed to the program after `--`

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

    def identity(self) -> JsonObject:
        """What determines the result: the experiment's identity, and the `--` arguments."""
        ident = self.experiment.identity()
        return {**ident, "args": list(self.args)} if self.args else ident

    @property
    def config_hash(self) -> str:
        return config_hash(self.identity())

    def overrides_json(self) -> JsonObject:
        plugin = self.experiment.plugin
        return self.overrides.to_dict(plugin.cli_overrides if plugin else {})


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


# -- the plan (read-only) ---------------------------------------------------------------------


def _data_plan(exp: Experiment, reader: ReadOnlyBackend | None) -> JsonObject:
    data, plugin = exp.data, exp.plugin
    out: JsonObject = {
        "dataset": data.dataset,
        "volume_path": data.volume_path,
        "source": data.source,
    }
    src = exp.resolve(data.source) if data.source else None
    generates = plugin.data_action(exp.train, has_source=src is not None) if plugin else None
    if src is not None and not src.is_dir():
        if generates:
            out["action"] = f"{generates} (into {src})"
            return out
        raise NotFound(
            f"data.source {src} does not exist",
            hint="fix data.source in the experiment"
            + (", or add train.generate for the synthetic dataset" if plugin else ""),
        )
    if src is None:
        needs = plugin is not None and plugin.needs_data_on_volume(exp.train)
        if needs and reader is not None and reader.stat(exp.volume, data.volume_path) is None:
            raise NotFound(
                f"dataset {data.volume_path} is not on volume {exp.volume} and data.source is not set",
                hint=f"upload it: trainward data push DIR --volume {exp.volume} --to {data.volume_path}",
            )
        if plugin is None:
            out["action"] = "none (your program loads its own data)"
        else:
            out["action"] = generates or "use the data on the volume"
        return out
    if reader is None:
        out["action"] = "sync from source (remote not checked in a dry run)"
        return out
    plan, _, _ = datasync.plan_push(reader, src, exp.volume, data.volume_path, verify=True)
    out["action"] = "up to date" if plan.up_to_date else "upload"
    keep = ("files_to_upload", "upload_bytes", "unchanged", "up_to_date")
    out["sync"] = {k: v for k, v in plan.to_dict().items() if k in keep}
    return out


def expected_seconds(
    exp: Experiment,
    registry: Registry,
    reader: ReadOnlyBackend | None,
    *,
    config_hash: str | None = None,
) -> float | None:
    """Runtime of the newest finished run of the same config (and arguments) on this backend."""
    if reader is None:
        return None
    wanted = (config_hash or exp.config_hash, exp.backend, LAUNCHED)
    for rec in reversed(registry.records()):
        if (rec.config_hash, rec.backend, rec.state) != wanted:
            continue
        try:
            st = LedgerReader(reader, rec.volume, rec.run).status()
        except TrainwardError:
            continue
        if st and st.get("state") == "finished" and st.get("started_at") and st.get("ended_at"):
            return round(float(st["ended_at"] or 0) - float(st["started_at"] or 0), 1)
    return None


def _wandb_plan(req: LaunchRequest, prior: RegistryRecord | None) -> WandbIdentity | None:
    wb = req.experiment.wandb
    if wb.mode == "disabled":
        return None
    wandb_id = prior.wandb.id if req.resume and prior and prior.wandb else None
    wandb_id = wandb_id or secrets.token_hex(4)
    url = None
    if wb.entity and wb.mode == "online":
        url = f"https://wandb.ai/{wb.entity}/{wb.project}/runs/{wandb_id}"
    return WandbIdentity(
        mode=wb.mode,
        entity=wb.entity,
        project=wb.project,
        id=wandb_id,
        url=url,
        tags=tuple(wb.tags),
    )


def _resume_plan(req: LaunchRequest, run: str, reader: ReadOnlyBackend | None) -> ResumePlan | None:
    """`--resume RUN` is that run's newest indexed checkpoint (a file or a folder, wherever its
    program wrote it); `RUN/latest.pt`, `RUN/best.pt`, `RUN/checkpoints/X` name one."""
    if not req.resume:
        return None
    src_run, ckpt = parse_checkpoint_ref(req.resume)
    if "/" not in req.resume.strip("/") and reader is not None:
        volume = req.experiment.volume
        ledger = LedgerReader(reader, volume, src_run)
        st = ledger.status()
        info = ledger.run_info() if st is None else None
        if info is not None and adopted.is_adopted(info.config):
            st = adopted.observe(reader, volume, src_run, info, None, time.time())
        latest = ((st or {}).get("checkpoints") or {}).get("latest")
        if latest and latest.get("path"):
            ckpt = f"{run_path(src_run)}/{latest['path']}"
    return ResumePlan(from_run=src_run, checkpoint=ckpt, same_run=src_run == run)


def _resources(req: LaunchRequest) -> ResourcePlan:
    res = req.experiment.resources
    timeout = req.experiment.timeout_s
    timeout = min(timeout, req.timeout_s) if req.timeout_s else timeout
    max_runtime = parse_duration(res.max_runtime, cap=None) if res.max_runtime else None
    return ResourcePlan(
        gpu=res.gpu,
        cpu=res.cpu,
        memory_mb=res.memory,
        timeout_s=timeout,
        retries=res.retries,
        max_runtime_s=max_runtime,
    )


def plan_launch(
    req: LaunchRequest, registry: Registry, reader: ReadOnlyBackend | None
) -> LaunchPlan:
    """The resolved plan. `reader=None` means: make no backend call (a remote dry run)."""
    exp = req.experiment
    run = req.run()
    live = reader.live_rates() if reader is not None else None
    expected = expected_seconds(exp, registry, reader, config_hash=req.config_hash)
    resources = _resources(req)
    entrypoint: JsonObject | str = exp.entry.to_plain()
    if exp.entry.kind == "modal_function":
        entrypoint, size = _adopted_plan(req)
        resources = dataclasses.replace(resources, **size)
    plugin = exp.plugin
    plan = LaunchPlan(
        run=run,
        backend=exp.backend,
        app_name=run if exp.backend == "modal" else None,
        experiment=exp.name,
        config=req.config_path,
        config_hash=req.config_hash,
        overrides=req.overrides_json(),
        args=req.args,
        entrypoint=entrypoint,
        trainer={k: getattr(exp.train, k) for k in plugin.summary_keys} if plugin else {},
        environment=(
            {"image": f"your app's own ({exp.entry.modal_file})"}
            if exp.entry.kind == "modal_function"
            else environment.plan(exp)
        ),
        resources=resources,
        volume=exp.volume,
        data=_data_plan(exp, reader),
        secrets=tuple(SecretRef(s.name, tuple(s.required_keys)) for s in exp.secret_specs),
        wandb=_wandb_plan(req, registry.get(run)),
        resume=_resume_plan(req, run, reader),
        deployed=_deployed_plan(req, resources.timeout_s) if req.deployed_app else None,
        sweep=req.sweep,
        cost=pricing.estimate(
            exp, exp.backend, expected_s=expected, live_rates=live, resources=resources
        ),
        next={
            "status": f"trainward status {run}",
            "logs": f"trainward logs {run} --tail 50",
            "wait": f"trainward wait {run}",
            "stop": f"trainward stop {run} --yes",
        },
    )
    if reader is not None and exp.backend == "local":
        environment.check_local(exp)  # missing packages are named now, not an hour into the run
    if reader is not None:  # read-only checks of the resume source, before anything is claimed
        _check_resume(plan, reader, exp.volume)
        _check_resume_config(exp, plan, reader)
    return plan


def _adopted_plan(req: LaunchRequest) -> tuple[JsonObject, dict[str, Any]]:
    """An adopted Modal function, loaded here (no remote call) so a wrong file, function or
    argument fails before anything is claimed: the entrypoint as the plan shows it (with the
    keyword arguments), and the size its decorator declares (gpu, cpu, memory), which the
    cost estimate uses instead of the config's."""
    exp = req.experiment
    if exp.backend != "modal":
        raise UsageError(
            f"entrypoint modal_function ({exp.entry.target}) runs in your own Modal app",
            hint="launch it with --backend modal (or backend: modal in the config)",
        )
    from trainward.backends.modal import adopt

    function = adopt.load(exp.entry.target or "", str(exp.code_path))
    args = adopted.call_args(req.args, req.run(), exp.volume, None)
    kwargs = adopt.call_kwargs(function, args)
    return {"modal_function": exp.entry.target, "kwargs": kwargs}, adopt.declared_size(function)


def _deployed_plan(req: LaunchRequest, timeout_s: int) -> DeployedPlan:
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
    return DeployedPlan(
        app=rec["app"],
        deployed_at=rec.get("deployed_at"),
        git_sha=rec.get("git_sha"),
        code_changed_since=bool(sha and rec.get("git_sha") and sha != rec["git_sha"]),
    )


def _check_resume(plan: LaunchPlan, reader: ReadOnlyBackend, volume: str) -> None:
    resume = plan.resume
    if not resume or reader.stat(volume, resume.checkpoint) is not None:
        return
    try:
        have = [
            e.path.rsplit("/", 1)[-1]
            for e in reader.list_files(volume, checkpoint_path(resume.from_run, "").rstrip("/"))
            if e.path.endswith(".pt")
        ]
    except NotFound:
        have = []
    raise NotFound(
        f"checkpoint {resume.checkpoint} is not on volume {volume}",
        hint=(
            f"available: {', '.join(have)}"
            if have
            else f"run '{resume.from_run}' has no checkpoints"
        )
        + "; use --resume RUN, RUN/latest.pt or RUN/best.pt",
    )


def _check_resume_config(exp: Experiment, plan: LaunchPlan, reader: ReadOnlyBackend) -> None:
    """Refuse, before launching, a plug-in resume whose config would change the math (the
    trainer checks again against the checkpoint itself)."""
    resume = plan.resume
    if not resume or exp.plugin is None:
        return
    info = LedgerReader(reader, exp.volume, resume.from_run).run_info()
    if info is None or not info.identity:
        return
    diffs = config_differences(info.identity, exp.identity(), exp.resume_may_change)
    if diffs:
        listed = "; ".join(f"{k}: {old!r} then, {new!r} now" for k, old, new in diffs)
        raise ConfigMismatch(
            f"cannot resume from run '{resume.from_run}': its config differs in {len(diffs)} key(s): {listed}",
            hint="resume with that run's config (or its overrides), or start a new run; only "
            + ", ".join(sorted(exp.resume_may_change))
            + " may change on resume",
        )


# -- starting the run -------------------------------------------------------------------------


def _sync_data(exp: Experiment, backend: Backend, note: Callable[[str], None]) -> JsonObject | None:
    data = exp.data
    if not data.source:
        return None
    src = exp.resolve(data.source)
    if exp.plugin is not None:  # e.g. generate the built-in trainer's synthetic games
        exp.plugin.prepare_data(exp.train, src, note)
    result = datasync.push(backend, src, exp.volume, data.volume_path, verify=True)
    if not result.up_to_date:
        note(
            f"uploaded {len(result.new) + len(result.changed)} files ({result.uploaded_bytes / 1e6:.1f} MB) "
            f"to {exp.volume}:{data.volume_path}"
        )
    return result.to_dict()


def _preflight(exp: Experiment, backend: Backend, note: Callable[[str], None]) -> None:
    """Setup checks before anything is claimed or created. An unreachable remote (code 5) is
    retried with backoff for TRAINWARD_RETRY_S (default 60 s); a rejected token or anything
    else fails at once."""

    def check() -> None:
        checks = backend.checks(volume=None, secrets=exp.secret_specs)
        failed = [c for c in checks if not c.ok and c.level == "error"]
        if not failed:
            return
        first = failed[0]
        err_cls: type[TrainwardError] = (
            RemoteUnavailable if first.code == EXIT_REMOTE else UsageError
        )
        raise err_cls(
            f"setup check '{first.name}' failed: {first.detail}",
            hint=(f"fix: {first.fix}" if first.fix else "run `trainward doctor` for details"),
            retryable=first.retryable,
        )

    with_backoff(
        check,
        retry_on=RemoteUnavailable,
        bound_s=float(os.environ.get("TRAINWARD_RETRY_S", "60")),
        retryable=lambda err: bool(getattr(err, "details", {}).get("retryable")),
        on_retry=lambda err, delay: note(f"{err}; retrying in {delay:.0f} s"),
    )


def worker_spec(
    req: LaunchRequest, plan: LaunchPlan, *, launch_token: str | None = None
) -> WorkerSpec:
    exp = req.experiment
    run_info = RunInfo(
        name=plan.run,
        experiment=exp.name,
        config_path=req.config_path,
        config=exp.to_dict(),
        config_hash=req.config_hash,
        identity=req.identity(),
        overrides=plan.overrides,
        args=plan.args,
        backend=exp.backend,
        gpu=exp.resources.gpu,
        price_per_hour=plan.cost.price_per_hour,
        price_source=plan.cost.price_source,
        wandb=plan.wandb,
        git_sha=git_sha(exp.root),
        launched_at=time.time(),
        sweep=req.sweep,
        targets=dict(exp.targets),
        metrics=exp.to_dict()["metrics"],
        resume=plan.resume,
        launcher="trainward",
        launch_token=launch_token,
    )
    return WorkerSpec(
        run=plan.run,
        volume=exp.volume,
        experiment=exp.to_dict(),
        run_info=run_info,
        root=exp.root,
        code_dir=str(exp.code_path),
        resume=plan.resume.checkpoint if plan.resume else None,
        wandb_id=plan.wandb.id if plan.wandb else None,
        deadline_s=plan.resources.timeout_s,
        max_runtime_s=plan.resources.max_runtime_s,
        args=plan.args,
    )


def launch_spec(req: LaunchRequest, plan: LaunchPlan, spec: WorkerSpec) -> LaunchSpec:
    exp, env = req.experiment, {}
    if exp.entry.kind == "modal_function":  # no worker: the arguments and identity go to it
        resume = plan.resume.checkpoint if plan.resume else None
        spec = spec.replace(args=adopted.call_args(plan.args, plan.run, plan.volume, resume))
        env = adopted.identity_env(plan.run, plan.volume, spec.run_info, exp.wandb, resume)
    return LaunchSpec(
        run=plan.run,
        volume=plan.volume,
        worker_spec=spec,
        resources=plan.resources,
        secrets=plan.secrets,
        code_dir=exp.code_path,
        deployed_app=plan.deployed.app if plan.deployed else None,
        env=env,
    )


def _record_adopted(backend: Backend, spec: WorkerSpec, note: Callable[[str], None]) -> None:
    """An adopted function has no worker to write run.json: the launcher writes it once the
    call exists, so status knows the run's config, metrics, targets and price."""
    path = run_file(spec.run, RUN_FILE)
    try:
        backend.write_file(
            spec.volume, path, json.dumps(spec.run_info.to_json(), indent=2, default=str).encode()
        )
    except TrainwardError as err:
        note(f"the run started, but {path} could not be written ({err.message}); "
             "status shows less about it until it is")  # fmt: skip


@dataclass(frozen=True)
class Launched:
    """What `launch` returns: the registry record after the launch, and the plan it ran."""

    record: RegistryRecord
    plan: LaunchPlan

    def to_json(self) -> JsonObject:
        return {**self.record.to_json(), "plan": self.plan.to_json()}


def _claim(
    req: LaunchRequest, plan: LaunchPlan, backend: Backend, registry: Registry
) -> RegistryRecord:
    exp = req.experiment
    same_run = bool(plan.resume and plan.resume.same_run)

    def allow_existing(rec: RegistryRecord) -> bool:
        return same_run and not _active(backend, rec)

    def settle(rec: RegistryRecord) -> JsonObject | None:
        handle = backend.settle_launch(rec.run, rec.launch_id)
        return None if handle is None else dict(handle.ids)

    record = RegistryRecord(
        run=plan.run,
        backend=exp.backend,
        volume=exp.volume,
        experiment=exp.name,
        config=req.config_path,
        config_hash=req.config_hash,
        overrides=plan.overrides,
        args=plan.args,
        gpu=exp.resources.gpu,
        price_per_hour=plan.cost.price_per_hour,
        wandb=plan.wandb,
        sweep=req.sweep,
        resume=req.resume,
    )
    return registry.claim(record, allow_existing=allow_existing, settle=settle)


def launch(
    req: LaunchRequest,
    backend: Backend,
    registry: Registry,
    note: Callable[[str], None] = lambda m: None,
) -> Launched:
    """Start the run detached; return the registry record and the plan."""
    exp = req.experiment
    _preflight(exp, backend, note)
    reader: ReadOnlyBackend = ReadOnly(backend)
    plan = plan_launch(req, registry, reader)
    record = _claim(req, plan, backend, registry)
    same_run = bool(plan.resume and plan.resume.same_run)
    held = HeldSignals()  # from just before the spawn until the run is recorded
    try:
        if not same_run and LedgerReader(reader, exp.volume, plan.run).exists():
            raise RunExists(
                f"run '{plan.run}' already has a ledger on volume {exp.volume} (launched elsewhere?)",
                hint=f"pick another --run-name, or continue it with --resume {plan.run}",
            )
        synced = _sync_data(exp, backend, note)
        plan = plan.replace(data={**plan.data, "synced": synced})
        spec = worker_spec(req, plan, launch_token=record.launch_id)
        handle = backend.launch(launch_spec(req, plan, spec), on_spawn=held.hold)
        record = registry.update(record, state=LAUNCHED, ids=handle.ids)
        if exp.entry.kind == "modal_function":
            _record_adopted(backend, spec, note)
    except BaseException as err:
        reason = err.message if isinstance(err, TrainwardError) else f"{type(err).__name__}: {err}"
        if isinstance(err, KeyboardInterrupt):
            reason = "interrupted before the run started"
        registry.update(record, state=NOT_LAUNCHED, reason=reason)
        raise
    finally:
        held.release()
    return Launched(record, plan)


def _active(backend: ReadOnlyBackend, rec: RegistryRecord) -> bool:
    handle = backend.find_run(rec.run)
    return handle is not None and backend.state(handle).active


__all__ = [
    "LaunchRequest",
    "Launched",
    "git_sha",
    "launch",
    "launch_spec",
    "plan_launch",
    "run_path",
    "worker_spec",
]
