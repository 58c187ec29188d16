"""The one `package.module:attribute` loader (entrypoints, validation hooks, trainer plug-ins)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from trainward.errors import UsageError


def load_object(target: str, *, code_dir: str | None = None, what: str = "entrypoint") -> Any:
    """Import `package.module:attribute` (with `code_dir` first on sys.path) and return it."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"invalid {what} {target!r}", hint="write it as package.module:function")
    if code_dir and code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise UsageError(
            f"cannot load {what} {target!r}: {err}",
            hint="check that the module is importable from code_dir and that it defines the name",
        ) from None
    return obj
