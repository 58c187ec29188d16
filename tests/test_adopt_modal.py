"""Your own Modal app, adopted as it is (examples/modal_app): launched detached through the
real SDK against the Modal fake, then status, logs, stop, resume and pull on it like any run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REPO, wait_for, write_experiment
from tests.helpers.modal_cli import run, status, wait_finished

CONFIG = str(REPO / "examples" / "modal_app" / "experiment.yaml")


def launch(fake: Any, name: str, *args: str) -> dict[str, Any]:
    res = run(fake, "launch", CONFIG, "--run-name", name, "--json", "--", *args)
    assert res.code == 0, res.stdout + res.stderr
    return res.json()


def test_an_adopted_function_runs_detached_and_status_tells_the_truth(
    modal_fake: Any, tmp_path: Path
) -> None:
    plan = run(modal_fake, "launch", CONFIG, "--run-name", "wm1", "--dry-run", "--json",
               "--", "--epochs", "2", "--run-name", "{run}", "--config", "tiny").json()  # fmt: skip
    assert plan["entrypoint"]["kwargs"] == {"epochs": 2, "run_name": "wm1", "config": "tiny"}
    assert plan["environment"]["image"].startswith("your app's own")
    launch(modal_fake, "wm1", "--epochs", "2", "--run-name", "{run}", "--config", "tiny")
    done = wait_finished(modal_fake, "wm1")
    assert done["verdict"] == "finished" and done["state"] == "finished"
    assert done["checkpoints"]["latest"]["path"] == "ckpt_epoch2.npz"
    assert done["checkpoints"]["previous"]["path"] == "ckpt_epoch1.npz"
    assert done["progress"]["step"] == 2
    assert any("adopted Modal function" in n for n in done["notes"])
    # the run's identity reached the function (secret keys are listed, never values)
    keys = [set(s["keys"]) for s in modal_fake.state()["secrets"]]
    assert {"TRAINWARD_RUN", "TRAINWARD_RUN_PATH", "TRAINWARD_VOLUME"} in keys
    logs = run(modal_fake, "logs", "wm1", "--search", "epoch 2/2", "--json").json()["lines"]
    assert len(logs) == 1 and "loss" in logs[0]
    pulled = run(modal_fake, "pull", "wm1", "--which", "latest", "--to", str(tmp_path), "--json")
    assert pulled.code == 0, pulled.stderr
    doc = pulled.json()
    assert doc["verified_by"] == "size" and doc["size"] == done["checkpoints"]["latest"]["size"]
    assert Path(doc["path"]).stat().st_size == doc["size"]


def test_an_adopted_run_stops_and_resumes_from_its_last_checkpoint(modal_fake: Any) -> None:
    slow = ("--config", "tiny", "--run-name", "{run}", "--epoch-seconds", "1")
    launch(modal_fake, "wm2", "--epochs", "200", *slow)

    def epochs_written() -> int:
        latest = status(modal_fake, "wm2")["checkpoints"].get("latest") or {}
        return int(latest.get("step") or 0)

    wait_for(lambda: epochs_written() >= 2, timeout=120, interval=1, what="two checkpoints")
    assert run(modal_fake, "stop", "wm2", "--yes").code == 0
    stopped = wait_for(
        lambda: (s := status(modal_fake, "wm2"))["verdict"] == "stopped" and s,
        timeout=60, interval=0.5, what="stopped",
    )  # fmt: skip
    saved = stopped["checkpoints"]["latest"]["step"]
    # the same name again is refused unless it continues the run (trainward's --resume)
    res = run(modal_fake, "launch", CONFIG, "--run-name", "wm2", "--", "--epochs", "1")
    assert res.code == 2 and "--resume wm2" in res.stderr
    res = run(modal_fake, "launch", CONFIG, "--run-name", "wm2", "--resume", "wm2", "--json",
              "--", "--epochs", str(saved + 2), "--resume", *slow[:4])  # fmt: skip
    assert res.code == 0, res.stderr
    assert res.json()["plan"]["resume"]["checkpoint"] == f"runs/wm2/ckpt_epoch{saved}.npz"
    done = wait_finished(modal_fake, "wm2")
    assert done["verdict"] == "finished"
    assert done["checkpoints"]["latest"]["step"] == saved + 2
    lines = run(modal_fake, "logs", "wm2", "--search", "resumed from", "--json").json()["lines"]
    assert lines == [f"resumed from ckpt_epoch{saved}.npz (epoch {saved})"]


def test_adoption_errors_name_the_fix_and_claim_nothing(modal_fake: Any, project: Path) -> None:
    res = run(modal_fake, "launch", CONFIG, "--dry-run", "--", "--epochz", "2")
    assert res.code == 2 and "train() has no parameter 'epochz'" in res.stderr
    assert "--epochs (default 3)" in res.stderr and "Traceback" not in res.stderr
    res = run(modal_fake, "launch", CONFIG, "--dry-run", "--", "--epochs", "two")
    assert res.code == 2 and "--epochs 'two' is not a valid int" in res.stderr
    res = run(modal_fake, "launch", CONFIG, "--dry-run", "--backend", "local")
    assert res.code == 2 and "--backend modal" in res.stderr
    wrong = write_experiment(
        project / "wrong.yaml",
        "name: wrong\nbackend: modal\nentrypoint: {modal_function: examples/modal_app/modal_train.py::trian}\n"
        f"code_dir: {REPO}\n",
    )
    res = run(modal_fake, "launch", str(wrong), "--dry-run")
    assert res.code == 2 and "has no Modal function 'trian'" in res.stderr
    assert "train, upload_data" in res.stderr
    assert run(modal_fake, "runs", "--json").json()["runs"] == []
