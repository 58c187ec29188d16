"""The Python API (`import trainward as tw`): the same library calls the CLI makes.

docs/python-api.md runs as written; the README's Python lines are lines of it; the calls
give what the CLI's --json gives; `import trainward` stays cheap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trainward as tw
from trainward.api import documents
from trainward.errors import Refused, RunFailed, UsageError

from tests.conftest import EXPERIMENTS, REPO
from tests.conftest import tw as cli

DOC = REPO / "docs" / "python-api.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_the_python_api_doc_runs_as_written(project: Path, tmp_path: Path) -> None:
    (project / "experiments").mkdir()
    shutil.copy(EXPERIMENTS / "smoke-cpu.yaml", project / "experiments")
    script = tmp_path / "session.py"
    script.write_text("\n".join(python_blocks(DOC)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    assert out[0].startswith("api-demo local")
    assert out[1].split()[1] in ("pending", "running")
    assert out[2].startswith("finished 1 ")
    assert out[3].startswith("checkpoints/api-demo-best.pt")
    assert (project / "checkpoints" / "api-demo-best.pt").is_file()
    assert out[6] == "['api-demo']" and out[7] == "finished"
    assert out[-2] == "3 only if the user asked: trainward stop api-demo --yes"
    assert out[-1] == "False"


def test_the_readme_shows_lines_the_doc_runs() -> None:
    readme = python_blocks(REPO / "README.md")
    assert readme, "the README's Example has no Python block"
    executed = {
        line.split("#")[0].strip() for block in python_blocks(DOC) for line in block.splitlines()
    }
    for line in readme[0].splitlines():
        code = line.split("#")[0].strip()
        assert not code or code in executed, f"README line not in docs/python-api.md: {line}"


def test_launch_status_wait_logs_files_as_the_cli_reads_them(
    ticker_experiment, tmp_path: Path
) -> None:
    cfg = ticker_experiment(name="apitick", steps=3, interval=0.02)
    run = tw.launch(cfg, run_name="api-1", overrides={"params.steps": 6}, note=lambda m: None)
    assert run.name == "api-1" and run.backend == "local" and run.launched is not None
    assert run.launched.plan.overrides == {"params.steps": 6}
    final = run.wait(timeout=60, interval=0.1)
    assert final.verdict == "finished" and final.progress.step == 6
    assert tw.status("api-1").to_dict()["verdict"] == "finished"
    assert [r.name for r in tw.runs()] == ["api-1"]
    assert json.loads(cli("runs", "--json").stdout) == documents.runs_document()
    assert json.loads(cli("logs", "api-1", "--json").stdout)["lines"] == run.logs()
    files = json.loads(cli("files", "api-1", "checkpoints", "--json").stdout)["files"]
    assert files == run.files("checkpoints") and {f["path"] for f in files} >= {
        "checkpoints/latest.pt",
        "checkpoints/best.pt",
    }
    pulled = run.pull("latest", to=tmp_path / "pulled")
    assert pulled["verified"] and Path(pulled["path"]).is_file()
    with pytest.raises(Refused):
        run.stop()
    assert run.stop(yes=True)["stopped"] is False


def test_wait_raises_run_failed_unless_it_finished(ticker_experiment) -> None:
    cfg = ticker_experiment(name="apifail", steps=5, interval=0.01, extra="")
    run = tw.launch(cfg, run_name="api-fail", overrides=["params.fail_at=2"], note=lambda m: None)
    with pytest.raises(RunFailed, match="boom at step 2"):
        run.wait(timeout=60, interval=0.1)
    assert run.wait(timeout=60, interval=0.1, check=False).verdict == "failed"


def test_plan_touches_nothing_and_matches_the_dry_run(ticker_experiment) -> None:
    cfg = ticker_experiment(name="apiplan")
    plan = tw.plan(cfg, run_name="p1", epochs=None, overrides={"params.steps": 3})
    assert plan.run == "p1" and plan.overrides == {"params.steps": 3}
    dry = json.loads(
        cli(
            "launch", str(cfg), "--run-name", "p1", "--set", "params.steps=3", "--json", "--dry-run"
        ).stdout
    )
    assert dry == documents.plan_document(plan)
    assert tw.runs() == []
    with pytest.raises(UsageError):
        tw.status("all")
    with pytest.raises(UsageError, match="mapping or a list"):
        tw.plan(cfg, overrides="params.steps=3")


def test_sweep_dry_run_plans_without_starting() -> None:
    sw = tw.sweep(EXPERIMENTS / "sweep-smoke.yaml", dry_run=True)
    assert sw.name == "sweep-smoke" and not sw.started
    assert [r.name for r in sw.runs] == ["sweep-smoke-mamba2", "sweep-smoke-gru", "sweep-smoke-mlp"]
    assert list(sw.plan.budget.over) == [] and tw.runs() == []


def test_import_is_cheap_and_runs_and_sweep_stay_callable() -> None:
    code = (
        "import sys, trainward as tw\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('trainward.', 'click', 'yaml')))\n"
        "import trainward.runs.registry, trainward.sweep.spec\n"
        "print(loaded, tw.runs(), callable(tw.sweep), tw.api.runs is not None)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == "['trainward.runs', 'trainward.sweep'] [] True True"
