"""Chaos at the remote edges: W&B failing or hanging under a launched run, a Modal container
preempted mid-run, and a resume that would change the math refused before launch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, tw, wait_for
from tests.test_train_helpers import TINY_DATA, TINY_TRAIN

pytestmark = pytest.mark.chaos


def tiny_experiment(project: Path, name: str, **top: object) -> Path:
    import yaml

    doc = {"name": name, "backend": "local", "data": {**TINY_DATA, "source": "data/tiny"},
           "train": {**TINY_TRAIN, "checkpoint_every": 6}, "resources": {"timeout": "10m", "retries": 1}, **top}  # fmt: skip
    path = project / "experiments" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("fault", ["500", "hang"])
def test_wandb_down_training_goes_on_and_status_falls_back(
    wandb_fake, project: Path, monkeypatch, fault: str
) -> None:
    for key, value in wandb_fake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("TRAINWARD_WANDB_INIT_TIMEOUT", "3")
    if fault == "500":
        wandb_fake.fail(500, seconds=600)
    else:
        wandb_fake.hang(600)
    cfg = tiny_experiment(
        project, f"wb{fault}", wandb={"mode": "online", "project": "chaos", "entity": "acme"}
    )
    assert tw("launch", str(cfg), "--run-name", f"wb{fault}").code == 0
    res = tw("wait", f"wb{fault}", "--timeout", "240", "--interval", "0.5", "--json")
    assert res.code == 0, res.stdout
    doc = res.json()
    assert doc["verdict"] == "finished" and [r["epoch"] for r in doc["validation"]] == [
        1,
        2,
    ]  # the ledger is complete
    assert any("W&B" in n or "wandb" in n.lower() for n in doc["notes"]), doc[
        "notes"
    ]  # the trainer said so
    t = time.monotonic()
    st = tw("status", f"wb{fault}", "--json", "--wandb-timeout", "2")
    assert st.code == 0 and time.monotonic() - t < 8
    report = st.json()
    assert report["metrics_source"] == "ledger"
    assert any("showing the ledger" in n for n in report["notes"]), report["notes"]
    wandb_fake.clear_faults()


def test_preempted_container_resumes_from_the_newest_checkpoint(modal_fake, project: Path) -> None:
    from tests.helpers.modal_cli import run as mrun

    cfg = tiny_experiment(project, "pre", backend="modal", volume="tw-vol", code_dir=str(REPO))
    text = cfg.read_text().replace("epochs: 2", "epochs: 8")  # long enough to be killed mid-run
    cfg.write_text(text)
    res = mrun(modal_fake, "launch", str(cfg), "--run-name", "pre", "--json", timeout=180)
    assert res.code == 0, res.stderr
    call = res.json()["ids"]["function_call_id"]

    def checkpointed() -> int:
        st = json.loads(mrun(modal_fake, "status", "pre", "--json").stdout)
        return (st["checkpoints"].get("latest") or {}).get("step", 0)

    wait_for(lambda: checkpointed() >= 6, 180, interval=0.3, what="a checkpoint")
    killed_after = checkpointed()
    assert modal_fake.kill_container(call)
    st = json.loads(mrun(modal_fake, "status", "pre", "--json").stdout)
    assert st["progress"]["step"] < st["progress"]["steps_total"], "the kill must land mid-run"
    res = mrun(
        modal_fake, "wait", "pre", "--json", "--interval", "1", "--timeout", "240", timeout=300
    )
    assert res.code == 0, res.stdout + res.stderr
    doc = res.json()
    assert doc["verdict"] == "finished" and doc["resumes"] == 1 and doc["attempt"] == 2
    vol = modal_fake.volume_dir("tw-vol")
    events = [json.loads(x) for x in (vol / "runs/pre/events.jsonl").read_text().splitlines()]
    resumed = next(e for e in events if e["event"] == "resume")
    assert resumed["step"] >= killed_after  # from the newest complete checkpoint, not from scratch


def test_resume_with_math_changing_config_is_refused_before_launch(project: Path) -> None:
    cfg = tiny_experiment(project, "base")
    assert tw("launch", str(cfg), "--run-name", "base").code == 0
    assert tw("wait", "base", "--timeout", "240", "--interval", "0.5").code == 0
    before = (Path(__import__("os").environ["TRAINWARD_HOME"]) / "runs.jsonl").read_text()
    for args in (["--dry-run"], []):
        res = tw(
            "launch",
            str(cfg),
            "--run-name",
            "base",
            "--resume",
            "base",
            "--set",
            "train.lr=0.1",
            *args,
        )
        assert res.code == 2 and "train.lr: 0.003 then, 0.1 now" in res.stderr, res.stderr
    assert (
        Path(__import__("os").environ["TRAINWARD_HOME"]) / "runs.jsonl"
    ).read_text() == before  # nothing claimed
    ok = tw(
        "launch",
        str(cfg),
        "--run-name",
        "base2",
        "--resume",
        "base",
        "--set",
        "train.log_every=3",
        "--dry-run",
    )
    assert ok.code == 0, ok.stderr
