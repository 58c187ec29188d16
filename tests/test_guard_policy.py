"""The guard's policy files: the format and its errors (file, line, key), rule matching, and
who may loosen: a project's guard.yaml (or any file inside a repository) may only tighten;
only the user's own file outside every repository may loosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainward.errors import ConfigError
from trainward.guard.engine import check_shell, load_policy
from trainward.guard.policy import parse_policy

from tests.conftest import tw


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_rule_can_allow_modal_app_stop(tmp_path: Path) -> None:
    policy = _write(
        tmp_path / "p.yaml",
        "rules:\n"
        "  - match: 'modal app stop *'\n"
        "    decision: allow\n"
        "    reason: the user stops apps freely here\n",
    )
    res = tw("guard", "--json", "--policy", str(policy), "modal app stop my-app --yes")
    assert res.code == 0, res.stderr
    out = res.json()
    assert out["decision"] == "allow" and out["category"] == "destructive"
    assert out["reason"] == "the user stops apps freely here"
    assert out["source"] == f"{policy}:2"
    # the rule applies behind wrappers and inside bash -c too, and nowhere else
    assert tw("guard", "--policy", str(policy), "sudo bash -c 'modal app stop x'").code == 0
    assert tw("guard", "--policy", str(policy), "modal volume rm data /").code == 3


def test_pattern_words_are_globs_and_a_lone_star_is_any_words() -> None:
    rules, _ = parse_policy("rules:\n- {match: 'modal app stop *', decision: deny}\n", "f")
    assert rules[0].matches(["modal", "app", "stop"])
    assert rules[0].matches(["modal", "app", "stop", "a", "--yes"])
    assert not rules[0].matches(["modal", "app", "list"])
    rules, _ = parse_policy("rules:\n- {match: 'rm -rf build-*', decision: allow}\n", "f")
    assert rules[0].matches(["rm", "-rf", "build-7"]) and not rules[0].matches(["rm", "-rf", "x"])


def test_the_users_files_decide_and_a_project_file_may_only_tighten(
    tmp_path: Path, tw_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    _write(tw_home / "guard.yaml", "rules:\n- {match: 'modal app stop *', decision: allow}\n")
    _write(
        project / ".trainward/guard.yaml", "rules:\n- {match: 'modal app stop *', decision: deny}\n"
    )
    extra = _write(tmp_path / "x.yaml", "rules:\n- {match: 'modal app stop *', decision: ask}\n")
    assert check_shell("modal app stop a", policy=load_policy(cwd=tmp_path)).decision == "allow"
    assert check_shell("modal app stop a", policy=load_policy(cwd=project)).decision == "deny"
    # --policy comes before the user's file; the project's deny is stricter than both
    both = load_policy(cwd=tmp_path, extra=extra)
    assert check_shell("modal app stop a", policy=both).decision == "ask"
    assert check_shell("modal app stop a", policy=load_policy(cwd=project, extra=extra)).source == (
        f"{project / '.trainward/guard.yaml'}:2"
    )
    monkeypatch.chdir(project)
    assert tw("guard", "modal app stop a").code == 3
    assert "deny" in tw("guard", "modal app stop a").stdout


def test_a_project_rule_that_would_loosen_is_set_aside_and_said(tmp_path: Path) -> None:
    path = _write(
        tmp_path / ".trainward/guard.yaml",
        "rules:\n- {match: 'modal run *', decision: allow}\n- {match: 'ls', decision: deny}\n",
    )
    policy = load_policy(cwd=tmp_path)
    got = check_shell("modal run train.py", policy=policy)
    assert (got.decision, got.source) == ("deny", "default")
    assert f"the rule at {path}:2 (allow) was set aside" in got.reason
    assert check_shell("ls", policy=policy).decision == "deny"  # tightening applies
    assert check_shell("modal run -d x.py", policy=policy).source == f"{path}:2"  # allow = allow


def _repository(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    return root


def test_a_file_inside_a_repository_may_only_tighten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loosen = "rules:\n- {match: 'modal app stop *', decision: allow}\n"
    home = _repository(tmp_path / "dotfiles") / "sub" / ".trainward"
    monkeypatch.setenv("TRAINWARD_HOME", str(home))
    _write(home / "guard.yaml", loosen)
    assert check_shell("modal app stop a", policy=load_policy(cwd=tmp_path)).decision == "ask"
    inside = _write(_repository(tmp_path / "repo") / "team.yaml", loosen)
    assert check_shell("modal app stop a", policy=load_policy(extra=inside)).decision == "ask"
    outside = _write(tmp_path / "mine.yaml", loosen)
    assert check_shell("modal app stop a", policy=load_policy(extra=outside)).decision == "allow"
    link = tmp_path / "linked.yaml"  # a link out of a repository counts where it points
    link.symlink_to(inside)
    assert check_shell("modal app stop a", policy=load_policy(extra=link)).decision == "ask"


def test_a_project_may_lower_the_smoke_bound_but_not_raise_it(
    tmp_path: Path, tw_home: Path
) -> None:
    project = tmp_path / "proj"
    _write(project / ".trainward/guard.yaml", "smoke_timeout_s: 3600\n")
    assert load_policy(cwd=project).smoke_timeout_s == 600
    _write(tw_home / "guard.yaml", "smoke_timeout_s: 1800\n")
    assert load_policy(cwd=project).smoke_timeout_s == 1800
    _write(project / ".trainward/guard.yaml", "smoke_timeout_s: 60\n")
    assert load_policy(cwd=project).smoke_timeout_s == 60


def test_smoke_timeout_is_configurable(tmp_path: Path) -> None:
    policy = _write(tmp_path / "p.yaml", "smoke_timeout_s: 60\n")
    assert tw("guard", "--policy", str(policy), "timeout 30 modal run x.py").code == 0
    res = tw("guard", "--json", "--policy", str(policy), "timeout 300 modal run x.py")
    assert res.code == 3 and "timeout 60 modal run" in res.json()["alternative"]


MALFORMED = [
    ("rules:\n  - match: x\n    decison: allow\n", 3, "rules[0].decison"),
    ("rules:\n  - match: x\n", 2, "rules[0].decision"),
    ("rules:\n  - match: x\n    decision: maybe\n", 3, "rules[0].decision"),
    ("rules:\n  - match: x\n    decision: allow\n    category: risky\n", 4, "rules[0].category"),
    ("rules:\n  - decision: allow\n", 2, "rules[0].match"),
    ('rules:\n  - match: "a \'b"\n    decision: allow\n', 2, "rules[0].match"),
    ("rules: modal\n", 1, "rules"),
    ("smoke_timeout_s: -5\n", 1, "smoke_timeout_s"),
    ("smoke_timeout_s: true\n", 1, "smoke_timeout_s"),
    ("# policy\nrule:\n  - match: x\n", 2, "rule"),
    ("rules:\n  - match: x\n   decision: allow\n", 3, None),  # bad indentation: not YAML
    ("- match: x\n  decision: allow\n", 1, None),  # a bare list: the top must be a mapping
]


@pytest.mark.parametrize(("text", "line", "key"), MALFORMED)
def test_a_malformed_file_names_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None
) -> None:
    path = _write(tmp_path / "guard.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_policy(cwd=tmp_path, extra=path)
    assert (info.value.file, info.value.line) == (str(path), line)
    if key is not None:
        assert info.value.key == key
    res = tw("guard", "--json", "--policy", str(path), "ls")
    assert res.code == 2
    assert f"{path}:{line}" in res.stderr
    assert res.json()["error"]["exit_code"] == 2


def test_a_missing_policy_file_is_a_config_error(tmp_path: Path) -> None:
    res = tw("guard", "--policy", str(tmp_path / "nope.yaml"), "ls")
    assert res.code == 2 and "nope.yaml" in res.stderr
