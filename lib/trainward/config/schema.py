"""Build validated dataclasses from plain data, with errors that name the key and what it allows.

A small, strict converter: unknown keys are errors (listing the allowed ones), types are
checked (ints are not silently truncated, bools are not numbers), and a field can carry a
`check` in its metadata for range or format rules. Used for experiment and sweep files.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from trainward.errors import ConfigError

T = TypeVar("T")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def field(
    default: Any = dataclasses.MISSING, *, check: Any = None, help: str = "", **kw: Any
) -> Any:
    """A dataclass field with an optional `check(value) -> value` that raises ValueError."""
    meta = {"check": check, "help": help}
    if default is dataclasses.MISSING and "default_factory" not in kw:
        return dataclasses.field(metadata=meta, **kw)
    if "default_factory" in kw:
        return dataclasses.field(metadata=meta, **kw)
    return dataclasses.field(default=default, metadata=meta, **kw)


def describe(tp: Any) -> str:
    """A readable name for an annotation, for error messages."""
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        parts = [describe(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(parts) + (" (or null)" if type(None) in get_args(tp) else "")
    if origin is list:
        return f"a list of {describe(get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _fail(key: str, message: str, hint: str | None = None) -> typing.NoReturn:
    raise ConfigError(message, key=key or None, hint=hint)


def _scalar(value: Any, tp: type, key: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        _fail(key, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            _fail(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool):
            _fail(key, f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `3e-4` as a string
            try:
                return float(value)
            except ValueError:
                pass
        _fail(key, f"expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        _fail(key, f"expected a string, got {type(value).__name__} {value!r}")
    if tp is typing.Any:
        return value
    raise TypeError(f"unsupported annotation {tp!r}")


def convert(value: Any, tp: Any, key: str) -> Any:
    """Convert `value` to the annotation `tp`, raising ConfigError at `key` on mismatch."""
    if tp is typing.Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return convert(value, options[0], key)
        errors = []
        for option in options:
            try:
                return convert(value, option, key)
            except ConfigError as err:
                errors.append(err)
        _fail(key, f"expected {describe(tp)}, got {value!r}")
    if value is None:
        _fail(key, f"expected {describe(tp)}, got null")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            _fail(key, f"expected one of {', '.join(map(str, allowed))}; got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            _fail(key, f"expected {describe(tp)}, got {type(value).__name__} {value!r}")
        (item_tp,) = get_args(tp)
        return [convert(v, item_tp, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            _fail(key, f"expected a mapping, got {type(value).__name__} {value!r}")
        _, val_tp = get_args(tp)
        return {str(k): convert(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)  # type: ignore[arg-type]
    return _scalar(value, tp, key)


def build(cls: type[T], data: Any, key: str = "") -> T:
    """Build dataclass `cls` from a mapping, strictly. `key` is the dotted path of `data`."""
    where = key or "top level"
    if not isinstance(data, dict):
        _fail(key, f"{where} must be a mapping, got {type(data).__name__} {data!r}")
    hints = get_type_hints(cls)
    fields = {
        f.name: f
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if not f.metadata.get("internal")
    }
    for name in data:
        if name not in fields:
            allowed = ", ".join(fields)
            _fail(
                f"{key}.{name}" if key else str(name),
                f"unknown key '{name}'; allowed{' in ' + key if key else ''}: {allowed}",
                hint="check the spelling; `trainward launch --help` and docs/config.md list every key",
            )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                _fail(
                    sub, "required key is missing", hint=f"add '{name}:' ({describe(hints[name])})"
                )
            continue
        value = convert(data[name], hints[name], sub)
        check = f.metadata.get("check")
        if check is not None and value is not None:
            try:
                value = check(value)
            except ValueError as err:
                _fail(sub, str(err))
        kwargs[name] = value
    return cls(**kwargs)


def to_plain(obj: Any) -> Any:
    """Dataclasses (nested) to plain dicts/lists, for JSON and hashing."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj
