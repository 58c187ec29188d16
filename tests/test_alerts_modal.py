"""Alerts on Modal, with the real modal 1.6 SDK against the fake control plane: the worker in
the container posts the run's end through the secret the experiment names, and the deployed
app's scheduled check (scripts/modal_train.py `watch_runs`) posts a stale run's alert once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO, write_experiment
from tests.helpers.webhook import Receiver

LOAD = textwrap.dedent("""
    import importlib.util, json, os, sys
    decl = {"app": "w", "volume": "v", "secrets": [], "gpu": None, "cpu": 1.0, "memory": 512,
            "timeout": 60, "retries": 0, "code_dir": sys.argv[1], "validate_cpu": 1.0}
    os.environ["TRAINWARD_MODAL_DECL"] = json.dumps(decl)
    if sys.argv[2] != "0":
        os.environ["TRAINWARD_MODAL_WATCH_S"] = sys.argv[2]
    spec = importlib.util.spec_from_file_location("modal_train", sys.argv[1] + "/scripts/modal_train.py")
    m = importlib.util.module_from_spec(spec); sys.modules["modal_train"] = m; spec.loader.exec_module(m)
    period = m.WATCH_SCHEDULE.proto_message.period if m.WATCH_SCHEDULE else None
    print(json.dumps({"declared": hasattr(m, "watch_runs"), "seconds": period and period.seconds,
                      "baked": m.DECL.get("watch")}))
""")

CALL_WATCH = textwrap.dedent("""
    import json, sys, modal
    print(json.dumps(modal.Function.from_name(sys.argv[1], "watch_runs").remote()))
""")


def modal(fake: Any, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env=fake.client_env(),
        stdin=subprocess.DEVNULL,
    )


def trainward(fake: Any, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return modal(fake, sys.executable, "-m", "trainward", *args, timeout=timeout)


def test_the_scheduled_check_is_declared_only_when_asked() -> None:
    for watch, declared in (("0", False), ("900", True)):
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", LOAD, str(REPO), watch],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        doc = json.loads(out.stdout)
        assert doc["declared"] is declared
        assert doc["seconds"] == (900 if declared else None) and doc["baked"] == doc["seconds"]


def secret_and_experiment(fake: Any, project: Path, url: str) -> Path:
    """The webhook's Modal secret (its value from a variable, as a user would) and an
    experiment whose alerts name it."""
    created = modal(
        fake,
        sys.executable,
        "-m",
        "modal",
        "secret",
        "create",
        "tw-hook",
        f"TRAINWARD_WEBHOOK_URL={url}",
    )
    assert created.returncode == 0, created.stderr
    return write_experiment(
        project / "experiments" / "mal.yaml",
        f"""name: mal
backend: modal
entrypoint: tests.helpers.ticker:main
code_dir: {REPO}
params: {{steps: 4, interval: 0.01}}
resources: {{timeout: 5m, retries: 0}}
volume: tw-vol
alerts: {{webhook_secret: tw-hook, on: [finished, stale], stale_after: 1m, watch_every: 10m}}
""",
    )


def test_the_worker_in_the_container_posts_through_the_secret(modal_fake, project: Path) -> None:
    with Receiver() as hook:
        cfg = secret_and_experiment(modal_fake, project, hook.url)
        res = trainward(modal_fake, "launch", str(cfg), "--run-name", "mal-1", "--json")
        assert res.returncode == 0, res.stderr
        secrets = json.loads(res.stdout)["plan"]["secrets"]
        assert {"name": "tw-hook", "required_keys": ["TRAINWARD_WEBHOOK_URL"]} in secrets
        waited = trainward(modal_fake, "wait", "mal-1", "--timeout", "90", "--interval", "0.5")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        (post,) = hook.wait(1)
    assert post["text"].startswith("trainward: run mal-1 finished")
    record = json.loads(
        (modal_fake.volume_dir("tw-vol") / "runs/mal-1/alerts/finished.json").read_text()
    )
    assert record["sent"] and record["by"] == "worker"


def test_the_deployed_apps_check_posts_a_stale_run_once(modal_fake, project: Path) -> None:
    with Receiver() as hook:
        cfg = secret_and_experiment(modal_fake, project, hook.url)
        deployed = trainward(modal_fake, "deploy", str(cfg), "--json")
        assert deployed.returncode == 0, deployed.stderr
        assert json.loads(deployed.stdout)["watch_s"] == 600
        # A run whose ledger says running, silent for an hour (its worker is gone, say).
        stale = modal_fake.volume_dir("tw-vol") / "runs" / "quiet-1"
        stale.mkdir(parents=True)
        alerts = {"webhook_secret": "tw-hook", "on": ["stale"], "stale_after": "1m"}
        (stale / "run.json").write_text(
            json.dumps({"name": "quiet-1", "config": {"alerts": alerts}})
        )
        status = {
            "run": "quiet-1",
            "state": "running",
            "attempt": 1,
            "last_log_at": time.time() - 3600,
        }
        (stale / "status.json").write_text(json.dumps(status))
        first = modal(modal_fake, sys.executable, "-c", CALL_WATCH, "trainward-mal")
        assert first.returncode == 0, first.stderr
        assert [a["key"] for a in json.loads(first.stdout)["alerts"]] == ["stale-1"]
        (post,) = hook.wait(1)
        again = modal(modal_fake, sys.executable, "-c", CALL_WATCH, "trainward-mal")
        assert json.loads(again.stdout) == {"checked": 1, "alerts": []} and len(hook.posts) == 1
    assert "quiet-1 is stale: nothing logged for 1.0 h (threshold 1.0 min)" in post["text"]
    record = json.loads((stale / "alerts" / "stale-1.json").read_text())
    assert record["sent"] and record["by"] == "modal-watch"
