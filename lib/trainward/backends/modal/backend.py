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
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from trainward.backends.base import Check, ComputeState, LaunchSpec, LogQuery, RunHandle
from trainward.backends.modal import adopt
from trainward.backends.modal.apps import TAG_HASH, TAG_LAUNCH, TAG_RUN, App, ModalApps
from trainward.backends.modal.support import (
    TOKEN_FIX,
    call_outcome,
    declaration_for,
    declaration_of,
    find_script,
    live_call,
    parse_live_rates,
)
from trainward.config.experiment import Secret
from trainward.core.retry import with_backoff
from trainward.core.sweep_contracts import SweepPlan
from trainward.errors import AuthError, NotFound, RemoteUnavailable, TrainwardError


class ModalBackend(ModalApps):
    """Detached runs on Modal: launch, deploy, sweeps, state, logs, stop, doctor checks."""

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
            ).spawn(spec.worker_spec.to_json())
            return {
                "function_call_id": call.object_id,
                "deployed_app": app_name,
                "dashboard_url": call.get_dashboard_url(),
            }

        ids = self._call(spawn, f"spawning {spec.run} from the deployed app {app_name}")
        deployed = next((a for a in self.apps() if a.description == app_name and a.active), None)
        return RunHandle(
            self.name, spec.run, {**ids, "app_id": deployed.app_id if deployed else None}
        )

    def launch(self, spec: LaunchSpec, *, on_spawn: Callable[[], None] = lambda: None) -> RunHandle:
        """Start a detached app named after the run, spawn run_spec, return at once.
        With `spec.deployed_app`, spawn from that deployed app instead (no image build).

        Before anything is created, a live run of the same name anywhere is refused. The app
        carries the run's identity in its tags; `on_spawn` is called just before the spawn
        (the launcher holds SIGINT/SIGTERM from there until the run is recorded). While Modal
        is unreachable *before the app exists*, the launch is retried (bounded by
        TRAINWARD_MODAL_RETRY_S, default 60 s): nothing can have started, so a retry cannot
        double-launch. A failure after the app exists is reported, never retried."""
        self._require_token()
        if spec.deployed_app:
            on_spawn()
            return self._spawn_deployed(spec, spec.deployed_app)
        bound = float(os.environ.get("TRAINWARD_MODAL_RETRY_S", "60"))
        return with_backoff(
            lambda: self._launch_once(spec, on_spawn),
            retry_on=RemoteUnavailable,
            bound_s=bound,
            retryable=lambda err: (
                bool(getattr(err, "details", {}).get("before_app"))
                and not isinstance(err, AuthError)
            ),
            on_retry=lambda err, delay: print(
                f"[trainward] launching {spec.run}: Modal unavailable; retrying in {delay:.0f} s",
                file=sys.stderr,
                flush=True,
            ),
        )

    def _launch_once(self, spec: LaunchSpec, on_spawn: Callable[[], None]) -> RunHandle:
        try:
            self.refuse_active(spec.run)
        except RemoteUnavailable as err:
            err.details["before_app"] = True
            raise
        app, spawn = self._app_and_spawn(spec)
        info = spec.worker_spec.run_info
        tags = {
            TAG_RUN: spec.run,
            TAG_HASH: (info.config_hash or "")[:16],
            TAG_LAUNCH: info.launch_token or "",
        }
        ids: dict[str, Any] = {"app_name": spec.run}
        try:
            with app.run(detach=True, name=spec.run):
                ids["app_id"] = app.app_id
                app.set_tags(tags)
                self.first_claimant(spec.run, ids["app_id"])
                on_spawn()
                ids["function_call_id"] = spawn().object_id
                ids["dashboard_url"] = app.get_dashboard_url()
        except BaseException as err:
            self._unwind(spec.run, ids, err)
            raise self._launch_error(spec.run, ids, app, err) from None
        return RunHandle(self.name, spec.run, ids)

    def _app_and_spawn(self, spec: LaunchSpec) -> tuple[Any, Callable[[], Any]]:
        """The app to run and how to spawn the run in it: trainward's worker (`run_spec`), or
        an adopted function of your own app with its keyword arguments and the run's identity."""
        entry = spec.worker_spec.experiment.get("entrypoint")
        if isinstance(entry, dict) and "modal_function" in entry:
            adopted = adopt.load(entry["modal_function"], str(spec.code_dir or "."))
            kwargs = adopt.call_kwargs(adopted, spec.worker_spec.args)
            function = adopt.with_identity(adopted, spec.env)
            return adopted.app, lambda: function.spawn(**kwargs)
        decl = declaration_of(spec, experiment_name=spec.worker_spec.experiment["name"])
        module = self._load_declarations(decl)
        return module.app, lambda: module.run_spec.spawn(spec.worker_spec.to_json())

    def _unwind(self, run: str, ids: dict[str, Any], err: BaseException) -> None:
        """A launch that failed after its app existed but before its spawn leaves no app behind."""
        if ids.get("app_id") and "function_call_id" not in ids:
            try:
                self.stop_app(ids["app_id"])
            except TrainwardError:
                pass  # Modal stops an app whose client is gone; the error below says what failed

    def _launch_error(
        self, run: str, ids: dict[str, Any], app: Any, err: BaseException
    ) -> BaseException:
        if isinstance(err, (TrainwardError, KeyboardInterrupt, SystemExit)):
            return err
        translated = self._translate(err, f"launching {run}")
        if isinstance(translated, TrainwardError):
            translated.details["before_app"] = not (
                ids.get("app_id") or getattr(app, "app_id", None)
            )
        return translated

    def launch_sweep(self, plan: SweepPlan) -> dict[str, Any]:
        """One detached app named after the sweep; its controller spawns every member and
        validation job from inside it (never one client per config). Members whose resources
        differ get one function per distinct size (`member_functions` in the declaration)."""
        self._require_token()
        members = list(plan.members.values())
        first = members[0]
        decl = declaration_for(
            first.experiment,
            code_dir=(first.worker_spec and first.worker_spec.code_dir)
            or plan.validation.code_dir
            or ".",
            timeout_s=max(m.timeout_s for m in members),
        )
        sizes = {
            m.resources_key: m.experiment["resources"] | {"timeout": m.timeout_s} for m in members
        }
        if len(sizes) > 1:
            decl["member_functions"] = {
                k: {f: r[f] for f in ("gpu", "cpu", "memory", "timeout", "retries")}
                for k, r in sizes.items()
            }
        decl["validate_cpu"], decl["validate_memory"] = plan.validation.cpu, plan.validation.memory
        module = self._load_declarations(decl)
        ids: dict[str, Any] = {}
        try:
            with module.app.run(detach=True, name=plan.sweep):
                ids["app_id"] = module.app.app_id
                ids["function_call_id"] = module.sweep_controller.spawn(plan.to_json()).object_id
        except TrainwardError:
            raise
        except Exception as err:
            raise self._translate(err, f"starting sweep {plan.sweep}") from None
        return ids

    def state(self, handle: RunHandle) -> ComputeState:
        """The run's state from its function call (followed through continuations) and its app.
        A handle without a call id (a record from before the spawn was recorded) is completed
        from Modal itself: the app's calls."""
        apps = {a.app_id: a for a in self.apps()}
        app = apps.get(handle.ids.get("app_id") or "")
        fc_id = handle.ids.get("function_call_id")
        if app is not None and not fc_id:
            fc_id = next(iter(self.with_calls(app).calls), None)
        detail = {
            "app_id": app.app_id if app else handle.ids.get("app_id"),
            "app_state": app.state if app else "unknown",
            "dashboard_url": handle.ids.get("dashboard_url"),
            "function_call_id": fc_id,
        }
        if not fc_id:
            return self._state_without_call(app, detail)
        fc_id, outcome = live_call(fc_id, self._call_outcome)
        detail["function_call_id"] = fc_id
        state = outcome["state"]
        if state == "running" and app is not None and app.state == "stopped":
            state = "stopped"
        return ComputeState(
            state,
            exit_code=outcome.get("exit_code"),
            reason=outcome.get("reason"),
            detail=detail,
            started_at=app.created_at if app else None,
            ended_at=app.stopped_at if app else None,
        )

    @staticmethod
    def _state_without_call(app: App | None, detail: dict[str, Any]) -> ComputeState:
        if app is None:
            return ComputeState(
                "unknown", reason="no Modal app of this run was found", detail=detail
            )
        if app.active:
            return ComputeState(
                "pending", reason="the app exists; nothing is spawned yet", detail=detail
            )
        return ComputeState(
            "lost",
            reason=f"the app {app.app_id} is {app.state} and never ran this run",
            detail=detail,
        )

    def _call_outcome(self, fc_id: str) -> dict[str, Any]:
        return self._call(lambda: call_outcome(fc_id), f"reading call {fc_id}")

    def logs(self, handle: RunHandle, *, tail: int = 100, query: LogQuery | None = None) -> str:
        """`modal app logs APP --tail N` (fetches and exits; never `-f`), with the same filters;
        a run on a deployed app shares it with other runs, so only its own call's lines."""
        app_id = handle.ids.get("app_id")
        if not app_id:
            return ""
        q = query or LogQuery()
        args = ["app", "logs", app_id, "--tail", str(tail)]
        if q.since is not None:
            args += ["--since", time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(q.since))]
        if q.search:
            args += ["--search", q.search]
        if q.source:
            args += ["--source", q.source]
        if q.timestamps:
            args.append("--timestamps")
        if handle.ids.get("deployed_app") and handle.ids.get("function_call_id"):
            args += ["--function-call", handle.ids["function_call_id"]]
        lines = self._cli(*args, timeout=max(self.timeout, 30)).splitlines()
        return "\n".join(lines[-tail:])

    def stop(self, handle: RunHandle) -> None:
        """Stop the run's own app; a run spawned from a deployed app shares it, so only its call
        (and that call's continuation) is cancelled. Stopping a stopped app changes nothing."""
        if handle.ids.get("deployed_app"):
            self._cancel_call(handle.ids["function_call_id"])
            return
        app_id = handle.ids.get("app_id") or (self.find_run(handle.run) or handle).ids.get("app_id")
        if not app_id:
            raise NotFound(f"no Modal app found for run '{handle.run}'")
        self.stop_app(app_id)

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
            retry = isinstance(err, RemoteUnavailable) and not isinstance(err, AuthError)
            out.append(
                Check(
                    "modal:reachable",
                    False,
                    err.message,
                    err.hint or TOKEN_FIX,
                    code=5,
                    retryable=retry,
                )
            )
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
