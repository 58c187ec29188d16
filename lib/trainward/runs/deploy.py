"""Deploy once, launch many: publish the Modal training app, and launch runs from it.

`deploy` publishes `scripts/modal_train.py` as a persistent app and records it in
`$TRAINWARD_HOME/deployments.jsonl`. `launch --deployed` spawns `run_spec` from that app with
`Function.from_name`: no image build and no new app per run. A deployment fixes the
infrastructure (GPU, timeout, retries, volume, secrets) and the code as it was at deploy
time, so a launch whose experiment asks for different infrastructure is refused with the
keys that differ, and the plan notes when the project's git revision moved since.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainward.config.experiment import Experiment
from trainward.config.values import parse_duration
from trainward.core import jsonl, paths
from trainward.errors import NotFound, UsageError

INFRA_KEYS = ("volume", "secrets", "gpu", "cpu", "memory", "timeout", "retries")


def deployments_file() -> Path:
    return paths.home() / "deployments.jsonl"


def default_app(exp: Experiment) -> str:
    return f"trainward-{exp.name}"


def record(result: dict[str, Any], *, experiment: str, git_sha: str | None) -> dict[str, Any]:
    rec = {**result, "experiment": experiment, "git_sha": git_sha, "deployed_at": time.time()}
    jsonl.append(deployments_file(), rec)
    return rec


def find(app: str) -> dict[str, Any] | None:
    """The latest deployment of `app` made from this machine."""
    return jsonl.latest(deployments_file(), "app", app)


def check_launchable(
    exp: Experiment, app: str, declared: dict[str, Any], timeout_s: int
) -> dict[str, Any]:
    """The deployment to spawn from, or a clear error: missing, or different infrastructure."""
    rec = find(app)
    if rec is None:
        raise NotFound(
            f"no deployment of app '{app}' is recorded on this machine",
            hint=f"deploy it first: trainward deploy {exp.source_file or 'CONFIG'}",
        )
    deployed = rec["declaration"]
    wanted = {**declared, "timeout": timeout_s}
    differ = [k for k in INFRA_KEYS if deployed.get(k) != wanted.get(k)]
    if differ:
        detail = ", ".join(
            f"{k}: deployed {deployed.get(k)!r}, wanted {wanted.get(k)!r}" for k in differ
        )
        raise UsageError(
            f"the deployed app '{app}' was built for other infrastructure ({detail})",
            hint=f"redeploy: trainward deploy {exp.source_file or 'CONFIG'}, or launch without --deployed",
        )
    return rec


def watch_seconds(exp: Experiment) -> int | None:
    """How often the deployed app checks its volume for stale runs: `alerts.watch_every` of an
    experiment with alerts that include `stale`; None: no scheduled check."""
    alerts = exp.alerts
    if alerts is None or "stale" not in alerts.on:
        return None
    return parse_duration(alerts.watch_every)


@contextmanager
def watch_declared(exp: Experiment) -> Iterator[int | None]:
    """While deploying: TRAINWARD_MODAL_WATCH_S, from which scripts/modal_train.py declares
    the scheduled stale-run check (and bakes it into the image, so containers agree)."""
    seconds = watch_seconds(exp)
    old = os.environ.pop("TRAINWARD_MODAL_WATCH_S", None)
    if seconds:
        os.environ["TRAINWARD_MODAL_WATCH_S"] = str(seconds)
    try:
        yield seconds
    finally:
        os.environ.pop("TRAINWARD_MODAL_WATCH_S", None)
        if old is not None:
            os.environ["TRAINWARD_MODAL_WATCH_S"] = old
