"""A run's environment: checked before a local launch, built into the Modal image (the fake
records every image's Dockerfile commands), and shown by a dry run."""

from __future__ import annotations

from pathlib import Path

from trainward.backends.modal.image import BUILTIN, RUNTIME

from tests.conftest import REPO, tw, write_experiment
from tests.helpers.modal_cli import run, wait_finished


def experiment(project: Path, name: str, backend: str, env: str) -> Path:
    body = f"""name: {name}
backend: {backend}
entrypoint: {{command: "python tests/helpers/printenv.py MY_FLAG"}}
code_dir: {REPO}
environment: {env}
resources: {{timeout: 5m, retries: 0}}
volume: tw-vol
"""
    return write_experiment(project / "experiments" / f"{name}.yaml", body)


def test_missing_packages_are_named_before_a_local_launch(project: Path) -> None:
    cfg = experiment(project, "needy", "local", "{pip: [surely-not-installed-pkg==1.0, click>=99]}")
    res = tw("launch", str(cfg), "--dry-run")
    assert res.code == 2
    assert "surely-not-installed-pkg is not installed" in res.stderr and "click 8." in res.stderr
    assert "pip install 'surely-not-installed-pkg==1.0' 'click>=99'" in res.stderr
    assert tw("runs", "--json").json()["runs"] == []  # nothing claimed


def test_the_environment_reaches_a_local_program(project: Path) -> None:
    cfg = experiment(project, "flagged", "local", "{pip: [click], env: {MY_FLAG: 'on'}}")
    assert tw("launch", str(cfg), "--run-name", "flagged").code == 0
    assert tw("wait", "flagged", "--timeout", "120", "--interval", "0.3").code == 0
    assert tw("logs", "flagged", "--search", "flag=", "--json").json()["lines"] == ["flag=on"]


def test_the_modal_image_follows_the_environment(modal_fake, project: Path) -> None:
    env = "{pip: [trl==1.16.0], apt: [git], env: {MY_FLAG: 'on'}, python: '3.12'}"
    cfg = experiment(project, "imaged", "modal", env)
    plan = run(modal_fake, "launch", str(cfg), "--dry-run", "--json").json()
    steps = plan["environment"]["image"]
    assert steps[0] == "debian_slim(python_version=3.12)" and steps[1] == "apt_install(git)"
    assert "uv_pip_install(trl==1.16.0)" in steps and not any("torch" in s for s in steps)
    assert run(modal_fake, "launch", str(cfg), "--run-name", "imaged").code == 0
    assert wait_finished(modal_fake, "imaged")["verdict"] == "finished"
    commands = [c for image in modal_fake.state()["images"] for c in image["commands"]]
    assert any("trl==1.16.0" in c for c in commands) and any("git" in c for c in commands)
    res = run(modal_fake, "logs", "imaged", "--search", "flag=", "--json")
    assert res.json()["lines"] == ["flag=on"]


def test_the_default_image_pins_are_the_tested_versions() -> None:
    pins = set((REPO / "constraints.txt").read_text().lower().split())
    assert {p.lower() for p in (*RUNTIME, *BUILTIN)} <= pins
