"""Finding a run on Modal from its name alone, on any machine, and keeping one run per name.

A launch records its identity on Modal itself before it spawns: the app is named after the
run and tagged (`trainward.run`, `trainward.config_hash`, `trainward.launch`). A reader with
no registry (another machine, a launcher killed right after the spawn) finds the app by
name and asks Modal for the calls of its `run_spec` function, so it can tell "the run
exists" (and read its state) from "an app exists but nothing was spawned".

App states are read in both spellings Modal uses: the SDK's enum (`APP_STATE_DETACHED`, or
its number) and the CLI's JSON strings (`ephemeral (detached)`, `initializing...`,
`stopping...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainward.backends.base import RunHandle
from trainward.backends.modal.volumes import ModalVolumes
from trainward.errors import NotFound, RunExists

TAG_RUN = "trainward.run"
TAG_HASH = "trainward.config_hash"
TAG_LAUNCH = "trainward.launch"
RUN_FUNCTION = "run_spec"

_CLI_STATES = {
    "ephemeral (detached)": "detached",
    "initializing...": "initializing",
    "stopping...": "stopping",
}
#: States of an app that may still run or start code: a launch of its name must refuse.
ACTIVE_APP_STATES = frozenset(
    {"ephemeral", "detached", "detached_disconnected", "initializing", "deployed", "stopping"}
)


def app_state(raw: Any) -> str:
    """One spelling for an app state from the CLI's JSON, the SDK's enum name or its number."""
    if isinstance(raw, int):
        from modal_proto import api_pb2

        raw = api_pb2.AppState.Name(raw)
    text = str(raw or "").strip().lower()
    text = _CLI_STATES.get(text, text)
    return text.removeprefix("app_state_").rstrip(".").strip() or "unknown"


@dataclass
class App:
    """One app as Modal lists it, with its state in one spelling."""

    app_id: str
    description: str
    state: str
    created_at: float
    stopped_at: float | None = None
    tasks: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # run_spec calls, oldest first

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_APP_STATES


def _app(item: Any) -> App:
    stopped = item.stopped_at or None
    return App(item.app_id, item.description, app_state(item.state), item.created_at, stopped,
               item.n_running_tasks)  # fmt: skip


class ModalApps(ModalVolumes):
    """Apps, their tags and their calls, read through the client's own RPCs (bounded)."""

    def apps(self) -> list[App]:
        """Every app of the environment, newest first (`AppList`)."""

        async def fetch(client: Any, api_pb2: Any) -> list[App]:
            req = api_pb2.AppListRequest(environment_name=self.environment or "")
            resp = await client._stub.AppList(req)
            return [_app(a) for a in resp.apps]

        rows = self._rpc(fetch, "listing apps")
        return sorted(rows, key=lambda a: (a.created_at, a.app_id), reverse=True)

    def named(self, run: str, *, active_only: bool = False) -> list[App]:
        """Apps called `run`, newest first, with their tags and calls."""
        rows = [a for a in self.apps() if a.description == run and (a.active or not active_only)]
        return [self.with_calls(a) for a in rows]

    def with_calls(self, app: App) -> App:
        async def fetch(client: Any, api_pb2: Any) -> App:
            tags = await client._stub.AppGetTags(api_pb2.AppGetTagsRequest(app_id=app.app_id))
            req = api_pb2.AppGetLayoutRequest(app_id=app.app_id)
            layout = await client._stub.AppGetLayout(req)
            app.tags = dict(tags.tags)
            fn_id = layout.app_layout.function_ids.get(RUN_FUNCTION)
            if fn_id:
                listed = await client._stub.FunctionCallList(
                    api_pb2.FunctionCallListRequest(function_id=fn_id)
                )
                ordered = sorted(listed.function_calls, key=lambda c: c.created_at)
                app.calls = [c.function_call_id for c in ordered]
            return app

        result: App = self._rpc(fetch, f"reading app {app.app_id}")
        return result

    def find_run(self, run: str) -> RunHandle | None:
        """The run called `run`: the newest app of that name that has a call (None when no app
        of that name ever got one: its launch did not start a run)."""
        for app in self.named(run):
            if app.calls:
                return self._handle(run, app)
        return None

    def _handle(self, run: str, app: App) -> RunHandle:
        ids = {"app_id": app.app_id, "function_call_id": app.calls[0], "app_name": run}
        if app.tags.get(TAG_LAUNCH):
            ids["launch_token"] = app.tags[TAG_LAUNCH]
        return RunHandle(self.name, run, ids)

    def settle_launch(self, run: str, token: str | None) -> RunHandle | None:
        """For a claim whose launcher died: the run it started (found by its launch token), or
        None after stopping what it left half-made (an app with no call): the name is free."""
        for app in self.named(run):
            if token and app.tags.get(TAG_LAUNCH) not in (token, None):
                continue
            if app.calls:
                return self._handle(run, app)
            if app.active:
                self.stop_app(app.app_id)
        return None

    def refuse_active(self, run: str) -> None:
        """Refuse to launch `run` while an app of that name can still run it, from anywhere."""
        for app in self.named(run, active_only=True):
            if app.calls:
                raise RunExists(
                    f"run '{run}' is already {app.state} on Modal (app {app.app_id}, call {app.calls[-1]})",
                    hint=f"check it: trainward status {run} --backend modal; or pick another --run-name",
                )
            raise RunExists(
                f"run '{run}' is being launched right now (Modal app {app.app_id} is {app.state}, "
                "nothing spawned yet)",
                hint="wait a minute and check `trainward status "
                f"{run}`; if its launcher died, Modal stops that app within minutes",
            )

    def first_claimant(self, run: str, app_id: str) -> None:
        """After creating our app: when an older active app of the same name exists (another
        machine launched the same name at the same moment), the older one wins and we back off."""
        rivals = [a for a in self.apps() if a.description == run and a.active]
        oldest = min(rivals, key=lambda a: (a.created_at, a.app_id), default=None)
        if oldest is not None and oldest.app_id != app_id:
            raise RunExists(
                f"run '{run}' was launched at the same moment from elsewhere (app {oldest.app_id}); "
                "this launch backs off",
                hint=f"trainward status {run} --backend modal",
                backed_off=True,
            )

    def stop_app(self, app_id: str) -> None:
        async def stop(client: Any, api_pb2: Any) -> None:
            await client._stub.AppStop(api_pb2.AppStopRequest(app_id=app_id))

        try:
            self._rpc(stop, f"stopping app {app_id}")
        except NotFound:
            pass
