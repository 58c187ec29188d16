"""Modal declarations for trainward: image -> volume and secrets -> app -> functions.

Nothing here trains: the functions call `trainward.runs.worker`, the same code every backend
runs. Three ways in:

    # the original runbook command (detached: the run survives this terminal)
    modal run --detach scripts/modal_train.py::train --config experiments/mamba2-medium-gpu.yaml \
        --epochs 3 --run-name NAME [--resume NAME/latest.pt]

    # deploy once, launch many (trainward launch ... --deployed, or Function.from_name)
    TRAINWARD_CONFIG=experiments/mamba2-medium-gpu.yaml modal deploy scripts/modal_train.py

    # what `trainward launch --backend modal` does: load this file with
    # TRAINWARD_MODAL_DECL set, then `with app.run(detach=True): run_spec.spawn(spec)`

The declarations (GPU, timeout, retries, volume, secrets) come from TRAINWARD_MODAL_DECL
(JSON, set by trainward and baked into the image so containers declare the same thing),
else from the experiment named by TRAINWARD_CONFIG or by `--config` on the modal command
line, else from experiments/mamba2-medium-gpu.yaml.

Under trainward's offline tests the Modal control plane is a local fake that cannot mount
volumes; it passes MODAL_FAKE_MOUNTS / MODAL_FAKE_FS_ROOT and `container_path` maps paths
through them. On Modal those variables are unset and paths are unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import modal
from trainward.backends.modal import build_image

MOUNT = "/vol"
REMOTE_ROOT = "/root/project"
DEFAULT_CONFIG = "experiments/mamba2-medium-gpu.yaml"
CONTINUE_MARGIN_S = 300  # hand over to a continuation this long before the attempt's timeout
# (or a fifth of the timeout, when that is shorter)


def _config_from_argv() -> str | None:
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def load_declaration() -> dict[str, Any]:
    raw = os.environ.get("TRAINWARD_MODAL_DECL")
    if raw:
        return json.loads(raw)
    from trainward.backends.modal import declaration_for
    from trainward.config import load_experiment

    config = os.environ.get("TRAINWARD_CONFIG") or _config_from_argv() or DEFAULT_CONFIG
    root = Path(__file__).resolve().parent.parent
    path = Path(config) if Path(config).is_absolute() or Path(config).exists() else root / config
    return declaration_for(load_experiment(path).to_dict(), code_dir=str(root))


def container_path(path: str) -> Path:
    """Where a container path really is (identity on Modal; mapped under the offline fake)."""
    mounts: dict[str, str] = json.loads(os.environ.get("MODAL_FAKE_MOUNTS", "{}"))
    for mount in sorted(mounts, key=len, reverse=True):
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return Path(mounts[mount] + path[len(mount.rstrip("/")) :])
    fs_root = os.environ.get("MODAL_FAKE_FS_ROOT")
    return Path(fs_root.rstrip("/") + path) if fs_root else Path(path)


DECL = load_declaration()
# The deployed app's scheduled stale-run check, in seconds (`trainward deploy` sets it for an
# experiment with alerts; baked into the image below, so containers declare the same).
DECL.setdefault("watch", int(os.environ.get("TRAINWARD_MODAL_WATCH_S") or 0) or None)

# The run's environment (experiment `environment:`) decides the image: see
# trainward.backends.modal.image (launch --dry-run shows the same steps).
image = build_image(
    modal, DECL, REMOTE_ROOT, {"TRAINWARD_MODAL_DECL": json.dumps(DECL, sort_keys=True)}
)
volume = modal.Volume.from_name(DECL["volume"], create_if_missing=True)
secrets = [
    modal.Secret.from_name(s["name"], required_keys=s["required_keys"]) for s in DECL["secrets"]
]
app = modal.App(DECL["app"])

TRAIN_OPTIONS: dict[str, Any] = dict(
    image=image,
    volumes={MOUNT: volume},
    secrets=secrets,
    gpu=DECL["gpu"],
    cpu=DECL["cpu"],
    memory=DECL["memory"],
    timeout=DECL["timeout"],
    retries=modal.Retries(max_retries=DECL["retries"], initial_delay=5.0, backoff_coefficient=2.0),
    single_use_containers=True,
)


class AttemptFailed(RuntimeError):
    """Raised so that Modal retries the attempt (a crash, or a stop signal from preemption).
    Modal re-raises it on the client, which cannot import this script: `trainward status`
    reads its message (the client reports it as a RuntimeError), never a deserialisation error."""

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return RuntimeError, (str(self),)


def _run(raw: dict[str, Any]) -> dict[str, Any]:
    """One attempt of a run, re-entrant: reload, resume from the newest checkpoint, commit."""
    from trainward.core.states import exit_meaning
    from trainward.runs.worker import WorkerSpec, run_attempt

    volume.reload()
    project = str(container_path(REMOTE_ROOT))
    spec = WorkerSpec.from_json(raw).replace(code_dir=project, root=project)
    if project not in sys.path:
        sys.path.insert(0, project)
    started = time.time()
    deadline = started + DECL["timeout"] - min(CONTINUE_MARGIN_S, 0.2 * DECL["timeout"])
    budget_s = spec.max_seconds  # a sweep's budget share for this run, per attempt
    budget_bound = budget_s is not None and started + budget_s < deadline
    if budget_bound:
        deadline = started + budget_s
    code, result, ctx = run_attempt(
        spec, container_path(MOUNT), commit=volume.commit, deadline=deadline
    )
    volume.commit()
    status = (result or {}).get("status") if isinstance(result, dict) else None
    if status == "continue" and budget_bound:
        reason = f"stopped at its share of the sweep budget ({budget_s} s); the latest checkpoint is saved"
        ctx.ledger.fail(reason, exit_code=3)
        volume.commit()
        return {"status": "failed", "reason": reason, "exit_code": 3}
    if status == "continue":
        call = run_spec.spawn(spec.replace(continuation=spec.continuation + 1).to_json())
        ctx.ledger.continued(call.object_id, attempt_elapsed=time.time() - started)
        volume.commit()
        return {"status": "continue", "next_call": call.object_id}
    meaning = exit_meaning(code, stop_requested=ctx.stop_was_asked())
    if meaning.retry:
        raise AttemptFailed(
            f"attempt ended with exit code {code}: {ctx.ledger.status.get('reason')}"
        )
    if meaning.state != "finished":
        return {
            "status": meaning.state,
            "reason": ctx.ledger.status.get("reason"),
            "exit_code": code,
        }
    return {"status": "finished", **{k: v for k, v in (result or {}).items() if k != "status"}}


@app.function(**TRAIN_OPTIONS)
def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Spawned by `trainward launch` with a resolved worker spec."""
    return _run(spec)


@app.function(**TRAIN_OPTIONS)
def train(
    config: str = DEFAULT_CONFIG,
    epochs: int = 0,
    max_games: int = 0,
    run_name: str = "",
    resume: str = "",
) -> dict[str, Any]:
    """The runbook's entry: `modal run --detach scripts/modal_train.py::train --config ...`."""
    from trainward.config import Overrides, load_experiment
    from trainward.runs.launch import LaunchRequest, plan_launch, worker_spec
    from trainward.runs.registry import Registry

    path = container_path(f"{REMOTE_ROOT}/{config}")
    overrides = Overrides(
        epochs=epochs or None, max_games=max_games or None, sets=("backend=modal",)
    )
    req = LaunchRequest(
        load_experiment(path, overrides),
        config,
        overrides,
        run_name=run_name or None,
        resume=resume or None,
    )
    plan = plan_launch(req, Registry(Path("/tmp/trainward-registry.jsonl")), None)
    return _run(worker_spec(req, plan).to_json())


def run_member(spec: dict[str, Any]) -> dict[str, Any]:
    """A sweep member sized differently from `run_spec` (one function per distinct size)."""
    return _run(spec)


# A sweep whose members differ in gpu, cpu, memory or timeout declares one function per size;
# its controller spawns each member on the function of its size (`resources_key`).
MEMBER_FUNCTIONS: dict[str, Any] = {
    key: app.function(
        **{
            **TRAIN_OPTIONS,
            "gpu": size["gpu"],
            "cpu": size["cpu"],
            "memory": size["memory"],
            "timeout": size["timeout"],
            "retries": modal.Retries(
                max_retries=size["retries"], initial_delay=5.0, backoff_coefficient=2.0
            ),
        },
        name=f"run_member_{key}",
    )(run_member)
    for key, size in DECL.get("member_functions", {}).items()
}


@app.function(
    image=image,
    volumes={MOUNT: volume},
    cpu=DECL["validate_cpu"],
    memory=DECL.get("validate_memory", DECL["memory"]),
    timeout=DECL["timeout"],
    retries=0,  # the sweep's controller retries a failed job (validation.retries), then names it
    single_use_containers=True,
)
def validate(job: dict[str, Any]) -> dict[str, Any]:
    """A sweep's validation job, one container each: a slice of your validation program, or
    checkpoints scored on held-out games (see trainward.sweep.validate)."""
    from trainward.core.sweep_contracts import ValidationJob
    from trainward.sweep.validate import run_job

    volume.reload()
    project = str(container_path(REMOTE_ROOT))
    if project not in sys.path:  # a user's validation program lives in the project
        sys.path.insert(0, project)
    return run_job(ValidationJob.from_json(job), container_path(MOUNT), code_dir=project)


@app.function(
    image=image,
    volumes={MOUNT: volume},
    cpu=1.0,
    memory=2048,
    timeout=24 * 3600,
    retries=modal.Retries(max_retries=3, initial_delay=10.0),
    single_use_containers=True,
)
def sweep_controller(plan: dict[str, Any]) -> dict[str, Any]:
    """A sweep's controller: spawns the members and validation jobs from this one app, merges.
    Deploying into your repo happens on your machine: `trainward sweep deploy NAME`."""
    from trainward.backends.modal import ModalExecutor
    from trainward.core.sweep_contracts import SweepPlan
    from trainward.sweep.controller import Controller

    volume.reload()
    executor = ModalExecutor(run_spec, validate, MEMBER_FUNCTIONS)
    ctl = Controller(
        SweepPlan.from_json(plan), container_path(MOUNT), executor, commit=volume.commit
    )
    try:
        state = ctl.run()
    except Exception as err:  # recorded where status shows it; Modal then retries the controller
        ctl.state.phase, ctl.state.error = "failed", f"{type(err).__name__}: {err}"
        ctl.save()
        raise
    return {"phase": state.phase, "winner": state.winner}


# Alerts for runs that went quiet while the laptop is closed (trainward.runs.watch).
WATCH_SCHEDULE = modal.Period(seconds=DECL["watch"]) if DECL.get("watch") else None

if WATCH_SCHEDULE is not None:

    @app.function(
        image=image,
        volumes={MOUNT: volume},
        secrets=secrets,
        cpu=0.25,
        memory=512,
        timeout=300,
        schedule=WATCH_SCHEDULE,
    )
    def watch_runs() -> dict[str, Any]:
        """Send the stale-run alerts of the runs on this app's volume, at most once each."""
        from trainward.runs.watch import watch_volume

        volume.reload()
        return watch_volume(container_path(MOUNT), commit=volume.commit)


# Off by default (`trainward deploy --web` turns it on); Modal's proxy auth is always required.
WEB_ENDPOINT: dict[str, Any] = {"method": "POST", "requires_proxy_auth": True}

if DECL.get("web"):
    web_image = image.pip_install("fastapi[standard]==0.121.1")

    @app.function(image=web_image)
    @modal.fastapi_endpoint(**WEB_ENDPOINT)
    def launch_endpoint(payload: dict[str, Any]) -> dict[str, Any]:
        """POST a worker spec (from `trainward launch --dry-run --json`'s `worker_spec`) to start a run.

        Requires Modal proxy auth (Modal-Key / Modal-Secret headers)."""
        call = run_spec.spawn(payload["spec"])
        return {"function_call_id": call.object_id}
