"""Load YAML while remembering the line of every key, so errors can point at the file and line.

`load_yaml(path)` returns `(data, lines)` where `lines[("train", "lr")] == 7` means the key
`train.lr` was written on line 7. Every failure (missing file, a directory, binary content,
a syntax error, a top level that is not a mapping) becomes a `ConfigError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trainward.errors import ConfigError

KeyPath = tuple[str, ...]


class _Loader(yaml.SafeLoader):
    pass


def _to_python(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], loader: _Loader) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):  # a key as written: `on:` is "on", not YAML 1.1's True
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
            sub = (*path, key)
            lines[sub] = key_node.start_mark.line + 1
            if key in out:
                raise ConfigError(
                    f"duplicate key '{key}'",
                    line=key_node.start_mark.line + 1,
                    key=".".join(sub),
                )
            out[key] = _to_python(value_node, sub, lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, child in enumerate(node.value):
            sub = (*path, str(i))
            lines[sub] = child.start_mark.line + 1
            items.append(_to_python(child, sub, lines, loader))
        return items
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text; ConfigError (with the line) on a syntax error."""
    lines: dict[KeyPath, int] = {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        return _to_python(node, (), lines, loader), lines
    except ConfigError as err:
        raise err.located(file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or err.context or "invalid YAML"
        raise ConfigError(
            f"YAML syntax error: {problem}",
            file=file,
            line=line,
            hint="fix the YAML syntax at that line (indentation, a missing ':' or an unclosed quote)",
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"YAML error: {err}", file=file) from None
    finally:
        loader.dispose()


def read_text(path: Path, what: str = "config") -> str:
    """Read a UTF-8 text file, turning every way it can fail into a ConfigError."""
    name = str(path)
    if not path.exists():
        raise ConfigError(
            f"{what} file does not exist",
            file=name,
            hint="check the path; experiment configs live in experiments/*.yaml",
        )
    if path.is_dir():
        raise ConfigError(
            f"{what} path is a directory, not a file", file=name, hint="pass a .yaml file"
        )
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {what} file: {err.strerror}", file=name) from None
    if b"\x00" in raw:
        raise ConfigError(
            f"{what} file is binary, not YAML", file=name, hint="pass a text .yaml file"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{what} file is not valid UTF-8 (byte {err.start})", file=name, hint="save it as UTF-8"
        ) from None


def load_yaml(path: Path, what: str = "config") -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Load a YAML file whose top level must be a mapping."""
    text = read_text(path, what)
    data, lines = parse_yaml(text, str(path))
    if data is None:
        raise ConfigError(
            f"{what} file is empty",
            file=str(path),
            hint="see experiments/smoke-cpu.yaml for an example",
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} must be a mapping of keys to values, got {type(data).__name__}",
            file=str(path),
            line=1,
        )
    return data, lines
