"""Status joined with W&B, through the real wandb client and the fake GraphQL server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from trainward.backends.local import LocalBackend
from trainward.runs.ledger import LedgerWriter, run_path

from tests.conftest import tw

ENTITY = "acme"


def make_run(home: Path, project: str, run: str, *, ledger_state: str = "running") -> None:
    """A registry record plus a ledger for a run that logs to W&B project `project`."""
    backend = LocalBackend(home)
    backend.ensure_volume("vol")
    wb = {"mode": "online", "entity": ENTITY, "project": project, "id": run}
    w = LedgerWriter.start(
        backend.volume_root("vol") / run_path(run),
        {"name": run, "wandb": wb, "price_per_hour": 1.0},
    )
    w.plan(epochs=2, steps_per_epoch=100)
    w.log({"batch/loss": 0.5, "batch/step": 150}, step=150, epoch=2, batch=50)
    w.log_validation(1, {"val_loss/total": 0.7, "val_metric/action_change_acc": 0.6})
    w.set_tracker(
        {
            "kind": "wandb",
            "path": f"{ENTITY}/{project}/{run}",
            "url": f"https://wandb.ai/{ENTITY}/{project}/runs/{run}",
        }
    )
    if ledger_state == "finished":
        w.finish()
    w.close()
    rec = {
        "run": run,
        "backend": "local",
        "volume": "vol",
        "state": "launched",
        "launched_at": time.time() - 60,
        "wandb": wb,
    }
    with open(home / "runs.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")


@pytest.fixture
def wb_env(wandb_fake, monkeypatch):
    for key, value in wandb_fake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    return wandb_fake


def test_both_sources_are_joined_and_disagreement_flagged(wb_env, tw_home: Path) -> None:
    wb_env.seed_run(
        ENTITY, "p1", "r1", run_id="r1", rows=150, state="finished", summary={"batch/step": 150}
    )
    make_run(tw_home, "p1", "r1")
    res = tw("status", "r1", "--json", "--wandb-timeout", "5")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["metrics_source"] == "wandb+ledger"
    assert doc["tracker"]["state"] == "finished"
    assert doc["disagreements"] == ["W&B says finished, the ledger says running"]
    assert doc["links"]["wandb"].endswith("/runs/r1")


def test_wandb_down_falls_back_to_the_ledger_and_says_so(wb_env, tw_home: Path) -> None:
    make_run(tw_home, "p2", "r2", ledger_state="finished")
    for fault in (
        lambda: wb_env.fail(500, seconds=30),
        lambda: wb_env.fail(429, seconds=30),
        lambda: wb_env.hang(30),
    ):
        fault()
        res = tw("status", "r2", "--json", "--wandb-timeout", "2")
        wb_env.clear_faults()
        assert res.code == 0, res.stderr
        doc = res.json()
        assert doc["verdict"] == "finished" and doc["metrics_source"] == "ledger"
        assert any("W&B unavailable" in n and "showing the ledger" in n for n in doc["notes"])


def test_status_from_wandb_alone(wb_env) -> None:
    wb_env.seed_run(ENTITY, "p3", "solo", rows=2000, state="running", val_every=500)
    res = tw("status", "--wandb", f"{ENTITY}/p3/solo", "--json", "--wandb-timeout", "5")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["metrics_source"] == "wandb" and doc["run"] == "solo"
    assert doc["verdict"] in ("running", "stale") and len(doc["validation"]) == 4
    latest = tw("status", "--wandb", f"{ENTITY}/p3", "--json", "--wandb-timeout", "5").json()
    assert latest["run"] == "solo"


def test_wandb_alone_faults_exit_5_with_the_cause(wb_env) -> None:
    wb_env.seed_run(ENTITY, "p4", "x", rows=10)
    wb_env.hang(30)
    res = tw("status", "--wandb", f"{ENTITY}/p4/x", "--wandb-timeout", "2")
    assert res.code == 5 and "does not answer (hanging)" in res.stderr
    assert "Traceback" not in res.stderr and res.stderr.startswith("error: ")
    wb_env.clear_faults()
    res = tw("status", "--wandb", f"{ENTITY}/p4/nope", "--wandb-timeout", "5")
    assert res.code == 4 and "nope" in res.stderr


def test_zombie_when_wandb_says_crashed_but_compute_runs(
    wb_env, tw_home: Path, ticker_experiment
) -> None:
    wb_env.seed_run(ENTITY, "p5", "zz", run_id="zz", rows=5, state="crashed")
    cfg = ticker_experiment(
        name="zz",
        steps=10000,
        interval=0.05,
        extra=f"wandb: {{mode: online, entity: {ENTITY}, project: p5}}",
    )
    assert tw("launch", str(cfg), "--run-name", "zz").code == 0
    try:
        # The ticker never logs to W&B; point the launch's W&B identity at the seeded run.
        rec = json.loads((tw_home / "runs.jsonl").read_text().splitlines()[-1])
        rec["wandb"]["id"] = "zz"
        with open(tw_home / "runs.jsonl", "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        from tests.conftest import wait_for

        wait_for(
            lambda: "ledger" in (tw("status", "zz", "--json").json()["metrics_source"] or ""),
            60,
            what="the run's ledger",
        )
        run_json = LocalBackend().volume_root("trainward") / "runs/zz/run.json"
        info = json.loads(run_json.read_text())
        info["wandb"]["id"] = "zz"
        run_json.write_text(json.dumps(info))
        doc = tw("status", "zz", "--json", "--wandb-timeout", "5").json()
        assert doc["verdict"] == "zombie" and "W&B marked the run crashed" in doc["reason"]
    finally:
        tw("stop", "zz", "--yes")


def test_status_from_wandb_alone_is_as_full_as_the_ledgers(wb_env) -> None:
    """A trainward run logs its resolved experiment as the W&B config: W&B alone then gives
    progress, categories (flagged by the default bar), targets, ETA, time per epoch and cost."""
    config = {
        "entrypoint": "builtin",
        "backend": "modal",
        "train": {"arch": "mamba2", "size": "medium", "epochs": 3},
        "resources": {"gpu": "A100-80GB:1", "cpu": 8, "memory": 65536},
        "targets": {"val_loss/total": "<0.5"},
        "metrics": {"validation": ["val_loss/total"], "categories": "val_action/cat_"},
    }
    summary = {
        "epoch": 1, "batch/step": 1000, "_runtime": 1800.0, "_timestamp": time.time() - 5,
        "val_loss/total": 0.4, "val_action/cat_movement": 0.91, "val_action/cat_attack": 0.97,
    }  # fmt: skip
    wb_env.seed_run(
        ENTITY, "p4", "full", rows=1000, state="running", config=config, summary=summary
    )
    res = tw("status", "--wandb", f"{ENTITY}/p4/full", "--json", "--wandb-timeout", "5")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert (doc["progress"]["epoch"], doc["progress"]["epochs"], doc["progress"]["step"]) == (
        1,
        3,
        1000,
    )
    assert doc["timing"]["sec_per_epoch"] == 1800.0 and doc["timing"]["eta_s"] == 3600.0
    flags = {c["category"]: c["ok"] for c in doc["categories"]}
    assert flags["attack"] is True and flags["movement"] is False  # the default bar: >=0.93
    assert doc["targets"][0]["ok"] is True
    assert doc["cost"]["source"].startswith("table") and doc["cost"]["so_far_usd"] > 1.0
    assert doc["config"]["gpu"] == "A100-80GB:1" and doc["config"]["arch"] == "mamba2"
    text = tw("status", "--wandb", f"{ENTITY}/p4/full", "--wandb-timeout", "5").stdout
    assert "W&B: running" in text and "ledger:" not in text and "BELOW TARGET" in text


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("500", "HTTP 500"),
        ("429", "HTTP 429"),
        ("down", "without an answer"),
        ("refused", "refused"),
    ],
)
def test_why_wandb_did_not_answer_is_told_apart(wb_env, monkeypatch, fault: str, says: str) -> None:
    if fault == "refused":
        monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    elif fault == "down":
        wb_env.down(60)
    else:
        wb_env.fail(int(fault), seconds=60)
    res = tw("status", "--wandb", f"{ENTITY}/p5/none", "--json", "--wandb-timeout", "2")
    wb_env.clear_faults()
    assert res.code == 5, res.stderr
    assert says in res.json()["error"]["message"], res.json()["error"]
