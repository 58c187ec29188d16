"""The skills follow the Agent Skills spec and the project's rules, and `trainward skills
install` puts them and a working guard hook into a project or a home, idempotently and
without clobbering existing settings."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from trainward import __version__
from trainward.errors import ConfigError, NotFound
from trainward.guard import hookcommand
from trainward.integrations import skills as skills_lib
from trainward.integrations.skills import (
    MAX_BODY_LINES,
    SKILL_FILE,
    check_skill,
    hook_command,
    read_skills,
    source_dir,
    split_frontmatter,
)
from trainward.integrations.stamps import digest, stamp, unstamp

from tests.conftest import REPO, tw

SKILLS = REPO / "skills"
NAMES = {"gpu-train", "check-training", "train-sweep", "pull-results", "stop-training"}
TRIGGERS = {
    "gpu-train": ["train on GPU", "launch training", "run on Modal", "/gpu-train", "setup"],
    "check-training": ["check training", "how's the run", "training status", "pull checkpoint"],
    "train-sweep": ["sweep", "sweep status"],
    "pull-results": ["pull checkpoint", "pull results"],
    "stop-training": ["stop training", "stop the run"],
}
PRE_TOOL_USE = {
    "session_id": "s-1",
    "transcript_path": "/tmp/transcript.jsonl",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": "modal run train.py", "description": "train"},
}
VENV_BIN = Path(sys.executable).parent


def skill_dirs() -> list[Path]:
    return sorted(p.parent for p in SKILLS.glob(f"*/{SKILL_FILE}"))


def body_of(name: str) -> str:
    return split_frontmatter((SKILLS / name / SKILL_FILE).read_text(), name)[1]


# -- the skills themselves ---------------------------------------------------------------


def test_the_five_skills_ship() -> None:
    assert {d.name for d in skill_dirs()} == NAMES
    assert source_dir() == SKILLS  # a source checkout reads the repo's skills/
    assert [s.name for s in read_skills()] == sorted(NAMES)


@pytest.mark.parametrize("directory", skill_dirs(), ids=lambda d: d.name)
def test_skill_follows_the_spec(directory: Path) -> None:
    assert check_skill(directory) == []
    text = (directory / SKILL_FILE).read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])  # independent of the library's parser
    assert meta["name"] == directory.name
    assert set(meta) <= {
        "name",
        "description",
        "license",
        "compatibility",
        "metadata",
        "allowed-tools",
    }
    assert 0 < len(meta["description"]) <= 1024
    assert "allowed-tools" not in meta, "pre-approving tools would skip the guard's asks"


BAD = {
    "unknown key": "---\nname: x-y\ndescription: d\nversion: 1\n---\nbody\n",
    "name differs from folder": "---\nname: other\ndescription: d\n---\nbody\n",
    "upper case": "---\nname: X-Y\ndescription: d\n---\nbody\n",
    "missing description": "---\nname: x-y\n---\nbody\n",
    "empty description": "---\nname: x-y\ndescription: ''\n---\nbody\n",
    "long description": "---\nname: x-y\ndescription: " + "a" * 1025 + "\n---\nbody\n",
    "xml in description": "---\nname: x-y\ndescription: use <b>me</b>\n---\nbody\n",
    "bad yaml": "---\nname: x-y\ndescription: [unclosed\n---\nbody\n",
    "no frontmatter": "# just markdown\n",
    "no body": "---\nname: x-y\ndescription: d\n---\n\n",
    "long body": "---\nname: x-y\ndescription: d\n---\n" + "line\n" * (MAX_BODY_LINES + 1),
    "long compatibility": "---\nname: x-y\ndescription: d\ncompatibility: "
    + "c" * 501
    + "\n---\nb\n",
}


@pytest.mark.parametrize("case", BAD)
def test_spec_violations_are_caught(tmp_path: Path, case: str) -> None:
    directory = tmp_path / "x-y"
    directory.mkdir()
    (directory / SKILL_FILE).write_text(BAD[case])
    assert check_skill(directory), case


@pytest.mark.parametrize("name", ["a--b", "-ab", "ab-", "a" * 65, "claude-helper", "my_skill"])
def test_bad_names_are_caught(tmp_path: Path, name: str) -> None:
    directory = tmp_path / name
    directory.mkdir()
    (directory / SKILL_FILE).write_text(f"---\nname: {name}\ndescription: d\n---\nbody\n")
    assert any("name:" in p for p in check_skill(directory))


@pytest.mark.parametrize("name", sorted(NAMES))
def test_description_carries_the_trigger_phrases(name: str) -> None:
    meta, _ = split_frontmatter((SKILLS / name / SKILL_FILE).read_text(), name)
    for phrase in TRIGGERS[name]:
        assert phrase.lower() in meta["description"].lower(), phrase


@pytest.mark.parametrize("name", sorted(NAMES))
def test_skill_has_the_required_parts(name: str) -> None:
    body = body_of(name)
    commands = [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", body, re.S)
        for line in block.splitlines()
        if line.strip()
    ]
    assert commands and commands[0].startswith("trainward doctor") and "--json" in commands[0]
    assert all(c.startswith("trainward ") and c.endswith("--json") for c in commands), commands
    assert "## Exit codes" in body and "## Guardrails" in body
    rows = re.findall(r"^\| ([0-5]) \|", body.split("## Exit codes")[1], re.M)
    assert rows == ["0", "1", "2", "3", "4", "5"]
    assert "error.hint" in body
    python = re.findall(r"```python\n(.*?)```", body, re.S)
    assert sum(len(b.splitlines()) for b in python) <= 5, "a missing CLI command?"
    guardrails = body.split("## Guardrails")[1]
    assert guardrails.count("\n- ") >= 3 and ":" in guardrails  # rules with their reasons


def test_the_guardrails_cover_what_loses_runs() -> None:
    text = "\n".join(body_of(n) for n in sorted(NAMES))
    gpu, check, stop = body_of("gpu-train"), body_of("check-training"), body_of("stop-training")
    assert "--detach" in gpu and "dies with the client" in gpu
    assert "nohup" in gpu and "&" in gpu
    assert "trainward logs NAME --tail 100 --json" in gpu and "modal app logs -f" in check
    assert "secret's value" in gpu
    assert "trainward stop RUN --yes --json" in stop and "exact" in stop
    assert "never `latest`" in stop
    assert "read-only" in check.lower()
    # What the original skills got wrong: the keyword, and `modal app logs` following.
    assert "required_keys" in gpu and not re.search(r"from_name\([^)]*\brequired=", text)
    assert "fetches and exits" in check and "since modal 1.4" in check


# -- install -----------------------------------------------------------------------------


def install(*args: str) -> dict[str, Any]:
    res = tw("skills", "install", *args, "--json")
    assert res.code == 0, res.stderr
    doc: dict[str, Any] = res.json()
    return doc


def settings_of(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((root / ".claude" / "settings.json").read_text())
    return doc


def run_hook(
    command: str, cwd: Path, tool_command: str, path: str = "/usr/bin:/bin"
) -> dict[str, Any] | None:
    """Run the hook command the way Claude Code does: through a shell, the PreToolUse JSON on
    stdin. A PATH without the virtualenv shows that the hook does not depend on it. (The
    test's own PYTHONPATH is kept, so a checkout under test is what the hook imports.)"""
    payload = {**PRE_TOOL_USE, "cwd": str(cwd), "tool_input": {"command": tool_command}}
    env = {"PATH": path, "HOME": str(cwd), "TRAINWARD_HOME": str(cwd / ".tw")}
    env |= {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def decision_of(answer: dict[str, Any] | None) -> str:
    """The hook's permissionDecision; "none" when it printed nothing (no opinion)."""
    return answer["hookSpecificOutput"]["permissionDecision"] if answer else "none"


def test_install_into_a_project_then_the_hook_denies_modal_run(tmp_path: Path) -> None:
    doc = install("--project", str(tmp_path))
    assert doc["changed"] and doc["scope"] == "project" and doc["skills"] == sorted(NAMES)
    for target in (".claude/skills", ".agents/skills"):
        for name in NAMES:
            copied = tmp_path / target / name / SKILL_FILE
            text, stamp = unstamp(copied.read_text())
            assert text == (SKILLS / name / SKILL_FILE).read_text()
            assert stamp is not None and stamp["trainward-version"] == __version__
            assert check_skill(copied.parent) == []  # the stamp is spec metadata
    assert {f["action"] for f in doc["files"]} == {"created"}
    settings = settings_of(tmp_path)
    (group,) = settings["hooks"]["PreToolUse"]
    assert group["matcher"] == "Bash"
    (hook,) = group["hooks"]
    assert hook["type"] == "command" and hook["command"] == doc["settings"]["command"]
    assert hook["command"] == hookcommand.hook_command(sys.executable)
    assert doc["settings"]["runs"].startswith(f"runs {sys.executable} -P -m trainward.guard.hook")

    answer = run_hook(hook["command"], tmp_path, "modal run train.py")
    assert answer is not None
    out = answer["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"
    assert "--detach" in out["permissionDecisionReason"]
    assert run_hook(hook["command"], tmp_path, "modal run --detach train.py") is None


def test_a_second_install_changes_nothing(tmp_path: Path) -> None:
    install("--project", str(tmp_path))
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    res = tw("skills", "install", "--project", str(tmp_path))
    assert res.code == 0 and res.stdout.startswith("Nothing to change")
    doc = install("--project", str(tmp_path))
    assert not doc["changed"] and doc["settings"]["action"] == "unchanged"
    assert {f["action"] for f in doc["files"]} == {"unchanged"}
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before


EXISTING = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"], "deny": ["Read(./.env)"]},
    "env": {"FOO": "1"},
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "my-audit --bash"}]},
            {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "fmt-check"}]},
        ],
        "PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "log-it"}]}],
    },
}


def test_install_keeps_existing_settings_and_their_format(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(EXISTING, indent=4) + "\n")
    path.chmod(0o600)
    doc = install("--project", str(tmp_path))
    assert doc["settings"]["action"] == "updated"
    text = path.read_text()
    assert text.startswith('{\n    "model"') and text.endswith("}\n")  # 4 spaces, key order
    assert path.stat().st_mode & 0o777 == 0o600
    after = json.loads(text)
    added = after["hooks"]["PreToolUse"].pop()
    assert after == EXISTING
    assert added["matcher"] == "Bash" and "guard --hook" in added["hooks"][0]["command"]
    again = install("--project", str(tmp_path))
    assert not again["changed"] and path.read_text() == text


def test_install_refreshes_a_stale_hook_path_without_duplicating(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    stale = {"type": "command", "command": "/old/venv/bin/trainward guard --hook", "timeout": 5}
    path.write_text(json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [stale]}]}}))
    doc = install("--project", str(tmp_path))
    assert doc["settings"]["action"] == "updated" and doc["settings"]["note"]
    (group,) = settings_of(tmp_path)["hooks"]["PreToolUse"]
    assert group["hooks"] == [{**stale, "command": hook_command()}]
    # our own line pinned to a Python that moved is refreshed the same way
    group["hooks"][0]["command"] = hookcommand.hook_command("/old/venv/bin/python")
    path.write_text(json.dumps({"hooks": {"PreToolUse": [group]}}))
    assert install("--project", str(tmp_path))["settings"]["action"] == "updated"
    assert settings_of(tmp_path)["hooks"]["PreToolUse"] == [
        {"matcher": "Bash", "hooks": [{**stale, "command": hook_command()}]}
    ]


def test_install_keeps_a_customized_guard_hook(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    own = {"type": "command", "command": "trainward guard --hook --policy team.yaml"}
    custom = {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [own]}]}}
    path.write_text(json.dumps(custom))
    doc = install("--project", str(tmp_path))
    assert doc["settings"]["action"] == "unchanged" and "team.yaml" in doc["settings"]["note"]
    assert settings_of(tmp_path) == custom


def test_install_refuses_settings_that_are_not_json(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{\n  "model": "opus",\n}\n')
    res = tw("skills", "install", "--project", str(tmp_path), "--json")
    assert res.code == 2
    assert "settings.json:3" in res.json()["error"]["message"]
    assert path.read_text() == '{\n  "model": "opus",\n}\n'


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    doc = install("--project", str(tmp_path), "--dry-run")
    assert doc["dry_run"] and doc["changed"] and doc["settings"]["action"] == "created"
    assert len(doc["files"]) == 2 * len(NAMES)
    assert list(tmp_path.iterdir()) == []
    res = tw("skills", "install", "--project", str(tmp_path), "--dry-run")
    assert res.stdout.startswith("Would install 5 skills")
    assert "hook created: runs " in res.stdout and "answers ask when none" in res.stdout


def test_user_install_goes_to_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    doc = install("--user")
    assert doc["scope"] == "user" and doc["root"] == str(home)
    assert (home / ".claude" / "skills" / "gpu-train" / SKILL_FILE).is_file()
    assert (home / ".agents" / "skills" / "stop-training" / SKILL_FILE).is_file()
    hook = settings_of(home)["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert list(project.iterdir()) == []
    assert not install("--user")["changed"]
    answer = run_hook(hook, project, "nohup modal run -d train.py &")
    assert answer and answer["hookSpecificOutput"]["permissionDecision"] == "deny"
    listing = tw("skills", "list", "--json").json()
    assert listing["hook"] == {"project": False, "user": True}
    assert {s["installed"]["user"] for s in listing["skills"]} == {"current"}


def test_project_and_user_are_exclusive(tmp_path: Path) -> None:
    res = tw("skills", "install", "--project", str(tmp_path), "--user")
    assert res.code == 2 and "not both" in res.stderr


def test_list_says_what_is_current(tmp_path: Path) -> None:
    install("--project", str(tmp_path))
    (tmp_path / ".agents" / "skills" / "gpu-train" / SKILL_FILE).write_text("edited\n")
    doc = tw("skills", "list", "--project", str(tmp_path), "--json").json()
    states = {s["name"]: s["installed"]["project"] for s in doc["skills"]}
    assert states == {**dict.fromkeys(NAMES, "current"), "gpu-train": "customised"}
    assert doc["hook"]["project"] is True


def shipped_text(name: str) -> str:
    return (SKILLS / name / SKILL_FILE).read_text()


def test_install_keeps_a_customised_skill_unless_forced(tmp_path: Path) -> None:
    install("--project", str(tmp_path))
    edited = tmp_path / ".claude" / "skills" / "gpu-train" / SKILL_FILE
    edited.write_text(
        edited.read_text().replace("detached", "DETACHED")
    )  # stamp kept, text changed
    doc = install("--project", str(tmp_path))
    assert doc["kept"] == [".claude/skills/gpu-train"] and not doc["changed"]
    assert "DETACHED" in edited.read_text()
    res = tw("skills", "install", "--project", str(tmp_path))
    assert "Kept your changes to .claude/skills/gpu-train (--force replaces them)" in res.stdout
    forced = install("--project", str(tmp_path), "--force")
    assert forced["kept"] == [] and forced["changed"]
    assert unstamp(edited.read_text())[0] == shipped_text("gpu-train")


def test_install_updates_what_it_installed_before(tmp_path: Path) -> None:
    old = shipped_text("check-training").replace("read-only", "read only")  # an older release
    older = stamp(old, "0.0.9", digest({SKILL_FILE: old.encode()}))
    by_hand = shipped_text("stop-training") + "\nMy own rule.\n"
    for target, name, text in (
        (".claude/skills", "check-training", older),  # stamped by an older trainward
        (".agents/skills", "pull-results", shipped_text("pull-results")),  # from before stamps
        (".agents/skills", "stop-training", by_hand),  # unstamped, and changed by hand
    ):
        (tmp_path / target / name).mkdir(parents=True)
        (tmp_path / target / name / SKILL_FILE).write_text(text)
    doc = tw("skills", "list", "--project", str(tmp_path), "--json").json()
    states = {s["name"]: s["installed"]["project"] for s in doc["skills"]}
    assert states["check-training"] == "missing" and states["stop-training"] == "missing"
    doc = install("--project", str(tmp_path))
    actions = {f["path"]: f["action"] for f in doc["files"]}
    assert actions[".claude/skills/check-training/SKILL.md"] == "updated"
    assert actions[".agents/skills/pull-results/SKILL.md"] == "updated"
    assert actions[".agents/skills/stop-training/SKILL.md"] == "kept"
    assert doc["kept"] == [".agents/skills/stop-training"]
    updated = (tmp_path / ".claude/skills/check-training" / SKILL_FILE).read_text()
    assert unstamp(updated) == (
        shipped_text("check-training"),
        {"trainward-version": __version__, "trainward-digest": digest_of("check-training")},
    )
    states = {
        s["name"]: s["installed"]["project"]
        for s in tw("skills", "list", "--project", str(tmp_path), "--json").json()["skills"]
    }
    assert states == {**dict.fromkeys(NAMES, "current"), "stop-training": "customised"}


def digest_of(name: str) -> str:
    files = {
        p.relative_to(SKILLS / name).as_posix(): p.read_bytes()
        for p in (SKILLS / name).rglob("*")
        if p.is_file()
    }
    return digest(files)


def test_shipped_skills_carry_no_metadata_the_stamp_would_clash_with() -> None:
    for name in NAMES:
        meta, _ = split_frontmatter(shipped_text(name), name)
        assert "metadata" not in meta, name


def test_reading_skills_refuses_a_missing_or_invalid_pack(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_skills(tmp_path)
    (tmp_path / "Bad").mkdir()
    (tmp_path / "Bad" / SKILL_FILE).write_text("---\nname: bad\ndescription: d\n---\nbody\n")
    with pytest.raises(ConfigError, match="must equal its folder"):
        read_skills(tmp_path)


# -- packaging: the plugin, and the wheel's data files -----------------------------------


def test_claude_plugin_manifest() -> None:
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "trainward" and manifest["version"] == __version__
    assert manifest["description"]
    # skills/ and hooks/hooks.json at the plugin root are loaded by convention; naming the
    # standard hooks file in the manifest makes Claude Code fail with "Duplicate hooks file".
    assert "hooks" not in manifest and "skills" not in manifest


def test_plugin_hook_guards_and_fails_closed(tmp_path: Path) -> None:
    hooks = json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"]
    (group,) = hooks["PreToolUse"]
    assert group["matcher"] == "Bash"
    command = group["hooks"][0]["command"]
    assert command == hookcommand.hook_command(None)  # the same line, with no pinned Python
    on_path = f"{VENV_BIN}:/usr/bin:/bin"
    assert decision_of(run_hook(command, tmp_path, "modal run train.py", path=on_path)) == "deny"
    without = run_hook(command, tmp_path, "ls")  # trainward not on PATH: ask, never allow
    assert decision_of(without) == "ask"
    assert (
        without
        and "no `trainward` on PATH" in without["hookSpecificOutput"]["permissionDecisionReason"]
    )


def _fake_venv(root: Path, python: str) -> Path:
    """ROOT/.venv/bin with `python` (running `python`) and a `trainward` script. A wrapper, not a
    symlink: a linked interpreter outside its own venv would not find that venv's packages."""
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    (bin_dir / "trainward").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "trainward").chmod(0o755)
    return bin_dir


BROKEN_PYTHON = "#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nkill -SEGV $$\n"


def test_the_installed_hook_fails_closed(tmp_path: Path) -> None:
    """Whatever is missing or broken, the written command answers: never a silent pass."""
    gone = hookcommand.hook_command(str(tmp_path / "deleted-venv" / "bin" / "python"))
    broken = tmp_path / "broken" / "python"
    broken.parent.mkdir()
    broken.write_text(BROKEN_PYTHON)
    broken.chmod(0o755)
    uninstalled = tmp_path / "uninstalled" / "python"  # a working Python without trainward
    uninstalled.parent.mkdir()
    uninstalled.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S "$@"\n')
    uninstalled.chmod(0o755)
    cases = [
        (gone, tmp_path, "/usr/bin:/bin", "ask"),  # venv deleted, nothing else
        (hookcommand.hook_command(str(broken)), tmp_path, f"{VENV_BIN}:/usr/bin:/bin", "ask"),
        (gone, tmp_path, f"{VENV_BIN}:/usr/bin:/bin", "deny"),  # trainward on PATH
    ]
    project = tmp_path / "project"
    _fake_venv(project, sys.executable)
    cases.append((gone, project, "/usr/bin:/bin", "deny"))  # the project's .venv
    broken_venv = tmp_path / "broken-venv-project"
    _fake_venv(broken_venv, str(broken))
    cases.append((gone, broken_venv, f"{VENV_BIN}:/usr/bin:/bin", "ask"))
    cases.append((hookcommand.hook_command(str(uninstalled)), tmp_path, "/usr/bin:/bin", "ask"))
    cases.append((hookcommand.hook_command(sys.executable), tmp_path, "/usr/bin:/bin", "deny"))
    got = [decision_of(run_hook(c, cwd, "modal run train.py", path)) for c, cwd, path, _ in cases]
    assert got == [want for *_, want in cases]


def test_the_wheel_carries_every_skill() -> None:
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    expected = {f"share/trainward/skills/{n}": [f"skills/{n}/*"] for n in NAMES}
    assert data_files == expected
    for directory in skill_dirs():  # `skills/NAME/*` covers files, not subfolders
        assert all(p.is_file() for p in directory.iterdir()), directory


def test_hook_command_pins_this_python() -> None:
    assert hook_command() == hookcommand.hook_command(sys.executable)
    assert hookcommand.is_hook_command(hook_command())
    assert skills_lib.is_guard_hook({"type": "command", "command": hook_command()})


def test_a_pack_under_a_hidden_directory_installs_every_file(tmp_path: Path) -> None:
    """`pip install --user` puts the data files under ~/.local/share/trainward/skills."""
    source = tmp_path / ".local" / "share" / "trainward" / "skills"
    shutil.copytree(SKILLS, source)
    project = tmp_path / "project"
    project.mkdir()
    doc = skills_lib.install(project, source=source, command="trainward guard --hook")
    assert doc["source"] == str(source) and len(doc["files"]) == 2 * len(NAMES)
    assert (project / ".claude" / "skills" / "train-sweep" / SKILL_FILE).is_file()
