"""App RPCs: create, publish (deploy), heartbeat, disconnect, list, stop, lookups, tasks.

States follow Modal's: ``modal run`` makes an EPHEMERAL app, ``--detach`` a DETACHED one,
``modal deploy`` a DEPLOYED one; all end STOPPED. The runner (runner.py) moves apps to STOPPED
when their client goes away (ephemeral) or when their work is done (detached, disconnected).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from .functions import app_layout
from .ids import new_id
from .objects import CREATE_IF_MISSING
from .router import CallContext
from .state import AppRecord

if TYPE_CHECKING:
    from .context import Fake

STOPPED = api_pb2.APP_STATE_STOPPED
DEPLOYED = api_pb2.APP_STATE_DEPLOYED


class AppService:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def _app(self, app_id: str) -> AppRecord:
        app = self.fake.state.apps.get(app_id)
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App {app_id!r} not found")
        return app

    def _new_app(self, description: str, env: str, state: int) -> AppRecord:
        now = time.time()
        app = AppRecord(new_id("ap"), description, env, state, now, last_heartbeat=now)
        self.fake.state.apps[app.app_id] = app
        self.fake.state.touch()
        return app

    async def AppCreate(
        self, req: api_pb2.AppCreateRequest, ctx: CallContext
    ) -> api_pb2.AppCreateResponse:
        env = self.fake.env_name(req.environment_name)
        state = req.app_state or api_pb2.APP_STATE_INITIALIZING
        app = self._new_app(req.description, env, state)
        app.tags = dict(req.tags)
        return api_pb2.AppCreateResponse(
            app_id=app.app_id,
            app_page_url=f"{self.fake.http_url}/apps/{app.app_id}",
            app_logs_url=f"{self.fake.http_url}/apps/{app.app_id}/logs",
        )

    async def AppGetOrCreate(
        self, req: api_pb2.AppGetOrCreateRequest, ctx: CallContext
    ) -> api_pb2.AppGetOrCreateResponse:
        env = self.fake.env_name(req.environment_name)
        app = self.fake.state.deployed_app(req.app_name, env)
        if app is None:
            if req.object_creation_type != CREATE_IF_MISSING:
                raise GRPCError(Status.NOT_FOUND, f"App '{req.app_name}' not found")
            app = self._new_app(req.app_name, env, DEPLOYED)
            app.name, app.deployed_at = req.app_name, time.time()
        return api_pb2.AppGetOrCreateResponse(app_id=app.app_id)

    async def AppPublish(
        self, req: api_pb2.AppPublishRequest, ctx: CallContext
    ) -> api_pb2.AppPublishResponse:
        app = self._app(req.app_id)
        now = time.time()
        app.function_ids = dict(req.function_ids)
        app.class_ids = dict(req.class_ids)
        app.tags.update(req.tags)
        if req.app_state == DEPLOYED:
            previous = self.fake.state.deployed_app(req.name, app.environment)
            if previous is not None and previous.app_id != app.app_id:
                self.fake.runner.stop_app(previous, "replaced by a new deployment")
            app.name, app.description, app.deployed_at = req.name, req.name, now
            app.version += 1
        app.state = req.app_state or app.state
        self.fake.state.touch()
        self.fake.runner.wake()
        return api_pb2.AppPublishResponse(
            url=f"{self.fake.http_url}/apps/{app.app_id}", deployed_at=now
        )

    async def AppHeartbeat(self, req: api_pb2.AppHeartbeatRequest, ctx: CallContext) -> Empty:
        app = self._app(req.app_id)
        if app.stopped_at:
            raise GRPCError(Status.FAILED_PRECONDITION, "App is stopped")
        app.last_heartbeat = time.time()
        return Empty()

    async def AppClientDisconnect(
        self, req: api_pb2.AppClientDisconnectRequest, ctx: CallContext
    ) -> Empty:
        app = self._app(req.app_id)
        app.client_disconnected = True
        if app.state in (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_INITIALIZING):
            self.fake.runner.stop_app(app, "client disconnected")
        self.fake.state.touch()
        self.fake.runner.wake()
        return Empty()

    async def AppGetLayout(
        self, req: api_pb2.AppGetLayoutRequest, ctx: CallContext
    ) -> api_pb2.AppGetLayoutResponse:
        self._app(req.app_id)
        return api_pb2.AppGetLayoutResponse(app_layout=app_layout(self.fake, req.app_id))

    async def AppGetByDeploymentName(
        self, req: api_pb2.AppGetByDeploymentNameRequest, ctx: CallContext
    ) -> api_pb2.AppGetByDeploymentNameResponse:
        env = self.fake.env_name(req.environment_name)
        app = self.fake.state.deployed_app(req.name, env)
        if app is not None:
            return api_pb2.AppGetByDeploymentNameResponse(
                app_id=app.app_id, environment_name=env, lifecycle=lifecycle(app)
            )
        last = self.fake.state.last_app_named(req.name, env)
        if last is not None:
            return api_pb2.AppGetByDeploymentNameResponse(
                previous_app_id=last.app_id, environment_name=env, lifecycle=lifecycle(last)
            )
        return api_pb2.AppGetByDeploymentNameResponse(environment_name=env)

    async def AppGetLifecycle(
        self, req: api_pb2.AppGetLifecycleRequest, ctx: CallContext
    ) -> api_pb2.AppGetLifecycleResponse:
        return api_pb2.AppGetLifecycleResponse(lifecycle=lifecycle(self._app(req.app_id)))

    async def AppList(
        self, req: api_pb2.AppListRequest, ctx: CallContext
    ) -> api_pb2.AppListResponse:
        env = self.fake.env_name(req.environment_name)
        items = []
        for app in self.fake.state.apps.values():
            if app.environment != env:
                continue
            items.append(
                api_pb2.AppListResponse.AppListItem(
                    app_id=app.app_id,
                    description=app.description,
                    name=app.name,
                    state=app.state,  # type: ignore[arg-type]
                    created_at=app.created_at,
                    stopped_at=app.stopped_at,
                    n_running_tasks=len(self.fake.state.running_tasks(app.app_id)),
                )
            )
        return api_pb2.AppListResponse(apps=items)

    async def AppStop(self, req: api_pb2.AppStopRequest, ctx: CallContext) -> Empty:
        self.fake.runner.stop_app(self._app(req.app_id), "stopped", stopped_by="modal-fake-user")
        return Empty()

    async def AppSetTags(self, req: api_pb2.AppSetTagsRequest, ctx: CallContext) -> Empty:
        self._app(req.app_id).tags.update(req.tags)
        self.fake.state.touch()
        return Empty()

    async def AppGetTags(
        self, req: api_pb2.AppGetTagsRequest, ctx: CallContext
    ) -> api_pb2.AppGetTagsResponse:
        return api_pb2.AppGetTagsResponse(tags=self._app(req.app_id).tags)

    async def TaskList(
        self, req: api_pb2.TaskListRequest, ctx: CallContext
    ) -> api_pb2.TaskListResponse:
        state = self.fake.state
        tasks = [
            api_pb2.TaskStats(
                task_id=t.task_id,
                app_id=t.app_id,
                app_description=state.apps[t.app_id].description,
                started_at=t.started_at,
                enqueued_at=t.created_at,
            )
            for t in state.running_tasks(req.app_id or None)
        ]
        return api_pb2.TaskListResponse(tasks=tasks)

    async def ContainerStop(
        self, req: api_pb2.ContainerStopRequest, ctx: CallContext
    ) -> api_pb2.ContainerStopResponse:
        if req.task_id not in self.fake.state.tasks:
            raise GRPCError(Status.NOT_FOUND, f"Task {req.task_id!r} not found")
        self.fake.runner.kill(req.task_id, reason="stopped")
        return api_pb2.ContainerStopResponse()


def lifecycle(app: AppRecord) -> api_pb2.AppLifecycle:
    return api_pb2.AppLifecycle(
        app_state=app.state,  # type: ignore[arg-type]
        created_at=app.created_at,
        created_by="modal-fake-user",
        deployed_at=app.deployed_at,
        deployed_by="modal-fake-user" if app.deployed_at else "",
        version=app.version,
        stopped_at=app.stopped_at,
        stopped_by=app.stopped_by,
    )
