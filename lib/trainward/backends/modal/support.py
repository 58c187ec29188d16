"""Plain helpers of the Modal backend: declarations, CLI JSON, bounded retries, call outcomes."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainward.backends.base import LaunchSpec
from trainward.config.values import GPU_TYPES, parse_duration
from trainward.errors import UsageError

APP_ID_RE = re.compile(r"ap-[A-Za-z0-9]{22}")
TOKEN_FIX = "modal token new   (or export MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)"


def declaration_for(
    experiment: dict[str, Any],
    *,
    code_dir: str,
    timeout_s: int | None = None,
    app: str | None = None,
    web: bool = False,
) -> dict[str, Any]:
    """What sizes the Modal functions, from an experiment (plain data): only infrastructure,
    so changing epochs or lr never changes the image or the functions (deploy once, launch
    many)."""
    res = experiment["resources"]
    return declaration(
        app=app or f"trainward-{experiment['name']}",
        volume=experiment["volume"],
        secrets=[(s["name"], list(s.get("required_keys") or [])) for s in experiment["secrets"]],
        gpu=res["gpu"],
        cpu=res["cpu"],
        memory=res["memory"],
        timeout=int(timeout_s or parse_duration(res["timeout"])),
        retries=res["retries"],
        code_dir=code_dir,
        web=web,
    )


def declaration_of(spec: LaunchSpec, *, experiment_name: str) -> dict[str, Any]:
    """The same declaration, from a launch's typed spec (what `launch` asks the backend for)."""
    res = spec.resources
    return declaration(
        app=f"trainward-{experiment_name}",
        volume=spec.volume,
        secrets=[(s.name, list(s.required_keys)) for s in spec.secrets],
        gpu=res.gpu,
        cpu=res.cpu,
        memory=res.memory_mb,
        timeout=res.timeout_s,
        retries=res.retries,
        code_dir=str(spec.code_dir or os.getcwd()),
    )


def declaration(
    *,
    app: str,
    volume: str,
    secrets: list[tuple[str, list[str]]],
    gpu: str | None,
    cpu: float,
    memory: int,
    timeout: int,
    retries: int,
    code_dir: str,
    web: bool = False,
) -> dict[str, Any]:
    """TRAINWARD_MODAL_DECL: the document scripts/modal_train.py declares its functions from."""
    return {
        "app": app,
        "volume": volume,
        "secrets": [{"name": n, "required_keys": keys} for n, keys in secrets],
        "gpu": gpu,
        "cpu": cpu,
        "memory": memory,
        "timeout": timeout,
        "retries": retries,
        "code_dir": code_dir,
        "validate_cpu": 4.0,
        "web": web,
    }


def cli_field(row: dict[str, Any], *names: str) -> Any:
    """A field of a modal CLI JSON row in either key style ("App ID", "Created at" before 1.5;
    "app_id", "created_at" after): keys are compared lower-cased with spaces as underscores."""
    norm = {str(k).strip().lower().replace(" ", "_"): v for k, v in row.items()}
    for name in names:
        if name in norm:
            return norm[name]
    return None


def epoch_of(row: dict[str, Any] | None, key: str) -> float | None:
    """A CLI timestamp ("2026-11-23 04:39:26+00:00") as epoch seconds."""
    from datetime import datetime

    raw = (row or {}).get(key)
    try:
        return datetime.fromisoformat(str(raw)).timestamp() if raw else None
    except ValueError:
        return None


def find_script(code_dir: str | None) -> Path:
    """The project's Modal declarations file."""
    candidates = [os.environ.get("TRAINWARD_MODAL_SCRIPT")]
    if code_dir:
        candidates.append(str(Path(code_dir) / "scripts" / "modal_train.py"))
    candidates.append(str(Path(__file__).resolve().parents[4] / "scripts" / "modal_train.py"))
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise UsageError(
        "no Modal declarations file (scripts/modal_train.py) found",
        hint="copy scripts/modal_train.py from the trainward repository into your project",
    )


def call_outcome(fc_id: str) -> dict[str, Any]:
    """What `FunctionCall.get(timeout=0)` says: running, finished (with the result), failed, stopped."""
    import modal
    import modal.exception as mx

    try:
        result = modal.FunctionCall.from_id(fc_id).get(timeout=0)
    except mx.FunctionTimeoutError as err:
        return {"state": "failed", "reason": f"the attempt hit its timeout: {err}"}
    except (TimeoutError, mx.TimeoutError):
        return {"state": "running"}
    except mx.RemoteError as err:  # "App ... was stopped", "Function call ... was cancelled"
        stopped = any(word in str(err).lower() for word in ("was stopped", "was cancelled"))
        return {"state": "stopped" if stopped else "failed", "reason": readable(err)}
    except mx.InputCancellation as err:
        return {"state": "stopped", "reason": f"cancelled: {readable(err)}"}
    except (mx.ConnectionError, mx.AuthError, mx.NotFoundError):
        raise
    except Exception as err:  # the function's own exception, re-raised by the client
        return {"state": "failed", "reason": readable(err)}
    if isinstance(result, dict) and result.get("status") in ("failed", "stopped", "timed-out"):
        return {
            "state": "failed" if result["status"] == "failed" else result["status"],
            "reason": result.get("reason"),
            "exit_code": result.get("exit_code"),
        }
    return {"state": "finished", **(result if isinstance(result, dict) else {})}


def readable(err: BaseException) -> str:
    """The remote exception's own message, one line: never the client's deserialisation error
    or a traceback. (An exception class the client cannot import arrives as a message that
    says so, with the original text after it.)"""
    text = str(err).strip()
    if "Could not deserialize remote exception" in text:
        text = text.split("remote traceback:", 1)[-1]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(" ")]
    last = next((ln for ln in reversed(lines) if not ln.startswith(("Traceback", "File "))), "")
    return (
        re.sub(r"^[A-Za-z_][\w.]*(Error|Exception|Failed): ", "", last.strip())
        or type(err).__name__
    )


def live_call(
    fc_id: str, outcome: Callable[[str], dict[str, Any]] = call_outcome
) -> tuple[str, dict[str, Any]]:
    """Follow a run's chain of continuation calls to the newest one, and its outcome."""
    for _ in range(1000):
        result = outcome(fc_id)
        if result.get("status") != "continue" or not result.get("next_call"):
            return fc_id, result
        fc_id = result["next_call"]
    return fc_id, result


def parse_live_rates(raw: dict[str, Any]) -> dict[str, float]:
    """`modal billing rates --json` -> USD per hour by GPU type (and "cpu", "memory").

    The workspace's keys name the resource (e.g. "gpu.h100", "gpu.a100-80gb", "cpu.core",
    "memory.gib"); values are USD per second (a value of 0.05 or more is taken to be
    per hour already). Keys that name nothing we price are ignored."""
    out: dict[str, float] = {}
    by_len = sorted(GPU_TYPES, key=len, reverse=True)
    for key, value in raw.items():
        try:
            rate = float(value)
        except (TypeError, ValueError):
            continue
        per_hour = rate * 3600 if rate < 0.05 else rate
        norm = key.upper().replace("_", "-")
        gpu = next(
            (g for g in by_len if re.search(rf"(^|[^A-Z0-9]){re.escape(g)}($|[^A-Z0-9])", norm)),
            None,
        )
        if gpu:
            out.setdefault(gpu, per_hour)
        elif "CPU" in norm:
            out["cpu"] = per_hour
        elif "MEM" in norm:
            out["memory"] = per_hour
    return out
