"""Your own program, unchanged (tests/helpers/plainprog.py has no trainward line), as a run on
the local backend: arguments after `--`, output watched, folder checkpoints found, pulled and
resumed, a stop that exits 143 read as a stop, a failure explained by its last lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainward.runs.program import expand

from tests.conftest import REPO, tw, wait_for, write_experiment

PROG = REPO / "tests" / "helpers" / "plainprog.py"


@pytest.fixture
def program(project: Path):
    def make(name: str, extra: str = "", retries: int = 0) -> Path:
        body = f"""name: {name}
backend: local
entrypoint: {{command: "python {PROG} --out {{run_dir}}/out --resume-from {{resume}}"}}
checkpoints: {{paths: ["out/checkpoint-*/"], settle: 0}}
resources: {{timeout: 5m, retries: {retries}}}
{extra}
"""
        return write_experiment(project / "experiments" / f"{name}.yaml", body)

    return make


def launch(cfg: Path, run: str, *args: str) -> dict:
    res = tw("launch", str(cfg), "--run-name", run, "--json", "--", *args)
    assert res.code == 0, res.stderr
    return res.json()


def status(run: str, *extra: str) -> dict:
    return tw("status", run, "--json", *extra).json()


def finished(run: str) -> dict:
    res = tw("wait", run, "--timeout", "120", "--interval", "0.3", "--json")
    assert res.code == 0, res.stdout + res.stderr
    return res.json()


def test_placeholders_and_a_missing_resume() -> None:
    values = {"run": "r", "run_dir": "/v/runs/r", "data_dir": "/d", "volume_root": "/v",
              "attempt": "1", "resume": ""}  # fmt: skip
    argv = ["p.py", "--out", "{run_dir}/out", "--resume-from", "{resume}", "--x={resume}"]
    assert expand(argv, values) == ["p.py", "--out", "/v/runs/r/out"]
    assert expand(argv, {**values, "resume": "/c"})[-3:] == ["--resume-from", "/c", "--x=/c"]


def test_a_plain_program_runs_with_its_arguments_and_its_checkpoints_pull(
    program, tmp_path
) -> None:
    plan = launch(program("plain"), "plain", "--steps", "6", "--save-every", "2")["plan"]
    assert plan["args"] == ["--steps", "6", "--save-every", "2"]
    doc = finished("plain")
    assert doc["verdict"] == "finished" and doc["timing"]["last_output_at"]
    latest = doc["checkpoints"]["latest"]
    assert (
        latest["path"] == "out/checkpoint-6" and latest["kind"] == "folder" and latest["step"] == 6
    )
    res = tw("pull", "plain", "--which", "latest", "--to", str(tmp_path), "--json")
    assert res.code == 0, res.stderr
    pulled = Path(res.json()["path"])
    assert json.loads((pulled / "trainer_state.json").read_text())["global_step"] == 6
    assert res.json()["verified_sha256"] == 2  # every file, by sha256
    lines = tw("logs", "plain", "--search", "step 6/6", "--json").json()["lines"]
    assert lines == ["step 6/6 loss 0.1667"]


def test_a_stop_that_exits_143_after_saving_is_stopped_and_pullable(program, tmp_path) -> None:
    launch(program("halted"), "halted", "--steps", "100000", "--interval", "0.05")
    wait_for(lambda: (status("halted")["timing"]["last_output_at"] or 0) > 0, 60, what="output")
    res = tw("stop", "halted", "--yes", "--json")
    assert res.code == 0 and res.json()["stopped"] is True
    doc = status("halted")
    assert doc["verdict"] == "stopped" and doc["state"] == "stopped", doc
    wait_for(lambda: status("halted")["checkpoints"].get("latest"), 30, what="the checkpoint")
    res = tw("pull", "halted", "--which", "latest", "--to", str(tmp_path), "--json")
    assert res.code == 0, res.stderr


def test_a_crash_is_retried_and_resumes_from_the_newest_checkpoint(program) -> None:
    cfg = program("crashy", retries=1)
    launch(cfg, "crashy", "--steps", "8", "--save-every", "2", "--fail-at", "5")
    doc = finished("crashy")
    assert doc["verdict"] == "finished" and doc["attempt"] == 2
    lines = tw("logs", "crashy", "--search", "resumed from", "--json").json()["lines"]
    assert lines == ["resumed from checkpoint-4 at step 4"]


def test_a_failure_says_its_last_lines(program) -> None:
    launch(program("broken"), "broken", "--steps", "8", "--fail-at", "3")
    res = tw("wait", "broken", "--timeout", "120", "--interval", "0.3", "--json")
    doc = res.json()
    assert res.code == 1 and doc["verdict"] == "failed"
    assert "exited with 1" in doc["reason"] and "CUDA out of memory (simulated)" in doc["reason"]


def test_alive_and_printing_is_running_alive_and_quiet_is_silent(program) -> None:
    launch(program("hush"), "hush", "--steps", "1000", "--quiet-at", "3")
    try:
        doc = wait_for(
            lambda: (d := status("hush", "--stale-after", "2"))["verdict"] == "silent" and d,
            60,
            interval=0.5,
            what="silent",
        )
        assert doc["compute"]["state"] == "running" and "no output" in doc["reason"]
    finally:
        tw("stop", "hush", "--yes")


def test_a_train_section_is_refused_for_your_own_program(program) -> None:
    cfg = program("nosection", extra="train: {epochs: 2}")
    res = tw("launch", str(cfg), "--dry-run")
    assert res.code == 2 and "params" in res.stderr
    res = tw("launch", str(program("noepochs")), "--epochs", "2", "--dry-run")
    assert res.code == 2 and "after `--`" in res.stderr


def test_resume_another_run_from_its_folder_checkpoint(program) -> None:
    cfg = program("first")
    launch(cfg, "first", "--steps", "4", "--save-every", "2")
    finished("first")
    # a new run continuing from `first`'s newest checkpoint, wherever its program wrote it
    res = tw(
        "launch",
        str(cfg),
        "--run-name",
        "third",
        "--resume",
        "first",
        "--json",
        "--",
        "--steps",
        "6",
    )
    assert res.code == 0, res.stderr
    assert res.json()["plan"]["resume"]["checkpoint"] == "runs/first/out/checkpoint-4"
    finished("third")
    lines = tw("logs", "third", "--search", "resumed from", "--json").json()["lines"]
    assert lines == ["resumed from checkpoint-4 at step 4"]
