"""The sweep's typed documents: each round-trips through JSON, and reads what older code wrote.

tests/fixtures/v1/ holds a sweep written before these types existed (a real local sweep of
two ticker runs at commit 8ae2f1c, generated with `git worktree add /tmp/oldsweep 8ae2f1c`
and `PYTHONPATH=/tmp/oldsweep/lib`): its plan.json, state.json, results.json, one job's
result and the sweeps.jsonl record. A reader that cannot read them would strand every sweep
already on a volume.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from trainward.core.contracts import ContractError, RunInfo, WorkerSpec
from trainward.core.sweep_contracts import (
    JobStatus,
    MemberPlan,
    MemberStatus,
    SweepPlan,
    SweepRecord,
    SweepState,
    ValidationJob,
    ValidationPlan,
)
from trainward.sweep.controller import Controller
from trainward.sweep.results import merge, render

from tests.conftest import tw
from tests.test_sweep_controller import MemoryExecutor

V1 = Path(__file__).parent / "fixtures" / "v1"


def load(name: str) -> dict:
    return json.loads((V1 / name).read_text())


def roundtrip(doc):  # through real JSON text, as on disk
    return type(doc).from_json(json.loads(json.dumps(doc.to_json(), allow_nan=False)))


def slice_job() -> ValidationJob:
    return ValidationJob(
        job_id="slice-a-b-0-ba",
        kind="slice",
        a="s-a",
        b="s-b",
        member_a="a",
        member_b="b",
        direction="ba",
        matchups=("x-y",),
        count=40,
        seed=7,
        command=("python", "-m", "v"),
        timeout_s=60,
    )


def test_the_plan_round_trips() -> None:
    spec = WorkerSpec(run="s-a", volume="v", experiment={"name": "e"}, run_info=RunInfo(name="s-a"))
    member = MemberPlan(
        experiment={"name": "e", "params": {"x": [1, 2]}},
        config_path="e.yaml",
        timeout_s=600,
        config_hash="h",
        member="a",
        overrides=(("params.x", 1),),
        args=("--mode", "specialist"),
        deploy={"w.toml": "data/w/a.toml"},
        resources_key="none_c2",
        worker_spec=spec,
    )
    plan = SweepPlan(
        sweep="s",
        backend="modal",
        mode="validate-only",
        members={"s-a": member},
        plan_id="abc",
        validation=ValidationPlan(command=("python", "-m", "v"), matchups=("x-y",), timeout_s=60),
    )
    assert roundtrip(plan) == plan and plan.deploys_members and plan.validation.user_program


def test_the_state_and_the_record_round_trip() -> None:
    state = SweepState(
        sweep="s",
        plan_id="abc",
        members={
            "s-a": MemberStatus(
                state="finished", artifacts={"w.toml": {"sha256": "0" * 64, "size": 3}}
            )
        },
        errors=["s-b: it did not write w.toml"],
    )
    state.validation.jobs["j"] = JobStatus(
        job=slice_job(), state="failed", attempts=2, error="boom"
    )
    assert roundtrip(state) == state
    rec = SweepRecord(sweep="s", state="starting", members=("s-a",), launcher_pid=12)
    assert roundtrip(rec) == rec and roundtrip(slice_job()) == slice_job()


def test_wrong_types_name_the_document_and_the_field() -> None:
    with pytest.raises(ContractError, match=r"SweepState: members\.s-a\.state"):
        SweepState.from_json({"sweep": "s", "members": {"s-a": {"state": "exploded"}}})
    with pytest.raises(ContractError, match="SweepRecord: sweep: required"):
        SweepRecord.from_json({"backend": "local"})


def test_the_v1_files_read() -> None:
    plan = SweepPlan.from_json(load("sweep-plan.json"))
    assert plan.members["v1sweep-weak"].overrides == (("params.skill", 0.1),)
    assert plan.validation.evaluate == "tests.helpers.ticker:evaluate" and plan.version == 1
    assert plan.budget.runs["v1sweep-weak"].basis == "one attempt at its timeout"
    state = SweepState.from_json(load("sweep-state.json"))
    assert state.phase == "done" and state.winner == "v1sweep-strong" and state.plan_id is None
    job = state.validation.jobs["eval-v1sweep-weak-0"]
    assert job.job.kind == "evaluate" and job.job.games == (0, 1) and job.state == "done"
    (line,) = (V1 / "sweeps.jsonl").read_text().splitlines()
    rec = SweepRecord.from_json(json.loads(line))
    assert rec.state == "started" and rec.members == ("v1sweep-weak", "v1sweep-strong")
    old_job = load("sweep-job-result.json")  # a job's result, merged by today's code
    merged = merge([old_job], ["v1sweep-weak"], mode="held-out", metric="score", better="max",
                   games=[0, 1])  # fmt: skip
    assert merged["leaderboard"][0]["mean"] == pytest.approx(0.1125)
    text = render(load("sweep-results.json"), "v1sweep")  # a bare win rate per matrix cell
    assert "| v1sweep-strong | - | 100.0% |" in text  # the row beat the column in every game


def test_a_v1_state_is_validated_afresh_by_a_new_start(tmp_path: Path) -> None:
    """A new plan (validate-only of an old sweep) keeps the trained members, validates anew."""
    sweep_dir = tmp_path / "sweeps" / "v1sweep"
    sweep_dir.mkdir(parents=True)
    shutil.copy(V1 / "sweep-state.json", sweep_dir / "state.json")
    plan = SweepPlan.from_json(load("sweep-plan.json")).replace(plan_id="new", mode="validate-only")
    ctl = Controller(plan, tmp_path, MemoryExecutor())
    assert ctl.state.plan_id == "new" and ctl.state.validation.jobs == {}
    assert {m.state for m in ctl.state.members.values()} == {"finished"}
    assert ctl.state.members["v1sweep-weak"].ids["pid"] == 10058  # kept from the old state


def test_status_reads_a_sweep_written_by_older_code(tw_home: Path) -> None:
    sweep_dir = tw_home / "volumes" / "trainward" / "sweeps" / "v1sweep"
    sweep_dir.mkdir(parents=True)
    for name in ("state", "results"):
        shutil.copy(V1 / f"sweep-{name}.json", sweep_dir / f"{name}.json")
    records = (V1 / "sweeps.jsonl").read_text() + '{"sweep": "v1sweep", "mode": "exploded"}\n'
    (tw_home / "sweeps.jsonl").write_text(records)
    res = tw("status", "v1sweep", "--json")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["state"] == "done" and doc["winner"] == "v1sweep-strong"
    assert doc["errors"] == ["sweeps.jsonl line 2: SweepRecord: mode: 'exploded' is not one of "
                             "full, train-only, validate-only"]  # fmt: skip
    assert doc["validation"]["leaderboard"][0]["run"] == "v1sweep-strong"
    assert doc["cost"]["total_usd"] == 0.0 and len(doc["cost"]["jobs"]) == 4
    text = tw("status", "v1sweep").stdout
    assert "### Matrix" in text and "100.0%" in text
