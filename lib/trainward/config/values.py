"""Parsers for single config values: names, GPU strings, durations, targets and entrypoints.

Each raises ValueError with the value and what was expected; `schema.build` turns that into a
ConfigError that names the file, the line and the key.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Literal

GPU_TYPES = (
    "T4",
    "L4",
    "A10G",
    "A10",
    "L40S",
    "A100",
    "A100-40GB",
    "A100-80GB",
    "H100",
    "H100!",
    "H200",
    "B200",
)
_GPU_RE = re.compile(r"^(?P<type>[A-Za-z0-9!-]+?)(?::(?P<count>\d+))?$")
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_TARGET_RE = re.compile(r"^\s*(>=|<=|>|<|==)?\s*(-?\d+(?:\.\d*)?(?:e-?\d+)?%?)\s*$")
_ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MAX_ATTEMPT_S = 24 * 3600


def check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"invalid name {value!r}: use lowercase letters, digits, '.', '_' or '-' "
            "(at most 63 characters, starting with a letter or digit)"
        )
    return value


def parse_gpu(value: str) -> str:
    """Validate a GPU string such as `A100-80GB:1` or `H100:8`; returns the canonical form."""
    match = _GPU_RE.match(value.strip())
    canon = {t.upper(): t for t in GPU_TYPES}
    if not match or match["type"].upper() not in canon:
        raise ValueError(
            f"invalid gpu {value!r}; expected TYPE[:COUNT] with TYPE one of {', '.join(GPU_TYPES)}"
        )
    count = int(match["count"] or 1)
    if not 1 <= count <= 8:
        raise ValueError(f"invalid gpu count {count} in {value!r}; expected 1 to 8")
    return f"{canon[match['type'].upper()]}:{count}"


def gpu_count(gpu: str | None) -> int:
    return 0 if not gpu else int(gpu.split(":")[1])


def parse_duration(value: int | str, cap: int | None = MAX_ATTEMPT_S) -> int:
    """Seconds from an int or a string such as `30m`, `4h`, `1h30m`, `90s`."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION_RE.match(value.strip())
        if not value.strip() or not match:
            raise ValueError(f"invalid duration {value!r}; use seconds or e.g. 30m, 4h, 1h30m")
        h, m, s = (int(g or 0) for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    if cap is not None and seconds > cap:
        raise ValueError(
            f"timeout {value!r} must be at most 24h (Modal's per-attempt limit); set resources.max_runtime for longer runs"
        )
    return seconds


def positive(value: Any) -> Any:
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


def non_negative(value: Any) -> Any:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def fraction(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError(f"must be between 0 and 1, got {value}")
    return value


@dataclass(frozen=True)
class Target:
    """A pass bar for a metric, written `>0.75`, `>=93%`, `<0.1`."""

    op: str
    value: float
    text: str

    def met(self, observed: float) -> bool:
        ops = {
            ">": observed > self.value,
            ">=": observed >= self.value,
            "<": observed < self.value,
            "<=": observed <= self.value,
            "==": observed == self.value,
        }
        return ops[self.op]


def parse_target(text: str) -> Target:
    match = _TARGET_RE.match(str(text))
    if not match:
        raise ValueError(f"invalid target {text!r}; write e.g. '>0.75', '>=93%' or '<0.1'")
    raw = match[2]
    value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    return Target(op=match[1] or ">=", value=value, text=str(text).strip())


def check_target(text: str) -> str:
    """A target string that parses (for fields holding one)."""
    parse_target(text)
    return text


@dataclass(frozen=True)
class Entrypoint:
    kind: Literal["builtin", "function", "command"]
    target: str | None = None
    command: tuple[str, ...] = ()

    def to_plain(self) -> Any:
        if self.kind == "builtin":
            return "builtin"
        if self.kind == "function":
            return self.target
        return {"command": list(self.command)}


def parse_entrypoint(value: Any) -> Entrypoint:
    if value is None or value == "builtin":
        return Entrypoint("builtin")
    if isinstance(value, str):
        if _ENTRY_RE.match(value):
            return Entrypoint("function", target=value)
        raise ValueError(
            f"invalid entrypoint {value!r}; expected 'builtin', 'package.module:function' "
            "or {command: 'python train.py ...'}"
        )
    if isinstance(value, dict) and set(value) == {"command"}:
        cmd = value["command"]
        argv = shlex.split(cmd) if isinstance(cmd, str) else cmd
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("entrypoint.command must be a non-empty string or list of strings")
        return Entrypoint("command", command=tuple(argv))
    raise ValueError(f"invalid entrypoint {value!r}; expected a string or {{command: ...}}")
