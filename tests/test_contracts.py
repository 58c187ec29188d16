"""The typed documents: each round-trips through JSON, and reads the files older code wrote.

tests/fixtures/v1/ holds files written by trainward before the documents were typed (a real
local run of tests.helpers.ticker at commit 8ae2f1c): run.json, status.json, one registry
file, the local supervisor's spec.json (with its worker spec), and a launch plan. A reader
that cannot read them would strand every run already on a volume.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainward.backends.local import ProcSpec
from trainward.core.contracts import (
    ContractError,
    CostEstimate,
    LaunchPlan,
    RegistryRecord,
    ResourcePlan,
    ResumePlan,
    RunInfo,
    WandbIdentity,
    WorkerSpec,
    ledger_status_from_json,
    new_ledger_status,
)
from trainward.core.states import exit_meaning
from trainward.runs.registry import Registry

V1 = Path(__file__).parent / "fixtures" / "v1"


def load(name: str) -> dict:
    return json.loads((V1 / name).read_text())


def roundtrip(doc):  # through real JSON text, as on disk
    return type(doc).from_json(json.loads(json.dumps(doc.to_json(), allow_nan=False)))


def sample_info() -> RunInfo:
    return RunInfo(
        name="r1",
        experiment="smoke",
        config={"name": "smoke", "params": {"a": [1, 2]}},
        identity={"entrypoint": "builtin"},
        overrides={"train.epochs": 2},
        args=("--max-steps", "4"),
        price_per_hour=0.0,
        wandb=WandbIdentity(mode="online", project="p", id="abc", tags=("x",)),
        targets={"val_loss/total": "<1"},
        resume=ResumePlan("r0", "runs/r0/checkpoints/latest.pt", False),
    )


def test_worker_spec_round_trips() -> None:
    spec = WorkerSpec(
        run="r1",
        volume="v",
        experiment={"name": "smoke"},
        run_info=sample_info(),
        resume="runs/r0/checkpoints/latest.pt",
        deadline_s=600,
        max_runtime_s=3600,
        args=("--use-lora", "true"),
    )
    assert roundtrip(spec) == spec


def test_registry_record_and_launch_plan_round_trip() -> None:
    rec = RegistryRecord(run="r1", state="launched", ids={"pid": 12}, args=("a",))
    assert roundtrip(rec) == rec
    plan = LaunchPlan(
        run="r1",
        backend="local",
        experiment="smoke",
        config="x.yaml",
        config_hash="f" * 64,
        entrypoint={"command": ["python", "t.py"]},
        resources=ResourcePlan(gpu=None, cpu=2.0, memory_mb=4096, timeout_s=600, retries=1),
        volume="v",
        data={"action": "upload"},
        cost=CostEstimate(price_per_hour=0.0, price_source="local"),
    )
    assert roundtrip(plan) == plan


def test_ledger_status_round_trips_and_fills_defaults() -> None:
    st = new_ledger_status("r1")
    st["state"], st["step"] = "running", 7
    again = ledger_status_from_json(json.loads(json.dumps(st)))
    assert again == st
    sparse = ledger_status_from_json({"run": "r1", "state": "finished"})
    assert sparse["validation"] == [] and sparse["checkpoints"] == {} and sparse["step"] == 0


def test_wrong_types_name_the_document_and_field() -> None:
    with pytest.raises(ContractError, match="RegistryRecord: state"):
        RegistryRecord.from_json({"run": "r1", "state": "exploded"})
    with pytest.raises(ContractError, match="WorkerSpec: run_info: required"):
        WorkerSpec.from_json({"run": "r", "volume": "v", "experiment": {}})
    with pytest.raises(ContractError, match="step"):
        ledger_status_from_json({"run": "r", "step": "seven"})
    with pytest.raises(ContractError):
        RunInfo.from_json(["not", "a", "mapping"])


def test_files_written_before_the_documents_were_typed_still_read() -> None:
    info = RunInfo.from_json(load("run.json"))
    assert info.name == "fixture-run" and info.config["name"] == "fixture"
    assert info.wandb is not None and info.wandb.project == "fixture-proj"
    st = ledger_status_from_json(load("status.json"))
    assert st["state"] == "finished" and st["checkpoints"]["latest"]["sha256"]
    spec = ProcSpec.from_json(load("local-spec.json"))
    assert spec.worker_spec.run == "fixture-run" and spec.worker_spec.run_info.name == "fixture-run"
    plan = LaunchPlan.from_json(load("launch-plan.json"))
    assert plan.run == "fixture-run" and plan.resources.timeout_s == 300


def test_an_old_registry_file_reads_and_a_bad_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    good = (V1 / "runs.jsonl").read_bytes()
    path.write_bytes(good + b'{"run": "broken", "state": 42}\n' + b"\xff\xfe not json\n")
    reg = Registry(path)
    [rec] = reg.records()
    assert rec.run == "fixture-run" and rec.state == "launched" and rec.ids["pid"]
    assert len(reg.skipped) == 2 and "line" in reg.skipped[0]


@pytest.mark.parametrize(
    ("code", "asked", "state", "retry"),
    [
        (0, False, "finished", False),
        (0, True, "finished", False),
        (2, False, "failed", False),
        (75, False, "running", True),
        (124, False, "timed-out", False),
        (143, True, "stopped", False),
        (143, False, "preempted", True),
        (130, True, "stopped", False),
        (-15, False, "preempted", True),
        (1, False, "failed", True),
        (-9, False, "failed", True),
    ],
)
def test_one_table_says_what_an_exit_code_means(
    code: int, asked: bool, state: str, retry: bool
) -> None:
    meaning = exit_meaning(code, stop_requested=asked)
    assert (meaning.state, meaning.retry) == (state, retry)
