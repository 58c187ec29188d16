"""The run registry: concurrent appends are safe, and one run name is claimed exactly once."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest
from trainward.core.contracts import RegistryRecord
from trainward.core.states import LAUNCHED, LAUNCHING, NOT_LAUNCHED
from trainward.errors import RunExists, RunNotFound
from trainward.runs.registry import Registry

from tests.conftest import tw


def _claim(path: str, name: str, barrier: mp.synchronize.Barrier, results: mp.Queue) -> None:
    reg = Registry(Path(path))
    barrier.wait()
    try:
        rec = reg.claim(RegistryRecord(run=name, backend="local"))
        reg.update(rec, state=LAUNCHED)
        results.put("won")
    except RunExists as err:
        results.put(f"lost: {err.message}")


def _race(path: Path, names: list[str]) -> list[str]:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(names))
    results: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(path), n, barrier, results)) for n in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    return [results.get(timeout=5) for _ in procs]


def test_same_name_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    outcomes = _race(path, ["dup"] * 8)
    assert outcomes.count("won") == 1, outcomes
    assert all("already" in o or "being launched" in o for o in outcomes if o != "won")
    assert Registry(path).get("dup").state == LAUNCHED


def test_concurrent_appends_of_different_names_all_land(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    names = [f"r{i}" for i in range(12)]
    assert _race(path, names).count("won") == 12
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # no interleaved, torn lines
    assert {r.run for r in Registry(path).records()} == set(names)


def test_not_launched_name_can_be_reused_and_launched_cannot(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "runs.jsonl")
    rec = reg.claim(RegistryRecord(run="a"))
    reg.update(rec, state=NOT_LAUNCHED, reason="image build failed")
    rec2 = reg.claim(RegistryRecord(run="a"))
    reg.update(rec2, state=LAUNCHED)
    with pytest.raises(RunExists):
        reg.claim(RegistryRecord(run="a"))
    assert reg.claim(RegistryRecord(run="a"), allow_existing=lambda r: True).state == LAUNCHING


def test_dead_launcher_claim_is_settled(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "runs.jsonl")
    rec = reg.claim(RegistryRecord(run="orphan"))
    # Pretend the launcher died: rewrite its pid to one that cannot exist.
    reg.update(rec, launcher_pid=2**22 + 12345)
    dead = reg.get("orphan")
    assert reg.view(dead, lambda r: None).state == NOT_LAUNCHED
    found = reg.view(dead, lambda r: {"pid": 7})
    assert found.state == LAUNCHED and found.ids == {"pid": 7}
    # A new claim settles it under the lock; here the backend has no such run.
    new = reg.claim(RegistryRecord(run="orphan"), settle=lambda r: None)
    assert new.launcher_pid == os.getpid()


def test_live_launcher_blocks_a_second_claim(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "runs.jsonl")
    reg.claim(RegistryRecord(run="busy"))
    with pytest.raises(RunExists, match="being launched right now"):
        reg.claim(RegistryRecord(run="busy"))


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    reg = Registry(path)
    reg.update(reg.claim(RegistryRecord(run="ok")), state=LAUNCHED)
    with open(path, "a") as fh:
        fh.write('{"run": "half", "sta')
    assert [r.run for r in reg.records()] == ["ok"]


def test_unknown_run_lists_known_runs(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "runs.jsonl")
    for name in ("alpha", "beta"):
        reg.update(reg.claim(RegistryRecord(run=name)), state=LAUNCHED)
    with pytest.raises(RunNotFound) as info:
        reg.resolve("gamma")
    assert "alpha" in info.value.hint and "beta" in info.value.hint
    assert reg.resolve("latest").run == "beta"


def test_status_of_unknown_run_exits_4_with_hint(tw_home: Path) -> None:
    reg = Registry()
    reg.update(
        reg.claim(RegistryRecord(run="known-run", backend="local", volume="v")), state=LAUNCHED
    )
    res = tw("status", "NOPE")
    assert res.code == 4
    assert "unknown run 'NOPE'" in res.stderr and "known-run" in res.stderr
    assert "Traceback" not in res.stderr
    res = tw("status", "NOPE", "--json")
    assert res.code == 4 and res.json()["error"]["type"] == "run-not-found"


def test_empty_registry_latest(tw_home: Path) -> None:
    res = tw("status", "latest")
    assert res.code == 4 and "no runs yet" in res.stderr and "trainward launch" in res.stderr


def test_resolve_by_backend_id(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "runs.jsonl")
    rec = reg.claim(RegistryRecord(run="m", backend="modal"))
    reg.update(
        rec, state=LAUNCHED, ids={"app_id": "ap-" + "a" * 22, "function_call_id": "fc-" + "b" * 22}
    )
    assert reg.resolve("ap-" + "a" * 22).run == "m"
    assert reg.resolve("fc-" + "b" * 22).run == "m"
    with pytest.raises(RunNotFound):
        reg.resolve("fc-" + "c" * 22)
