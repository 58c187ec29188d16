"""The guard's shell reader on what bash does that a naive reader misses: C escapes in $'..',
commands inside ${X:-$(..)} and array assignments, the `time` keyword, redirections of a
whole group, which commands are captured by a substitution, and unquoted pattern characters."""

from __future__ import annotations

import pytest
from trainward.guard.parse import parse


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("$'\\x6dodal'", "modal"),
        ("$'\\155odal'", "modal"),
        ("$'\\u006dodal'", "modal"),
        ("$'\\U0000006dodal'", "modal"),
        ("$'a\\tb'", "a\tb"),
        ("$'\\cA'", "\x01"),
        ("$'it\\'s'", "it's"),
        ("$'\\q'", "\\q"),  # not an escape: bash keeps the backslash
    ],
)
def test_ansi_c_quotes_decode_as_bash_does(source: str, text: str) -> None:
    assert parse(source)[0].argv == [text]


def test_commands_inside_parameter_defaults_and_arrays_are_found() -> None:
    assert [c.argv for c in parse("echo ${X:-$(modal app stop x)}")][1] == [
        "modal",
        "app",
        "stop",
        "x",
    ]
    cmds = parse("a=(one $(modal run x.py) two); echo ${a[@]}")
    assert ["modal", "run", "x.py"] in [c.argv for c in cmds]
    assert parse("arr=(a b c)")[0].argv == ["arr=(a b c)"]


def test_the_time_keyword_prefixes_groups_and_subshells() -> None:
    assert [c.argv for c in parse("time { modal run x.py; }")] == [["modal", "run", "x.py"]]
    assert [c.argv for c in parse("! time -p (ls)")] == [["ls"]]


def test_a_group_redirection_applies_to_every_command_in_it() -> None:
    cmds = parse("{ echo a; echo b; } > .claude/settings.json")
    assert [c.writes for c in cmds] == [[(">", ".claude/settings.json")]] * 2
    assert parse("ls 2>/dev/null")[0].writes == [(">", "/dev/null")]
    assert not parse("ls 2>/dev/null")[0].writes_file


def test_substitutions_are_marked_captured() -> None:
    cmds = parse("K=$(cat ~/.hf_token) x=`ls` cat .env")
    assert [(c.argv[0], c.captured) for c in cmds] == [
        ("K=$(cat ~/.hf_token)", False),
        ("cat", True),
        ("ls", True),
    ]


def test_unquoted_pattern_characters_are_kept() -> None:
    (cmd,) = parse("mod?l {run,x} '*' \"[a]\" [ x[ab]")
    assert [(w.glob, w.brace) for w in cmd.words] == [
        (True, False),
        (False, True),
        (False, False),
        (False, False),
        (False, False),
        (True, False),
    ]
