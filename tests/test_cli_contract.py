"""The CLI contract: --json everywhere, help on every command, exit codes, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from trainward.cli import COMMANDS, cli

from tests.conftest import REPO, tw, tw_proc

HEAVY = ("torch", "modal", "wandb", "numpy", "matplotlib", "mcp", "pydantic")


def _walk(group: click.Group, ctx: click.Context, prefix: str = ""):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        path = f"{prefix} {name}".strip()
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, ctx, path)
        else:
            yield path, cmd


def all_commands() -> list[tuple[str, click.Command]]:
    with click.Context(cli) as ctx:
        return list(_walk(cli, ctx))


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nfrom trainward.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_has_help_and_json() -> None:
    cmds = all_commands()
    assert {c.split()[0] for c, _ in cmds} >= set(COMMANDS)
    for path, cmd in cmds:
        assert (cmd.help or "").strip(), f"`trainward {path}` has no help text"
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert "--json" in opts, f"`trainward {path}` has no --json"
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.is_flag and p.name not in ("sets",):
                assert p.help, f"`trainward {path} {p.opts[0]}` has no help text"


def test_every_command_answers_help_without_error() -> None:
    for path, _ in all_commands():
        res = tw(*path.split(), "--help")
        assert res.code == 0 and "Usage:" in res.stdout, path


def test_usage_error_exits_2_without_traceback() -> None:
    res = tw("launch")
    assert res.code == 2 and "Missing argument" in res.stderr and "Traceback" not in res.stderr
    res = tw("no-such-command")
    assert res.code == 2


def test_unexpected_error_exits_1_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "afile"
    home.write_text("not a directory")
    cfg = tmp_path / "x.yaml"
    cfg.write_text("name: x\nentrypoint: {command: 'true'}\n")
    res = tw_proc("launch", str(cfg), env={"TRAINWARD_HOME": str(home)})
    assert res.code == 1
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert "TRAINWARD_DEBUG=1" in res.stderr


def test_no_prompt_ever_stdin_closed(tmp_path: Path) -> None:
    res = tw_proc("stop", "some-run")  # destructive: must refuse, never ask
    assert res.code == 4  # unknown run, answered without reading stdin


def test_json_error_document_on_stdout() -> None:
    res = tw("status", "ghost", "--json")
    doc = json.loads(res.stdout)
    assert res.code == 4 and doc["error"]["exit_code"] == 4 and doc["error"]["hint"]
    assert res.stderr.startswith("error: unknown run 'ghost'")


def test_click_usage_errors_print_the_json_error_document() -> None:
    res = tw("launch", "experiments/smoke-cpu.yaml", "--epochs", "0", "--json")
    doc = json.loads(res.stdout)
    assert res.code == 2 and doc["error"]["type"] == "usage" and doc["error"]["exit_code"] == 2
    assert (
        "--epochs" in doc["error"]["message"] and doc["error"]["hint"] == "trainward launch --help"
    )
    assert "Usage: trainward launch" in res.stderr
    assert json.loads(tw("no-such-command", "--json").stdout)["error"]["exit_code"] == 2
    res = tw("launch", "experiments/smoke-cpu.yaml", "--epochs", "0")
    assert res.code == 2 and res.stdout == ""  # without --json, stdout stays empty


def test_doctor_lists_home_once() -> None:
    for backend in ("local", "modal"):
        doc = json.loads(tw("doctor", "--backend", backend, "--json").stdout)
        assert [c["name"] for c in doc["checks"]].count("home") == 1, backend


def test_install_hints_do_not_assume_a_source_checkout(tmp_path: Path) -> None:
    from trainward.core import extras

    assert "-e '.[plot]'" in extras.install_hint("plot")  # this is a checkout
    site = tmp_path / "site-packages" / "trainward" / "core"
    site.mkdir(parents=True)
    (site / "extras.py").write_text(Path(extras.__file__).read_text())
    code = "import extras; print(extras.install_hint('plot')); print(extras.install_hint())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=site, capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == ["pip install 'trainward[plot]'", "pip install trainward"]


def test_version() -> None:
    res = tw("--version")
    assert res.code == 0 and "trainward" in res.stdout


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    blocks = [
        b.split("\n", 1)[1].strip() for b in readme.split("```")[1::2] if b.startswith("bash")
    ]
    test_cmd = next(b for b in blocks if "pytest" in b)
    assert test_cmd in ci.splitlines()
