"""The guard's policy files, layered over the built-in policy, and whom each may loosen for.

    --policy FILE                  given on the command line
    <project>/.trainward/guard.yaml   the project's (the current directory; the hook's cwd)
    $TRAINWARD_HOME/guard.yaml     the user's (default ~/.trainward/guard.yaml)

An assistant can edit what lives in the project it works on, so a project's file may only
**tighten**: its rule applies when it is at least as strict (allow < ask < deny) as what the
built-in policy and the user's files say, and is otherwise set aside with a note in the
answer. Only a file outside every repository (the user's own, or a --policy file there) may
also loosen. The format of one file is in `trainward.guard.policyfile`.

    user level:    the first matching rule of the files that may loosen, else the built-in
    project level: the first matching rule of the tighten-only files, if at least as strict
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from trainward.core.homedir import home_dir
from trainward.errors import ConfigError
from trainward.guard.policyfile import Rule, parse_policy
from trainward.guard.rules import DEFAULT_SMOKE_TIMEOUT_S, VERDICTS, Decision

__all__ = ["FILE_NAME", "Policy", "Rule", "load_policy", "parse_policy", "policy_files"]

FILE_NAME = "guard.yaml"
_REPOSITORY_MARKERS = (".git", ".hg", ".jj", ".svn")


class Policy(NamedTuple):
    """Rules that may loosen (`rules`) and rules that may only tighten (`tighten`), each
    list first-match-wins, and the smoke-test bound."""

    rules: tuple[Rule, ...] = ()
    smoke_timeout_s: float = DEFAULT_SMOKE_TIMEOUT_S
    files: tuple[str, ...] = ()
    tighten: tuple[Rule, ...] = ()

    def decide(self, argv: Sequence[str], default: Decision) -> Decision:
        user = _first(self.rules, argv)
        base = user.apply(default) if user else default
        rule = _first(self.tighten, argv)
        if rule is None:
            return base
        if VERDICTS.index(rule.decision) >= VERDICTS.index(base.decision):
            return rule.apply(base)
        note = (
            f"; the rule at {rule.source} ({rule.decision}) was set aside: a guard.yaml in a "
            f"project or repository may only tighten (loosen in {FILE_NAME} under "
            "$TRAINWARD_HOME instead)"
        )
        return base._replace(reason=base.reason + note)


def _first(rules: tuple[Rule, ...], argv: Sequence[str]) -> Rule | None:
    return next((rule for rule in rules if rule.matches(argv)), None)


def policy_files(
    cwd: str | os.PathLike[str] | None = None, extra: str | os.PathLike[str] | None = None
) -> list[tuple[str, bool]]:
    """(path, may loosen) of each file to read, in order: --policy, the project's, the
    user's. A file may loosen when it is not the project's and lies outside every
    repository."""
    found: list[tuple[str, bool]] = []
    if extra is not None:
        extra = os.fspath(extra)
        if not os.path.isfile(extra):
            raise ConfigError("policy file not found", file=extra, hint="check the --policy path")
        found.append((extra, not in_repository(extra)))
    project = os.path.join(os.fspath(cwd) if cwd else os.getcwd(), ".trainward", FILE_NAME)
    user = os.path.join(home_dir(), FILE_NAME)
    for path, may_loosen in ((project, False), (user, True)):
        if os.path.isfile(path) and not any(os.path.samefile(path, f) for f, _ in found):
            found.append((path, may_loosen and not in_repository(path)))
    return found


def in_repository(path: str) -> bool:
    """True when `path` (symlinks resolved) lies in a git, hg, jj or svn working tree."""
    directory = os.path.dirname(os.path.realpath(path))
    while True:
        if any(os.path.exists(os.path.join(directory, m)) for m in _REPOSITORY_MARKERS):
            return True
        parent = os.path.dirname(directory)
        if parent == directory:
            return False
        directory = parent


def load_policy(
    *, cwd: str | os.PathLike[str] | None = None, extra: str | os.PathLike[str] | None = None
) -> Policy:
    """The policy from the files (none: the built-in policy alone). The smoke-test bound is
    the first one set by a file that may loosen, lowered by any tighten-only file."""
    loose: list[Rule] = []
    tight: list[Rule] = []
    bounds: list[float] = []
    ceilings: list[float] = []
    files = policy_files(cwd, extra)
    for path, may_loosen in files:
        with open(path, encoding="utf-8") as fh:
            rules, smoke = parse_policy(fh.read(), path)
        (loose if may_loosen else tight).extend(rules)
        if smoke is not None:
            (bounds if may_loosen else ceilings).append(smoke)
    smoke_s = min([bounds[0] if bounds else DEFAULT_SMOKE_TIMEOUT_S, *ceilings])
    return Policy(tuple(loose), smoke_s, tuple(path for path, _ in files), tuple(tight))
