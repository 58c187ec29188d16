"""A JSON Schema (draft 2020-12) of the experiment file, generated from the config dataclasses.

Editors and assistants validate YAML with it (`# yaml-language-server: $schema=...`). It is
derived from the same dataclasses `schema.build` validates with, so it cannot drift from the
loader: unknown keys are refused (`additionalProperties: false`), types and enums come from
the annotations, ranges and formats from the fields' `check`s, and the built-in trainer's
`train:` section from its plug-in's schema. The loader stays the authority: a few rules (a
duration's 24 h cap, targets, `train:` only for `entrypoint: builtin`) are checked there only.

`trainward schema` prints it; schema/experiment.schema.json in the repository is this output
(tests/test_schema.py keeps the two equal).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from trainward.config import values
from trainward.config.experiment import _ENV_RE, Experiment, Secret, env_name
from trainward.core.plugins import trainer_plugin

NAME = {"type": "string", "pattern": values._NAME_RE.pattern}
DURATION = {
    "anyOf": [
        {"type": "integer", "exclusiveMinimum": 0},
        {"type": "string", "pattern": "^(\\d+h)?(\\d+m)?(\\d+s)?$", "minLength": 2},
    ],
    "description": "seconds, or e.g. 30m, 4h, 1h30m",
}
# What each field `check` means, as schema keywords.
CHECKS: dict[Any, dict[str, Any]] = {
    values.check_name: {"pattern": values._NAME_RE.pattern},
    values.positive: {"exclusiveMinimum": 0},
    values.non_negative: {"minimum": 0},
    values.fraction: {"exclusiveMinimum": 0, "exclusiveMaximum": 1},
    values.parse_gpu: {
        "pattern": "^[A-Za-z0-9!-]+(:[1-8])?$",
        "description": "TYPE[:COUNT], TYPE one of " + ", ".join(values.GPU_TYPES),
    },
    values.parse_duration: DURATION,
    env_name: {"pattern": _ENV_RE.pattern},
}
ENTRYPOINT = {
    "description": "builtin, package.module:function, or {command: ...}",
    "default": "builtin",
    "anyOf": [
        {"const": "builtin"},
        {"type": "string", "pattern": values._ENTRY_RE.pattern},
        {
            "type": "object",
            "properties": {
                "command": {
                    "anyOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    ]
                }
            },
            "required": ["command"],
            "additionalProperties": False,
        },
    ],
}
SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
NUMERIC = ("minimum", "exclusiveMinimum", "exclusiveMaximum")


def experiment_schema() -> dict[str, Any]:
    """The schema of an experiment file (with the built-in trainer's `train:` section)."""
    body = object_schema(Experiment)
    props = body["properties"]
    props["entrypoint"] = ENTRYPOINT
    props["secrets"] = {
        "type": "array",
        "description": "secrets by name (never values), optionally with the keys each must hold",
        "items": {"anyOf": [NAME, object_schema(Secret)]},
        "default": [],
    }
    plugin = trainer_plugin("builtin")
    props[plugin.section] = {
        **object_schema(plugin.schema),
        "description": "the built-in trainer's own section (entrypoint: builtin only)",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "trainward experiment",
        "description": "An experiment file of trainward (docs/config.md).",
        **body,
    }


def dumps(schema: dict[str, Any]) -> str:
    """The schema as the repository stores it: 2-space JSON with a final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def object_schema(cls: type) -> dict[str, Any]:
    """A dataclass as a closed object: its fields' schemas, required fields, defaults."""
    hints = get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        prop = type_schema(hints[f.name])
        check = CHECKS.get(f.metadata.get("check"))
        if check:
            prop = _with_check(prop, check)
        default = _default(f)
        if default is dataclasses.MISSING:
            required.append(f.name)
        elif _is_json(default):
            prop["default"] = default
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def type_schema(tp: Any) -> dict[str, Any]:
    """The schema of one annotation."""
    if tp is Any or tp is typing.Any:
        return {}
    if tp in SCALARS:
        return {"type": SCALARS[tp]}
    origin = get_origin(tp)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (Union, types.UnionType):
        options = [type_schema(a) for a in get_args(tp) if a is not type(None)]
        if type(None) in get_args(tp):
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is list:
        return {"type": "array", "items": type_schema(get_args(tp)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(get_args(tp)[1])}
    if dataclasses.is_dataclass(tp):
        return object_schema(tp)  # type: ignore[arg-type]
    raise TypeError(f"no JSON Schema for the annotation {tp!r}")


def _with_check(prop: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    """A field's check as keywords: a whole replacement (a duration, keeping null), or its
    keywords on each option of a matching type (a check never sees null)."""
    if "anyOf" in check:
        nullable = {"type": "null"} in prop.get("anyOf", [])
        return {**check, "anyOf": [*check["anyOf"], *([{"type": "null"}] if nullable else [])]}
    fitted = [{**o, **_keywords_for(o.get("type"), check)} for o in prop.get("anyOf", [prop])]
    out = {**prop, "anyOf": fitted} if "anyOf" in prop else fitted[0]
    if "description" in check:
        out["description"] = check["description"]
    return out


def _keywords_for(kind: Any, check: dict[str, Any]) -> dict[str, Any]:
    keys = {"string": ("pattern",), "integer": NUMERIC, "number": NUMERIC}.get(kind, ())
    return {k: check[k] for k in keys if k in check}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
