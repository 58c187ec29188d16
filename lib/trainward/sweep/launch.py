"""Start a sweep: plan it, check the budget, claim its name, sync the data once, and hand the
plan to the backend, which starts the sweep's detached controller where the runs run.

`trainward sweep` returns at once. The controller (sweep/controller.py) then launches the
members, validates, merges and (locally) deploys. Sweeps are recorded in
`$TRAINWARD_HOME/sweeps.jsonl` (sweep/store.py) so `trainward status SWEEP` can find them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from trainward.backends.base import Backend, ReadOnlyBackend, SweepBackend
from trainward.config.experiment import Experiment
from trainward.config.values import gpu_count
from trainward.core.contracts import RegistryRecord
from trainward.core.states import LAUNCHED, SweepMode
from trainward.core.sweep_contracts import (
    DeployPlan,
    MemberPlan,
    SweepBudget,
    SweepPlan,
    SweepRecord,
    ValidationPlan,
)
from trainward.errors import RunNotFound, UsageError
from trainward.runs import pricing
from trainward.runs.launch import (
    LaunchRequest,
    _sync_data,
    expected_seconds,
    plan_launch,
    worker_spec,
)
from trainward.runs.registry import Registry
from trainward.sweep import store
from trainward.sweep.spec import Sweep, budget, check_budget, overrides_of

RESOURCES = ("gpu", "cpu", "memory", "timeout", "retries")


def _resources_key(exp: Experiment) -> str:
    """Members with equal resources share one Modal function: this names it."""
    r = exp.resources
    gpu = (r.gpu or "none").replace(":", "x").replace("-", "").lower()
    return f"{gpu}_c{r.cpu:g}_m{r.memory}_t{exp.timeout_s}_r{r.retries}".replace(".", "p")


def _check_modal(sweep: Sweep) -> None:
    shared = {(e.volume, tuple(s.name for s in e.secret_specs)) for e in sweep.members.values()}
    if len(shared) > 1:
        raise UsageError(
            "on Modal, a sweep's members must share their volume and secrets (one app runs them all)",
            hint="members may differ in gpu, cpu, memory and timeout; run separate sweeps otherwise",
        )


def _validation(sweep: Sweep, first: Experiment) -> ValidationPlan:
    v = sweep.spec.validation
    command = v.command.split() if isinstance(v.command, str) else tuple(v.command or ())
    per_hour = 0.0
    if first.backend != "local":
        per_hour = v.cpu * pricing.CPU_CORE_PER_HOUR + v.memory / 1024 * pricing.MEMORY_GIB_PER_HOUR
    return ValidationPlan(
        mode=v.mode,
        games=v.games,
        workers=v.workers,
        chunk=v.chunk,
        metric=v.metric,
        better=v.better,
        evaluate=v.evaluate,
        match=v.match,
        command=tuple(command),
        function=v.function,
        matchups=tuple(v.matchups),
        timeout_s=v.timeout if isinstance(v.timeout, int) else None,
        retries=v.retries,
        price_per_hour=round(per_hour, 4),
        cpu=v.cpu,
        memory=v.memory,
        code_dir=str(first.code_path),
    )


def _member(sweep: Sweep, run: str, b: SweepBudget) -> MemberPlan:
    exp = sweep.members[run]
    return MemberPlan(
        experiment=exp.to_dict(),
        config_path=str(Path(exp.source_file or "")),
        timeout_s=exp.timeout_s,
        config_hash=exp.config_hash,
        root=exp.root,
        member=sweep.names.get(run),
        overrides=tuple(tuple(p) for p in sweep.overrides[run]),
        args=sweep.args.get(run, ()),
        deploy=sweep.deploys.get(run, {}),
        price_per_hour=b.runs[run].price_per_hour,
        gpus=gpu_count(exp.resources.gpu),
        attempts=exp.resources.retries + 1,
        resources_key=_resources_key(exp) if exp.backend == "modal" else None,
    )


def plan_sweep(
    sweep: Sweep,
    *,
    mode: SweepMode,
    no_deploy: bool,
    registry: Registry,
    reader: ReadOnlyBackend | None,
) -> SweepPlan:
    """The controller's plan. Read-only; `check_budget` refuses it when over budget."""
    first = next(iter(sweep.members.values()))
    if first.backend == "modal":
        _check_modal(sweep)
    expected = {run: expected_seconds(e, registry, reader) for run, e in sweep.members.items()}
    b = budget(sweep, expected)
    root = sweep.root
    return SweepPlan(
        sweep=sweep.name,
        backend=first.backend,
        volume=first.volume,
        mode=mode,
        members={run: _member(sweep, run, b) for run in sweep.members},
        plan_id=uuid.uuid4().hex[:12],
        file=str(sweep.path),
        sweep_text=sweep.path.read_text(),
        project_root=str(root),
        results_to=str((root / sweep.spec.results_to / sweep.name).resolve()),
        no_deploy=no_deploy,
        parallel=sweep.spec.parallel,
        data_path=first.data.volume_path,
        validation=_validation(sweep, first),
        budget=b,
        deploy=DeployPlan(str((root / sweep.spec.deploy.to).resolve()), sweep.spec.deploy.name),
        next={
            "status": f"trainward status {sweep.name}",
            "deploy": f"trainward sweep deploy {sweep.name}",
        },
    )


def _check_members(plan: SweepPlan, registry: Registry) -> None:
    """Refuse a sweep whose member names are taken (members are registered by the controller);
    validate-only needs every member trained before."""
    if plan.mode == "validate-only":
        missing = [run for run in plan.members if registry.get(run) is None]
        if missing:
            raise RunNotFound(
                f"--mode validate-only needs trained runs; missing: {', '.join(missing)}",
                hint="train them first: trainward sweep FILE --mode train-only",
            )
        return
    taken = [run for run in plan.members if registry.get(run) is not None]
    if taken:
        raise UsageError(
            f"runs of this sweep already exist: {', '.join(taken)}",
            hint="rename the sweep (name:), or validate the existing runs with --mode validate-only",
        )


def _modal_specs(sweep: Sweep, plan: SweepPlan, registry: Registry) -> SweepPlan:
    """On Modal the controller spawns from inside the app: give it ready worker specs."""
    members = {}
    for run, member in plan.members.items():
        req = LaunchRequest(
            sweep.members[run],
            member.config_path,
            overrides_of(member.overrides),
            run_name=run,
            sweep=sweep.name,
            args=member.args,
        )
        spec = worker_spec(req, plan_launch(req, registry, None))
        members[run] = MemberPlan.from_json({**member.to_json(), "worker_spec": spec.to_json()})
    return plan.replace(members=members)


def _register_modal_members(plan: SweepPlan, registry: Registry, app_id: str | None) -> None:
    for run, member in plan.members.items():
        claimed = registry.claim(
            RegistryRecord(
                run=run,
                backend="modal",
                volume=plan.volume,
                sweep=plan.sweep,
                experiment=str(member.experiment.get("name")),
            )
        )
        registry.update(claimed, state=LAUNCHED, ids={"sweep_app_id": app_id})


def start_sweep(
    sweep: Sweep,
    plan: SweepPlan,
    backend: Backend,
    registry: Registry,
    note: Callable[[str], None] = lambda m: None,
) -> SweepRecord:
    """Claim the sweep's name, sync the data, and have the backend start the controller."""
    if not isinstance(backend, SweepBackend):
        raise UsageError(
            f"the {backend.name} backend cannot run sweeps", hint="use --backend local or modal"
        )
    check_budget(plan.budget)
    _check_members(plan, registry)
    record = store.claim(
        SweepRecord(
            sweep=plan.sweep,
            backend=plan.backend,
            volume=plan.volume,
            mode=plan.mode,
            members=tuple(plan.members),
            file=plan.file,
            plan_id=plan.plan_id,
        )
    )
    try:
        if plan.mode != "validate-only":
            _sync_data(next(iter(sweep.members.values())), backend, note)
        if plan.backend == "modal":
            plan = _modal_specs(sweep, plan, registry)
        ids = backend.launch_sweep(plan)
    except BaseException as err:
        reason = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
        store.update(record, state="not-started", reason=reason)
        raise
    if plan.backend == "modal" and plan.mode != "validate-only":
        _register_modal_members(plan, registry, ids.get("app_id"))
    return store.update(record, state="started", controller=ids)


__all__ = ["plan_sweep", "start_sweep"]
