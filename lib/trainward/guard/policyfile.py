"""One guard.yaml file: its text -> rules and a smoke-test bound, with errors that name the
file, the line and the key. The format (docs/guard.md):

    smoke_timeout_s: 300          # longest `timeout N modal run ...` allowed attached
    rules:                        # first match wins, before the built-in policy
      - match: "modal app stop ci-*"
        decision: allow           # allow | ask | deny
        category: destructive     # optional; default: the built-in category
        reason: "CI apps are disposable"      # optional
        alternative: "..."                    # optional

`match` is a pattern over the command's words after the guard removed its wrappers
(`env`, `timeout`, `nohup`, `uv run`, `python -m modal`, ...): each word is a glob
(`fnmatch`), and a lone `*` matches any number of words, none included. PyYAML and shlex
are imported only when a file is read, so the hook stays fast without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from trainward.errors import ConfigError
from trainward.guard.rules import CATEGORIES, VERDICTS, Category, Decision, Verdict

_TOP_KEYS = ("rules", "smoke_timeout_s")
_RULE_KEYS = ("match", "decision", "category", "reason", "alternative")
_MAX_TIMEOUT_S = 86400.0


class Rule(NamedTuple):
    pattern: tuple[str, ...]
    decision: Verdict
    category: Category | None = None
    reason: str | None = None
    alternative: str | None = None
    source: str = "<rule>"

    def matches(self, argv: Sequence[str]) -> bool:
        return _match(self.pattern, list(argv))

    def apply(self, default: Decision) -> Decision:
        return Decision(
            self.decision,
            self.category or default.category,
            self.reason or f"{self.decision} by the rule at {self.source}",
            self.alternative if self.alternative is not None else default.alternative,
            source=self.source,
        )


def _match(pattern: Sequence[str], argv: list[str]) -> bool:
    if not pattern:
        return not argv
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(_match(rest, argv[i:]) for i in range(len(argv) + 1))
    return bool(argv) and fnmatchcase(argv[0], head) and _match(rest, argv[1:])


def parse_policy(text: str, source: str) -> tuple[tuple[Rule, ...], float | None]:
    """(rules, smoke_timeout_s or None) from one file's text. Raises ConfigError naming
    `source`, the line and the key."""
    import yaml  # lazily: the hook must answer fast when there is no file

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError(f"not valid YAML: {err.problem}", file=source, line=line) from err
    finally:
        loader.dispose()
    if root is None:
        return (), None
    top = _mapping(root, source, None, _TOP_KEYS)
    rules: tuple[Rule, ...] = ()
    if "rules" in top:
        node = top["rules"]
        if not isinstance(node, yaml.SequenceNode):
            raise _error("must be a list of rules", source, node, "rules")
        rules = tuple(_rule(item, source, n) for n, item in enumerate(node.value))
    smoke = _timeout(loader, top["smoke_timeout_s"], source) if "smoke_timeout_s" in top else None
    return rules, smoke


def _mapping(node: Any, source: str, key: str | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise _error("must be a mapping", source, node, key)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        name = str(key_node.value)
        if name not in allowed:
            where = f"{key}.{name}" if key else name
            raise _error(f"unknown key; allowed: {', '.join(allowed)}", source, key_node, where)
        out[name] = value_node
    return out


def _rule(node: Any, source: str, index: int) -> Rule:
    key = f"rules[{index}]"
    fields = _mapping(node, source, key, _RULE_KEYS)
    values = {name: _string(value, source, f"{key}.{name}") for name, value in fields.items()}
    if "match" not in values or not values["match"].strip():
        raise _error("needs a non-empty 'match' pattern", source, node, f"{key}.match")
    import shlex

    try:
        pattern = tuple(shlex.split(values["match"]))
    except ValueError as err:
        raise _error(f"bad pattern ({err})", source, fields["match"], f"{key}.match") from err
    decision = values.get("decision")
    if decision not in VERDICTS:
        where = fields.get("decision", node)
        raise _error(
            f"decision must be one of {', '.join(VERDICTS)}", source, where, f"{key}.decision"
        )
    category = values.get("category")
    if category is not None and category not in CATEGORIES:
        msg = f"category must be one of {', '.join(CATEGORIES)}"
        raise _error(msg, source, fields["category"], f"{key}.category")
    line = node.start_mark.line + 1
    return Rule(
        pattern,
        decision,
        category,
        values.get("reason"),
        values.get("alternative"),
        source=f"{source}:{line}",
    )


def _string(node: Any, source: str, key: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
        raise _error("must be a string", source, node, key)
    return str(node.value)


def _timeout(loader: Any, node: Any, source: str) -> float:
    import yaml

    value = loader.construct_object(node) if isinstance(node, yaml.ScalarNode) else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= _MAX_TIMEOUT_S
    ):
        msg = f"must be a number of seconds, above 0 and at most {_MAX_TIMEOUT_S:g}"
        raise _error(msg, source, node, "smoke_timeout_s")
    return float(value)


def _error(message: str, source: str, node: Any, key: str | None) -> ConfigError:
    return ConfigError(
        message,
        file=source,
        line=node.start_mark.line + 1,
        key=key,
        hint="see docs/guard.md for the guard.yaml format",
    )
