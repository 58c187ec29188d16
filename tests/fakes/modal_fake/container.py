"""RPCs made from inside a container the fake started (``modal._container_entrypoint``).

Each container serves exactly one input: FunctionGetInputs hands it its input (marked as the
final one), then a kill switch. Calls are tied to their task by the task token header the
runner passes in ``MODAL_OVERRIDE_HEADERS``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from .router import CallContext
from .state import RUNNING, TaskRecord

if TYPE_CHECKING:
    from .context import Fake


class ContainerService:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self._delivered: set[str] = set()  # task ids that already got their input

    def _task(self, ctx: CallContext) -> TaskRecord:
        task = self.fake.state.tasks.get(ctx.task_id)
        if task is None:
            raise GRPCError(Status.PERMISSION_DENIED, f"{ctx.method} needs a container task")
        return task

    async def ContainerHello(self, req: Empty, ctx: CallContext) -> Empty:
        self._task(ctx).started_at = time.time()
        return Empty()

    async def ContainerHeartbeat(
        self, req: api_pb2.ContainerHeartbeatRequest, ctx: CallContext
    ) -> api_pb2.ContainerHeartbeatResponse:
        self._task(ctx)
        return api_pb2.ContainerHeartbeatResponse()

    async def FunctionGetInputs(
        self, req: api_pb2.FunctionGetInputsRequest, ctx: CallContext
    ) -> api_pb2.FunctionGetInputsResponse:
        task = self._task(ctx)
        inp = self.fake.state.inputs.get(task.input_id)
        if task.task_id in self._delivered or inp is None or inp.task_id != task.task_id:
            kill = api_pb2.FunctionGetInputsItem(kill_switch=True)
            return api_pb2.FunctionGetInputsResponse(inputs=[kill])
        self._delivered.add(task.task_id)
        payload = api_pb2.FunctionInput.FromString(inp.payload)
        payload.final_input = True
        call = self.fake.state.calls[inp.function_call_id]
        item = api_pb2.FunctionGetInputsItem(
            input_id=inp.input_id,
            input=payload,
            function_call_id=inp.function_call_id,
            function_call_invocation_type=call.invocation_type,  # type: ignore[arg-type]
            retry_count=inp.retry_count,
            function_map_idx=inp.idx,
            attempt_token=f"{inp.input_id}:{inp.retry_count}",
        )
        return api_pb2.FunctionGetInputsResponse(inputs=[item])

    async def FunctionPutOutputs(
        self, req: api_pb2.FunctionPutOutputsRequest, ctx: CallContext
    ) -> Empty:
        task = self._task(ctx)
        app = self.fake.state.apps.get(task.app_id)
        if app is not None and app.stopped_at:
            raise GRPCError(Status.FAILED_PRECONDITION, f"App {app.app_id} is stopped")
        for out in req.outputs:
            inp = self.fake.state.inputs.get(out.input_id)
            if inp is None or inp.status != RUNNING or inp.task_id != task.task_id:
                continue  # a late output from a container whose input was re-queued
            item = api_pb2.FunctionGetOutputsItem(
                result=out.result,
                idx=inp.idx,
                input_id=inp.input_id,
                data_format=out.data_format,
                task_id=task.task_id,
                input_started_at=out.input_started_at,
                output_created_at=out.output_created_at or time.time(),
                retry_count=inp.retry_count,
            )
            self.fake.runner.settle(inp, item)
        return Empty()

    async def TaskResult(self, req: api_pb2.TaskResultRequest, ctx: CallContext) -> Empty:
        task = self._task(ctx)
        inp = self.fake.state.inputs.get(task.input_id)
        ok = req.result.status == api_pb2.GenericResult.GENERIC_STATUS_SUCCESS
        if inp is not None and inp.status == RUNNING and inp.task_id == task.task_id and not ok:
            # The container failed before producing an output (e.g. an import error).
            item = api_pb2.FunctionGetOutputsItem(
                result=req.result,
                idx=inp.idx,
                input_id=inp.input_id,
                task_id=task.task_id,
                retry_count=inp.retry_count,
                output_created_at=time.time(),
            )
            self.fake.runner.settle(inp, item)
        return Empty()

    async def FunctionGetDynamicConcurrency(
        self, req: api_pb2.FunctionGetDynamicConcurrencyRequest, ctx: CallContext
    ) -> api_pb2.FunctionGetDynamicConcurrencyResponse:
        return api_pb2.FunctionGetDynamicConcurrencyResponse(concurrency=req.target_concurrency)

    async def TaskCurrentInputs(
        self, req: Empty, ctx: CallContext
    ) -> api_pb2.TaskCurrentInputsResponse:
        task = self._task(ctx)
        inp = self.fake.state.inputs.get(task.input_id)
        ids = [inp.input_id] if inp is not None and inp.status == RUNNING else []
        return api_pb2.TaskCurrentInputsResponse(input_ids=ids)
