"""Adopt a function of your own Modal app (`entrypoint: {modal_function: app.py::train}`).

Your app file is loaded as it is (its image, volumes, secrets and resources are yours), its
function is spawned detached in an app named after the run and tagged with the run's
identity like any trainward run, so status, logs, stop and pull find it from any machine.
The launch's `--` arguments become the function's keyword arguments, converted by the
function's own annotations (`--epochs 3` is `epochs=3` for `epochs: int`; `--resume` alone
is True for a `bool`). The run's identity (`TRAINWARD_RUN`, and W&B's `WANDB_RUN_ID`,
`WANDB_PROJECT`, ... when the config turns W&B on) reaches the function as environment
variables, added to the function's own secrets through `with_options`.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainward.errors import UsageError

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Adopted:
    """A user's Modal app loaded from its file: the app object and the function to spawn."""

    path: Path
    module: Any
    app: Any
    function: Any
    name: str

    def parameters(self) -> Mapping[str, inspect.Parameter]:
        return inspect.signature(self.function._raw_f_).parameters


def resolve_file(target: str, code_dir: str | None) -> Path:
    """`path/to/app.py` relative to the experiment's code directory (or absolute)."""
    rel = Path(target)
    path = rel if rel.is_absolute() else Path(code_dir or ".") / rel
    if not path.is_file():
        raise UsageError(
            f"modal_function file {path} does not exist",
            hint="entrypoint.modal_function is path/to/app.py::function, relative to the "
            "experiment's code directory",
        )
    return path.resolve()


def load(target: str, code_dir: str | None) -> Adopted:
    """Import the app file (its own directory first on sys.path) and find the app and the function."""
    import modal

    file, _, name = target.partition("::")
    path = resolve_file(file, code_dir)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise UsageError(
            f"importing {path} failed: {type(err).__name__}: {err}",
            hint="run `python " + str(path) + "` to see the error; the file must import cleanly",
        ) from None
    function = getattr(module, name, None)
    if not isinstance(function, modal.Function):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, modal.Function))
        raise UsageError(
            f"{path} has no Modal function '{name}'",
            hint=f"its functions: {', '.join(found) or 'none'}; decorate it with @app.function()",
        )
    apps = [v for v in vars(module).values() if isinstance(v, modal.App)]
    if len(apps) != 1:
        raise UsageError(
            f"{path} defines {len(apps)} modal.App objects; trainward adopts a file with exactly one",
            hint="keep one `app = modal.App(...)` in the file",
        )
    return Adopted(path, module, apps[0], function, name)


def call_kwargs(adopted: Adopted, args: Sequence[str]) -> dict[str, Any]:
    """`--name value`, `--name=value`, `--flag`, `--no-flag` into keyword arguments."""
    params = adopted.parameters()
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        flag = args[i]
        if not flag.startswith("--") or flag == "--":
            raise _usage(adopted, f"unexpected argument {flag!r} (the function takes --name value)")
        key, eq, value = flag[2:].partition("=")
        name = key.replace("-", "_")
        negated = name.startswith("no_") and name[3:] in params and name not in params
        param = params.get(name[3:] if negated else name)
        if param is None:
            raise _usage(adopted, f"{adopted.name}() has no parameter {key!r}")
        if param.annotation in (bool, "bool") and not eq:
            nxt = args[i + 1].lower() if i + 1 < len(args) else ""
            take = nxt in _TRUE | _FALSE
            value = nxt if take else ("false" if negated else "true")
            i += 1 + take
        elif not eq:
            if i + 1 >= len(args):
                raise _usage(adopted, f"--{key} needs a value")
            value = args[i + 1]
            i += 2
        else:
            i += 1
        out[param.name] = convert(adopted, param, value)
    missing = [
        p.name
        for p in params.values()
        if p.default is inspect.Parameter.empty and p.name not in out
    ]
    if missing:
        raise _usage(adopted, f"{adopted.name}() needs {', '.join('--' + m for m in missing)}")
    return out


def convert(adopted: Adopted, param: inspect.Parameter, value: str) -> Any:
    kind = param.annotation
    name = getattr(kind, "__name__", kind)
    try:
        if name == "bool":
            low = value.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError(value)
            return low in _TRUE
        if name == "int":
            return int(value)
        if name == "float":
            return float(value)
    except ValueError:
        raise _usage(adopted, f"--{param.name} {value!r} is not a valid {name}") from None
    return value


def _usage(adopted: Adopted, message: str) -> UsageError:
    sig = ", ".join(
        f"--{p.name.replace('_', '-')}"
        + ("" if p.default is inspect.Parameter.empty else f" (default {p.default!r})")
        for p in adopted.parameters().values()
    )
    return UsageError(message, hint=f"pass them after --: {sig}")


def declared_size(adopted: Adopted) -> dict[str, Any]:
    """The gpu, cpu and memory (MiB) the function's decorator declares, where it declares them."""
    spec = adopted.function._spec_
    out: dict[str, Any] = {}
    gpu = spec.gpus if spec is not None else None
    if gpu:
        out["gpu"] = gpu if isinstance(gpu, str) else ",".join(gpu)
    for key, field in (("cpu", "cpu"), ("memory", "memory_mb")):
        value = getattr(spec, key, None)
        if value:
            out[field] = value[0] if isinstance(value, tuple) else value
    return out


def with_identity(adopted: Adopted, env: Mapping[str, str]) -> Any:
    """The function with the run's identity variables added to its own secrets (with_options
    replaces a function's secrets, so the declared ones are passed again)."""
    import modal

    spec = adopted.function._spec_  # the decorator's own options (modal 1.6: `_spec_`)
    secrets = list(spec.secrets or []) if spec is not None else []
    return adopted.function.with_options(secrets=[*secrets, modal.Secret.from_dict(dict(env))])
