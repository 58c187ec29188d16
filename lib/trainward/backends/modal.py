"""The Modal backend: detached runs, volumes, secrets, state and logs through the real modal client.

The only library module that imports `modal`, always inside functions. Every remote call is
bounded (`TRAINWARD_MODAL_TIMEOUT`, default 60 s): the client retries a dead address for
about a minute, and an agent must never wait on that. A missing token is reported before
any network I/O, with the fix (`modal token new`).

Launch loads the project's Modal declarations (`scripts/modal_train.py`) with the run's
declaration in TRAINWARD_MODAL_DECL, starts a *detached* app named after the run, spawns
`run_spec` and returns the app and function-call ids at once. An interrupt during the image
build stops the app (nothing was spawned: "not launched"); once the call exists, an
interrupt cannot kill it. Where the modal CLI's JSON is parsed, both the pre-1.5 key style
("App ID", "State") and the 1.5+ style ("app_id", "state") are accepted.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..config import Secret
from ..errors import AuthError, NotFound, RemoteUnavailable, TrainwardError, UsageError
from ..registry import RunExists
from .base import Check, ComputeState, FileEntry, LaunchSpec, Progress, RunHandle

T = TypeVar("T")
ACTIVE_APP_STATES = (
    "running",
    "deployed",
    "detached",
    "ephemeral",
    "initializing",
    "deploying",
    "detached_disconnected",
)
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
    """What sizes the Modal functions: only infrastructure, so changing epochs or lr never
    changes the image or the functions (deploy once, launch many)."""
    res = experiment["resources"]
    return {
        "app": app or f"trainward-{experiment['name']}",
        "volume": experiment["volume"],
        "secrets": [
            {"name": s["name"], "required_keys": list(s.get("required_keys") or [])}
            for s in experiment["secrets"]
        ],
        "gpu": res["gpu"],
        "cpu": res["cpu"],
        "memory": res["memory"],
        "timeout": int(timeout_s or res["timeout"]),
        "retries": res["retries"],
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


def _epoch(row: dict[str, Any] | None, key: str) -> float | None:
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
    candidates.append(str(Path(__file__).resolve().parents[3] / "scripts" / "modal_train.py"))
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
        return {"state": "stopped" if stopped else "failed", "reason": str(err)}
    except mx.InputCancellation as err:
        return {"state": "stopped", "reason": f"cancelled: {err}"}
    except (mx.ConnectionError, mx.AuthError, mx.NotFoundError):
        raise
    except Exception as err:  # the function's own exception, re-raised by the client
        return {"state": "failed", "reason": f"{type(err).__name__}: {err}"}
    if isinstance(result, dict) and result.get("status") == "failed":
        return {
            "state": "failed",
            "reason": result.get("reason"),
            "exit_code": result.get("exit_code"),
        }
    return {"state": "finished", **(result if isinstance(result, dict) else {})}


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


def retry_unavailable(
    fn: Callable[[], T],
    *,
    bound_s: float,
    what: str,
    retryable: Callable[[RemoteUnavailable], bool] = lambda err: True,
) -> T:
    """Call `fn`, retrying RemoteUnavailable (when `retryable`) with backoff for `bound_s`."""
    deadline = time.monotonic() + bound_s
    delay = 1.0
    while True:
        try:
            return fn()
        except RemoteUnavailable as err:
            if not retryable(err) or time.monotonic() + delay > deadline:
                if retryable(err):
                    err.message = f"{err.message} (still failing after {bound_s:.0f} s of retries)"
                raise
            print(
                f"[trainward] {what}: Modal unavailable; retrying in {delay:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


class ModalExecutor:
    """The sweep controller's executor inside the sweep's Modal app: members and validation
    jobs are spawned from that one app (`run_spec` and `validate` handles of scripts/modal_train.py)."""

    def __init__(self, run_spec: Any, validate: Any) -> None:
        self.run_spec = run_spec
        self.validate = validate

    def launch(self, run: str, member: dict[str, Any], timeout_s: int | None) -> dict[str, Any]:
        spec = {**member["worker_spec"], "max_seconds": timeout_s}
        return {"function_call_id": self.run_spec.spawn(spec).object_id}

    def state(self, run: str, ids: dict[str, Any]) -> str:
        _, outcome = live_call(ids["function_call_id"])
        return str(outcome["state"])

    def submit(self, job: dict[str, Any]) -> Any:
        return self.validate.spawn(job)

    def poll(self, call: Any) -> dict[str, Any] | None:
        outcome = call_outcome(call.object_id)
        if outcome["state"] == "running":
            return None
        if outcome["state"] != "finished":
            raise TrainwardError(f"validation job failed: {outcome.get('reason')}")
        return {k: v for k, v in outcome.items() if k != "state"}


class ModalBackend:
    name = "modal"

    def __init__(self, *, timeout: float | None = None, environment: str | None = None) -> None:
        self.timeout = timeout or float(os.environ.get("TRAINWARD_MODAL_TIMEOUT", "60"))
        self.environment = environment

    def __repr__(self) -> str:
        return "ModalBackend()"

    # -- plumbing -----------------------------------------------------------------------------
    @staticmethod
    def token_present() -> bool:
        if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
            return True
        from modal.config import config

        return bool(config.get("token_id") and config.get("token_secret"))

    def _require_token(self) -> None:
        if not self.token_present():
            raise AuthError("no Modal token is configured", hint=f"run: {TOKEN_FIX}")

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
        """Run one client call with a deadline, translating the client's errors to ours."""
        self._require_token()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as err:  # re-raised in the caller's thread
                box["error"] = err

        thread = threading.Thread(target=target, daemon=True, name=f"modal:{what}")
        thread.start()
        thread.join(timeout or self.timeout)
        if thread.is_alive():
            raise RemoteUnavailable(
                f"Modal did not answer within {timeout or self.timeout:.0f} s while {what}",
                hint="check your network and MODAL_SERVER_URL; the call was abandoned, nothing was changed by us",
            )
        if "error" in box:
            raise self._translate(box["error"], what) from None
        return box["value"]  # type: ignore[no-any-return,unused-ignore]

    @staticmethod
    def _translate(err: BaseException, what: str) -> BaseException:
        import modal.exception as mx

        if isinstance(err, TrainwardError):
            return err
        if isinstance(err, mx.AuthError):
            return AuthError(f"Modal rejected the token while {what}", hint=f"run: {TOKEN_FIX}")
        if isinstance(err, (mx.NotFoundError, FileNotFoundError)):
            return NotFound(f"not found while {what}: {err}")
        text = str(err)
        if (
            isinstance(err, (mx.ConnectionError, OSError, TimeoutError))
            or "UNAVAILABLE" in text
            or "StreamTerminated" in text
        ):
            return RemoteUnavailable(
                f"Modal is unreachable while {what}: {text.splitlines()[0] if text else type(err).__name__}",
                hint="retry in a minute; check status.modal.com and your network",
            )
        return TrainwardError(f"Modal error while {what}: {type(err).__name__}: {text}")

    def _cli(self, *args: str, timeout: float | None = None) -> str:
        """Run the modal CLI (`python -m modal ...`), bounded; returns stdout."""
        self._require_token()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "modal", *args],
                capture_output=True,
                text=True,
                timeout=timeout or self.timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise RemoteUnavailable(
                f"`modal {' '.join(args)}` did not finish within {timeout or self.timeout:.0f} s",
                hint="retry; check your network",
            ) from None
        if proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            msg = next((line for line in reversed(err) if line.strip()), "no output")
            if "Token" in msg or "token" in msg:
                raise AuthError(
                    f"`modal {args[0]} {args[1]}` failed: {msg}", hint=f"run: {TOKEN_FIX}"
                )
            if "UNAVAILABLE" in msg or "connect" in msg.lower():
                raise RemoteUnavailable(
                    f"`modal {args[0]} {args[1]}` failed: {msg}", hint="retry in a minute"
                )
            raise TrainwardError(f"`modal {' '.join(args)}` failed: {msg}")
        return proc.stdout

    # -- volumes ------------------------------------------------------------------------------
    def _vol(self, name: str, create: bool = False) -> Any:
        import modal

        return modal.Volume.from_name(
            name, create_if_missing=create, environment_name=self.environment
        )

    def volume_exists(self, volume: str) -> bool:
        try:
            self._call(lambda: self._vol(volume).hydrate(), f"looking up volume {volume}")
        except NotFound:
            return False
        return True

    def _entries(self, volume: str, path: str, recursive: bool) -> list[FileEntry]:
        from modal.types import FileEntryType

        def listing() -> list[FileEntry]:
            out = []
            for e in self._vol(volume).listdir(path or "/", recursive=recursive):
                out.append(
                    FileEntry(
                        e.path.lstrip("/"),
                        int(e.size),
                        float(e.mtime),
                        e.type == FileEntryType.DIRECTORY,
                    )
                )
            return out

        return self._call(listing, f"listing {volume}:{path or '/'}")

    def stat(self, volume: str, path: str) -> FileEntry | None:
        clean = path.strip("/")
        parent = clean.rpartition("/")[0]
        try:
            entries = self._entries(volume, parent, False)
        except NotFound:
            return None
        return next((e for e in entries if e.path.strip("/") == clean), None)

    def list_files(
        self, volume: str, path: str = "", *, recursive: bool = False
    ) -> list[FileEntry]:
        try:
            return sorted(self._entries(volume, path.strip("/"), recursive), key=lambda e: e.path)
        except NotFound:
            raise NotFound(
                f"'{path}' does not exist on Modal volume '{volume}'",
                hint=f"modal volume ls {volume}   (or create it: modal volume create {volume})",
            ) from None

    def read_file(self, volume: str, path: str) -> bytes:
        def read() -> bytes:
            return b"".join(self._vol(volume).read_file(path.strip("/")))

        try:
            return self._call(read, f"reading {volume}:{path}")
        except NotFound:
            raise NotFound(f"'{path}' does not exist on Modal volume '{volume}'") from None

    def download_file(
        self,
        volume: str,
        path: str,
        dest: Path,
        *,
        offset: int = 0,
        progress: Progress | None = None,
    ) -> None:
        """Stream into dest; with offset, skip (re-read, not re-write) the bytes already there."""
        total = (self.stat(volume, path) or FileEntry(path, 0, 0)).size

        def fetch() -> None:
            seen = 0
            with open(dest, "ab" if offset else "wb") as fh:
                for chunk in self._vol(volume).read_file(path.strip("/")):
                    start = max(0, offset - seen)
                    seen += len(chunk)
                    if start < len(chunk):
                        fh.write(chunk[start:])
                    if progress:
                        progress(seen, total)

        self._call(fetch, f"downloading {volume}:{path}", timeout=max(self.timeout, total / 5e6))

    def ensure_volume(self, volume: str) -> None:
        self._call(lambda: self._vol(volume, create=True).hydrate(), f"creating volume {volume}")

    def upload_files(
        self, volume: str, files: Sequence[tuple[Path, str]], *, progress: Progress | None = None
    ) -> None:
        """One batch_upload(force=True) for the whole list (v1 and v2 alike)."""
        total = sum(Path(src).stat().st_size for src, _ in files)

        def upload() -> None:
            with self._vol(volume).batch_upload(force=True) as batch:
                for src, dst in files:
                    batch.put_file(str(src), "/" + dst.strip("/"))

        self._call(
            upload,
            f"uploading {len(files)} file(s) to {volume}",
            timeout=max(self.timeout, total / 2e6),
        )
        if progress:
            progress(total, total)

    def write_file(self, volume: str, path: str, data: bytes) -> None:
        def upload() -> None:
            with self._vol(volume).batch_upload(force=True) as batch:
                batch.put_file(io.BytesIO(data), "/" + path.strip("/"))

        self._call(upload, f"writing {volume}:{path}")

    def remove_file(self, volume: str, path: str) -> None:
        self._call(
            lambda: self._vol(volume).remove_file(path.strip("/"), recursive=True),
            f"removing {volume}:{path}",
        )

    # -- apps and runs ------------------------------------------------------------------------
    def apps(self) -> list[dict[str, Any]]:
        """`modal app list --json`, normalised to app_id / description / state / created_at."""
        rows = json.loads(self._cli("app", "list", "--json") or "[]")
        return [
            {
                "app_id": cli_field(r, "app_id"),
                "description": cli_field(r, "description", "name"),
                "state": str(cli_field(r, "state") or "").lower(),
                "created_at": cli_field(r, "created_at"),
                "stopped_at": cli_field(r, "stopped_at"),
                "tasks": cli_field(r, "tasks"),
            }
            for r in rows
        ]

    def _app(self, run: str, app_id: str | None = None) -> dict[str, Any] | None:
        rows = [
            a
            for a in self.apps()
            if (app_id and a["app_id"] == app_id) or (not app_id and a["description"] == run)
        ]
        return rows[0] if rows else None

    def find_run(self, run: str) -> RunHandle | None:
        row = self._app(run)
        return RunHandle(self.name, run, {"app_id": row["app_id"]}) if row else None

    def _load_declarations(self, decl: dict[str, Any]) -> Any:
        script = find_script(decl.get("code_dir"))
        os.environ["TRAINWARD_MODAL_DECL"] = json.dumps(decl, sort_keys=True)
        try:
            spec = importlib.util.spec_from_file_location("modal_train", script)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules["modal_train"] = module
            spec.loader.exec_module(module)
        finally:
            os.environ.pop("TRAINWARD_MODAL_DECL", None)
        return module

    def deploy(
        self,
        experiment: dict[str, Any],
        *,
        code_dir: str,
        app: str | None = None,
        web: bool = False,
    ) -> dict[str, Any]:
        """Publish the training app persistently (`modal deploy`): launches then spawn from it."""
        decl = declaration_for(experiment, code_dir=code_dir, app=app, web=web)
        module = self._load_declarations(decl)
        self._require_token()
        try:
            module.app.deploy(name=decl["app"])
        except Exception as err:
            raise self._translate(err, f"deploying {decl['app']}") from None
        return {"app": decl["app"], "app_id": module.app.app_id, "declaration": decl}

    def _spawn_deployed(self, spec: LaunchSpec, app_name: str) -> RunHandle:
        import modal

        def spawn() -> dict[str, Any]:
            call = modal.Function.from_name(
                app_name, "run_spec", environment_name=self.environment
            ).spawn(spec.worker_spec)
            return {
                "function_call_id": call.object_id,
                "deployed_app": app_name,
                "dashboard_url": call.get_dashboard_url(),
            }

        ids = self._call(spawn, f"spawning {spec.run} from the deployed app {app_name}")
        row = self._app(app_name)
        return RunHandle(self.name, spec.run, {**ids, "app_id": row["app_id"] if row else None})

    def launch(self, spec: LaunchSpec) -> RunHandle:
        """Start a detached app named after the run, spawn run_spec, return at once.
        With `spec.deployed_app`, spawn from that deployed app instead (no image build).

        While Modal is unreachable *before the app exists*, the launch is retried (bounded by
        TRAINWARD_MODAL_RETRY_S, default 60 s): nothing can have started, so a retry cannot
        double-launch. A failure after the app exists is reported, never retried."""
        self._require_token()
        if spec.deployed_app:
            return self._spawn_deployed(spec, spec.deployed_app)
        bound = float(os.environ.get("TRAINWARD_MODAL_RETRY_S", "60"))
        return retry_unavailable(
            lambda: self._launch_once(spec),
            bound_s=bound,
            what=f"launching {spec.run}",
            retryable=lambda err: bool(err.details.get("before_app")),
        )

    def _launch_once(self, spec: LaunchSpec) -> RunHandle:
        try:
            row = self._app(spec.run)
        except RemoteUnavailable as err:
            err.details["before_app"] = True
            raise
        if row and row["state"] in ACTIVE_APP_STATES:
            raise RunExists(
                f"a Modal app named '{spec.run}' is already {row['state']} ({row['app_id']})",
                hint=f"pick another --run-name, or check it: trainward status {spec.run}",
            )
        decl = declaration_for(
            spec.worker_spec["experiment"],
            code_dir=str(spec.code_dir or os.getcwd()),
            timeout_s=spec.timeout_s,
        )
        module = self._load_declarations(decl)
        ids: dict[str, Any] = {"app_name": spec.run}
        try:
            with module.app.run(detach=True, name=spec.run):
                ids["app_id"] = module.app.app_id
                call = module.run_spec.spawn(spec.worker_spec)
                ids["function_call_id"] = call.object_id
                ids["dashboard_url"] = module.app.get_dashboard_url()
        except TrainwardError:
            raise
        except Exception as err:
            translated = self._translate(err, f"launching {spec.run}")
            if isinstance(translated, TrainwardError):
                translated.details["before_app"] = not (
                    ids.get("app_id") or getattr(module.app, "app_id", None)
                )
                if "app_id" in ids and "function_call_id" not in ids:
                    translated.hint = (
                        f"the app {ids['app_id']} was created but the spawn failed; "
                        f"check it with `trainward status {spec.run}` before launching again"
                    )
            raise translated from None
        if "function_call_id" not in ids:
            raise TrainwardError(f"the launch of {spec.run} was interrupted before the run started")
        return RunHandle(self.name, spec.run, ids)

    def launch_sweep(self, plan: dict[str, Any]) -> dict[str, Any]:
        """One detached app named after the sweep; its controller spawns every member and
        validation job from inside it (never one client per config)."""
        self._require_token()
        first = next(iter(plan["members"].values()))
        decl = declaration_for(
            first["experiment"],
            code_dir=first["worker_spec"]["code_dir"],
            timeout_s=max(m["timeout_s"] for m in plan["members"].values()),
        )
        module = self._load_declarations(decl)
        ids: dict[str, Any] = {}
        try:
            with module.app.run(detach=True, name=plan["sweep"]):
                ids["app_id"] = module.app.app_id
                ids["function_call_id"] = module.sweep_controller.spawn(plan).object_id
        except TrainwardError:
            raise
        except Exception as err:
            raise self._translate(err, f"starting sweep {plan['sweep']}") from None
        return ids

    def state(self, handle: RunHandle) -> ComputeState:
        row = self._app(handle.run, handle.ids.get("app_id"))
        app_state = row["state"] if row else "unknown"
        detail = {
            "app_id": handle.ids.get("app_id"),
            "app_state": app_state,
            "dashboard_url": handle.ids.get("dashboard_url"),
            "function_call_id": handle.ids.get("function_call_id"),
        }
        fc_id = handle.ids.get("function_call_id")
        if not fc_id:
            state = (
                "running"
                if app_state in ACTIVE_APP_STATES
                else "stopped"
                if app_state == "stopped"
                else "unknown"
            )
            return ComputeState(state, detail=detail)
        fc_id, outcome = live_call(fc_id, self._call_outcome)
        detail["function_call_id"] = fc_id
        state = outcome["state"]
        if state == "running" and app_state == "stopped":
            state = "stopped"
        return ComputeState(
            state,
            exit_code=outcome.get("exit_code"),
            reason=outcome.get("reason"),
            detail=detail,
            started_at=_epoch(row, "created_at"),
            ended_at=_epoch(row, "stopped_at"),
        )

    def _call_outcome(self, fc_id: str) -> dict[str, Any]:
        return self._call(lambda: call_outcome(fc_id), f"reading call {fc_id}")

    def logs(self, handle: RunHandle, *, tail: int = 100) -> str:
        """`modal app logs APP_ID` fetches and exits (modal >= 1.4); we keep the last `tail` lines."""
        app_id = handle.ids.get("app_id")
        if not app_id:
            return ""
        lines = self._cli("app", "logs", app_id, timeout=max(self.timeout, 30)).splitlines()
        return "\n".join(lines[-tail:])

    def stop(self, handle: RunHandle) -> None:
        """Stop the run's own app; a run spawned from a deployed app shares it, so only its call
        (and that call's continuation) is cancelled."""
        if handle.ids.get("deployed_app"):
            self._cancel_call(handle.ids["function_call_id"])
            return
        app_id = handle.ids.get("app_id") or (self.find_run(handle.run) or handle).ids.get("app_id")
        if not app_id:
            raise NotFound(f"no Modal app found for run '{handle.run}'")
        self._cli("app", "stop", "--yes", app_id)

    def _cancel_call(self, fc_id: str) -> None:
        import modal

        fc_id, _ = live_call(fc_id, self._call_outcome)
        self._call(
            lambda: modal.FunctionCall.from_id(fc_id).cancel(terminate_containers=True),
            f"cancelling {fc_id}",
        )

    def live_rates(self) -> dict[str, float] | None:
        """The workspace's own prices (`modal billing rates --json`, modal >= 1.5.4), USD per
        hour; None when they cannot be read (the price table is used, and the report says so)."""
        from ..pricing import parse_live_rates

        try:
            raw = json.loads(
                self._cli("billing", "rates", "--json", timeout=min(self.timeout, 20)) or "{}"
            )
        except (TrainwardError, ValueError):
            return None
        rates = parse_live_rates(raw) if isinstance(raw, dict) else {}
        return rates or None

    # -- doctor and prices --------------------------------------------------------------------
    def checks(self, *, volume: str | None, secrets: Sequence[Secret] = ()) -> list[Check]:
        present = self.token_present()
        out = [
            Check(
                "modal:token",
                present,
                "a token is configured (its value is not shown)" if present else "no Modal token",
                None if present else TOKEN_FIX,
                code=5,
            )
        ]
        if not present:
            return out
        started = time.monotonic()
        try:
            self.volume_exists("trainward-doctor-probe")
            out.append(
                Check(
                    "modal:reachable",
                    True,
                    f"answered in {1000 * (time.monotonic() - started):.0f} ms",
                )
            )
        except TrainwardError as err:
            out.append(Check("modal:reachable", False, err.message, err.hint or TOKEN_FIX, code=5))
            return out
        if volume:
            ok = self.volume_exists(volume)
            out.append(
                Check(
                    f"volume:{volume}",
                    ok,
                    "exists" if ok else "does not exist (launch creates it)",
                    None if ok else f"modal volume create {volume}",
                    level="error" if ok else "warning",
                )
            )
        out += [self._secret_check(s) for s in secrets]
        return out

    def _secret_check(self, secret: Secret) -> Check:
        import modal

        def hydrate() -> None:
            modal.Secret.from_name(
                secret.name, required_keys=secret.required_keys, environment_name=self.environment
            ).hydrate()

        keys = " ".join(f"{k}=..." for k in secret.required_keys) or "KEY=..."
        try:
            self._call(hydrate, f"checking secret {secret.name}")
        except TrainwardError as err:
            return Check(
                f"secret:{secret.name}",
                False,
                err.message,
                f"modal secret create {secret.name} --from-dotenv .env   (a .env holding {keys}; "
                "never put the value on the command line)",
            )
        detail = "exists" + (
            f" with {', '.join(secret.required_keys)}" if secret.required_keys else ""
        )
        return Check(f"secret:{secret.name}", True, detail)
