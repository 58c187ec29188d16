"""CLI overrides on top of an experiment file: `--epochs`, `--max-games` and `--set KEY.PATH=VALUE`."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from trainward.errors import ConfigError


@dataclass
class Overrides:
    """What the CLI can change on top of a file: `--epochs`, `--max-games` and `--set a.b=v`.

    `--epochs` and `--max-games` set keys of the trainer plug-in's section (the built-in
    trainer: `train.epochs`, `train.max_games`); `cli_keys` maps each flag to its key. A
    program that is not a plug-in takes its own flags after `--` instead."""

    epochs: int | None = None
    max_games: int | None = None
    sets: tuple[str, ...] = ()

    def pairs(self, cli_keys: Mapping[str, str] | None = None) -> list[tuple[str, Any]]:
        keys = {"epochs": "train.epochs", "max_games": "train.max_games"}
        if cli_keys is not None:
            keys = dict(cli_keys)
        out: list[tuple[str, Any]] = []
        for flag, value in (("epochs", self.epochs), ("max_games", self.max_games)):
            if value is None:
                continue
            if flag not in keys:
                raise ConfigError(
                    f"--{flag.replace('_', '-')} sets a key of the built-in trainer, and this "
                    "experiment runs your own program",
                    file="--" + flag.replace("_", "-"),
                    hint="pass your program's own flags after `--`, e.g. "
                    f"`trainward launch CONFIG -- --{flag.replace('_', '-')} {value}`, or use --set params.KEY=VALUE",
                )
            out.append((keys[flag], value))
        for item in self.sets:
            out.append(parse_set(item))
        return out

    def to_dict(self, cli_keys: Mapping[str, str] | None = None) -> dict[str, Any]:
        return {k: v for k, v in self.pairs(cli_keys)}


def parse_set(item: str) -> tuple[str, Any]:
    """`train.lr=1e-3` -> ("train.lr", 0.001). The value is read as a YAML scalar."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or not re.match(r"^[A-Za-z_][\w-]*(\.[\w/-]+)*$", key):
        raise ConfigError(
            f"invalid --set {item!r}; expected KEY.PATH=VALUE, e.g. train.lr=1e-3", file="--set"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(data: dict[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for key, value in pairs:
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(
                    f"cannot set {key}: {'.'.join(parts[: i + 1])} is not a mapping",
                    file="--set",
                    key=key,
                )
            node = nxt
        node[parts[-1]] = value
    return out
