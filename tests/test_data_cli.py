"""The `data` commands, `launch` syncing data, and `pull --folder`, driven through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from trainward.backends.local import LocalBackend
from trainward.cli.data import data
from trainward.core.contracts import RegistryRecord
from trainward.core.states import LAUNCHED
from trainward.data.manifest import write_local_manifest
from trainward.runs.ledger import LedgerWriter, run_path
from trainward.runs.registry import Registry

from tests.conftest import REPO, tw, write_experiment
from tests.test_datasync import make_dataset, rewrite_same_size

VOL = "data"


def push(src: Path, *extra: str, dest: str = "datasets/cli"):
    return tw("data", "push", str(src), "--volume", VOL, "--to", dest, *extra)


def volume_dir(dest: str = "datasets/cli") -> Path:
    return LocalBackend().volume_root(VOL) / dest


def test_push_then_status_then_incremental_push(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 30)
    res = push(src, "--json")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert (
        doc["uploaded_files"] == doc["files_to_upload"] == doc["files"] == 30
        and doc["remote_manifest"] == "missing"
    )
    assert (
        doc["manifest_path"] == "datasets/cli/.trainward-manifest.json"
        and (volume_dir() / ".trainward-manifest.json").exists()
    )
    rewrite_same_size(src / "part-1" / "f-0009.bin")
    (src / "extra.bin").write_bytes(b"new file")
    status = tw(
        "data", "status", str(src), "--volume", VOL, "--to", "datasets/cli", "--json"
    ).json()
    assert (status["new"], status["changed"], status["up_to_date"]) == (1, 1, False)
    assert status["paths"]["new"] == ["extra.bin"] and status["paths"]["changed"] == [
        "part-1/f-0009.bin"
    ]
    again = push(src, "--json").json()
    assert again["uploaded_files"] == 2 and again["unchanged"] == 29
    assert (volume_dir() / "extra.bin").read_bytes() == b"new file"
    text = push(src)
    assert text.code == 0 and "is up to date (31 files" in text.stdout


def test_dry_run_uploads_nothing(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 4)
    doc = push(src, "--dry-run", "--json").json()
    assert doc["dry_run"] and doc["files_to_upload"] == 4 and doc["uploaded_files"] == 0
    assert not volume_dir().exists()


def test_delete_needs_yes_and_names_the_files(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 5)
    assert push(src).code == 0
    (src / "part-2" / "f-0002.bin").unlink()
    res = push(src, "--delete", "--json")
    assert res.code == 3 and "part-2/f-0002.bin" in res.stderr and "--yes" in res.stderr
    assert res.json()["error"]["details"]["files"] == ["part-2/f-0002.bin"]
    assert (volume_dir() / "part-2" / "f-0002.bin").exists()
    kept = push(src, "--json").json()  # without --delete, the remote-only file is kept and reported
    assert kept["remote_only"] == 1 and kept["deleted"] == 0
    doc = push(src, "--delete", "--yes", "--json").json()
    assert doc["deleted"] == 1 and doc["paths"]["deleted"] == ["part-2/f-0002.bin"]
    assert not (volume_dir() / "part-2" / "f-0002.bin").exists()
    status = tw(
        "data", "status", str(src), "--volume", VOL, "--to", "datasets/cli", "--verify", "--json"
    ).json()
    assert (
        status["up_to_date"] and status["remote_only"] == 0 and status["verified"]["missing"] == []
    )


def test_usage_errors_exit_2_and_missing_dir_exits_4(tmp_path: Path) -> None:
    make_dataset(tmp_path / "ds", 1)
    res = push(tmp_path / "ds", dest="../escape")
    assert res.code == 2 and "inside the volume" in res.stderr
    assert push(tmp_path / "nope").code == 4


def test_the_group_through_click_runner(tmp_path: Path) -> None:
    src = tmp_path / "ds"
    make_dataset(src, 3)
    result = CliRunner().invoke(
        data, ["push", str(src), "--volume", VOL, "--to", "datasets/cr", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["uploaded_files"] == 3 and result.stderr == ""
    result = CliRunner().invoke(data, ["status", str(src), "--volume", VOL, "--to", "datasets/cr"])
    assert result.exit_code == 0 and "is up to date (3 files" in result.stdout


def test_generate_writes_the_synthetic_dataset(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    res = tw(
        "data", "generate", str(out), "--games", "3", "--frames", "12", "--seed", "1", "--json"
    )
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["files"] == 3 and doc["bytes"] > 0 and len(list(out.glob("game-*.npy"))) == 3


def test_launch_syncs_the_data_and_plans_what_it_would_upload(
    project: Path, tmp_path: Path
) -> None:
    src = project / "mydata"
    make_dataset(src, 12)
    cfg = write_experiment(
        project / "experiments" / "withdata.yaml",
        f"""name: withdata
backend: local
entrypoint: tests.helpers.ticker:main
code_dir: {REPO}
params: {{steps: 2, interval: 0.01}}
data: {{dataset: mine, source: mydata}}
""",
    )
    plan = tw("launch", str(cfg), "--dry-run", "--json").json()
    assert plan["data"]["action"] == "upload" and plan["data"]["sync"]["files_to_upload"] == 12
    res = tw("launch", str(cfg), "--run-name", "wd", "--json")
    assert res.code == 0, res.stderr
    assert res.json()["plan"]["data"]["synced"]["uploaded_files"] == 12
    on_volume = LocalBackend().volume_root("trainward") / "datasets/mine"
    assert len([p for p in on_volume.rglob("*.bin")]) == 12
    rewrite_same_size(src / "part-0" / "f-0000.bin")
    plan = tw("launch", str(cfg), "--dry-run", "--json").json()
    assert plan["data"]["sync"] == {
        "files_to_upload": 1,
        "upload_bytes": 600,
        "unchanged": 11,
        "up_to_date": False,
    }
    tw("wait", "wd", "--timeout", "60", "--interval", "0.2")


# -- pull --folder -----------------------------------------------------------------------------


def fake_run(run: str, files: dict[str, bytes], *, manifest: bool) -> Path:
    """A finished run in the registry whose results/ folder holds `files` (optionally with a manifest)."""
    backend = LocalBackend()
    backend.ensure_volume(VOL)
    run_dir = backend.volume_root(VOL) / run_path(run)
    writer = LedgerWriter.start(run_dir, {"name": run})
    ckpt = b"checkpoint bytes"
    (run_dir / "checkpoints" / "latest.pt").write_bytes(ckpt)
    writer.record_checkpoint(
        "latest",
        "checkpoints/latest.pt",
        step=1,
        epoch=1,
        sha256=hashlib.sha256(ckpt).hexdigest(),
        size=len(ckpt),
    )
    writer.finish()
    for rel, blob in files.items():
        (run_dir / "results" / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / "results" / rel).write_bytes(blob)
    if manifest:
        write_local_manifest(run_dir / "results")
    reg = Registry()
    reg.update(reg.claim(RegistryRecord(run=run, backend="local", volume=VOL)), state=LAUNCHED)
    return run_dir


RESULTS = {"table.csv": b"a,b\n1,2\n", "plots/loss.png": b"\x89PNG" + b"0" * 300}


def test_pull_folder_verified_by_the_trainers_manifest(tmp_path: Path) -> None:
    run_dir = fake_run("pf", RESULTS, manifest=True)
    out = tmp_path / "out"
    res = tw("pull", "pf", "--folder", "results", "--to", str(out), "--json")
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["verified_by"] == "manifest" and doc["files"] == 2 and doc["verified_sha256"] == 2
    assert (out / "plots/loss.png").read_bytes() == RESULTS["plots/loss.png"]
    assert not (out / ".trainward-manifest.json").exists()
    again = tw("pull", "pf", "--folder", "results", "--to", str(out), "--json").json()
    assert again["already_present"] == 2 and again["downloaded_bytes"] == 0
    # Corrupt one file on the volume, same size: detected, the local copy untouched, the other kept.
    (run_dir / "results" / "table.csv").write_bytes(b"a,b\n9,9\n")
    (out / "table.csv").write_bytes(b"my older copy")
    res = tw("pull", "pf", "--folder", "results", "--to", str(out))
    assert (
        res.code == 1
        and "1 of 2 file(s)" in res.stderr
        and "table.csv" in res.stderr
        and "untouched" in res.stderr
    )
    assert (out / "table.csv").read_bytes() == b"my older copy"
    assert not list(out.rglob("*.part")) and (out / "plots/loss.png").exists()


def test_pull_folder_resumes_a_partial_download(tmp_path: Path) -> None:
    fake_run("pr", RESULTS, manifest=True)
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "loss.png.part").write_bytes(RESULTS["plots/loss.png"][:100])
    doc = tw("pull", "pr", "--folder", "results", "--to", str(out), "--json").json()
    assert (
        doc["downloaded_bytes"] == len(RESULTS["table.csv"]) + len(RESULTS["plots/loss.png"]) - 100
    )
    assert (out / "plots/loss.png").read_bytes() == RESULTS["plots/loss.png"]


def test_pull_folder_without_manifest_checks_sizes_and_records_sha256(tmp_path: Path) -> None:
    fake_run("ps", RESULTS, manifest=False)
    out = tmp_path / "out"
    doc = tw("pull", "ps", "--folder", "results", "--to", str(out), "--json").json()
    assert doc["verified_by"] == "size" and doc["verified_size_only"] == 2
    record = json.loads((out / ".trainward-pull.json").read_text())["files"]
    assert record["table.csv"]["sha256"] == hashlib.sha256(RESULTS["table.csv"]).hexdigest()
    assert record["table.csv"]["verified"] == "size"
    again = tw("pull", "ps", "--folder", "results", "--to", str(out), "--json").json()
    assert again["already_present"] == 2


def test_pull_checkpoints_folder_uses_the_ledger_index_and_is_read_only(tmp_path: Path) -> None:
    run_dir = fake_run("pc", {}, manifest=False)
    before = sorted(
        (p.relative_to(run_dir).as_posix(), p.stat().st_mtime_ns) for p in run_dir.rglob("*")
    )
    doc = tw("pull", "pc", "--folder", "checkpoints", "--to", str(tmp_path / "ck"), "--json").json()
    assert doc["verified_by"] == "ledger" and doc["verified_sha256"] == 1
    assert (
        sorted(
            (p.relative_to(run_dir).as_posix(), p.stat().st_mtime_ns) for p in run_dir.rglob("*")
        )
        == before
    )
    (run_dir / "checkpoints" / "latest.pt").write_bytes(b"checkpoint BYTES")
    again = tw(
        "pull", "pc", "--folder", "checkpoints", "--to", str(tmp_path / "ck"), "--json"
    ).json()
    assert again["already_present"] == 1  # the local copy matches the ledger: nothing to fetch
    res = tw("pull", "pc", "--folder", "checkpoints", "--to", str(tmp_path / "fresh"))
    assert res.code == 1 and "does not match the ledger" in res.stderr
    assert not (tmp_path / "fresh" / "latest.pt").exists()
    missing = tw("pull", "pc", "--folder", "nope", "--to", str(tmp_path / "x"))
    assert missing.code == 4 and "checkpoints" in missing.stderr
    assert tw("pull", "pc", "--folder", "../../etc", "--to", str(tmp_path / "x")).code == 2
