"""Function RPCs: definitions (precreate/create/get), calls (map/put inputs) and outputs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from google.protobuf import json_format
from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from .ids import new_id
from .router import CallContext
from .state import DONE, CallRecord, FunctionRecord, InputRecord
from .volumes import volume_metadata

if TYPE_CHECKING:
    from .context import Fake

OUTPUTS_TIMEOUT_CAP = 55.0


def wrap_function(fn: api_pb2.Function) -> api_pb2.FunctionData:
    """A FunctionData with ``fn`` as its only ranked function (1.6 clients require one)."""
    fields = json_format.MessageToDict(fn, preserving_proto_field_name=True)
    data = json_format.ParseDict(fields, api_pb2.FunctionData(), ignore_unknown_fields=True)
    data.ranked_functions.add(rank=0, function=fn)
    return data


def function_def(rec: FunctionRecord) -> api_pb2.Function:
    data = api_pb2.FunctionData.FromString(rec.definition)
    return data.ranked_functions[0].function


def handle_metadata(rec: FunctionRecord) -> api_pb2.FunctionHandleMetadata:
    fn = function_def(rec)
    return api_pb2.FunctionHandleMetadata(
        function_name=fn.function_name or rec.tag,
        function_type=fn.function_type,
        is_method=fn.is_method,
        definition_id=rec.definition_id,
        class_parameter_info=fn.class_parameter_info,
        function_schema=fn.function_schema,
        supported_input_formats=fn.supported_input_formats,
        supported_output_formats=fn.supported_output_formats,
        app_id=rec.app_id,
    )


def app_layout(fake: Fake, app_id: str) -> api_pb2.AppLayout:
    """Function ids and handle metadata for every object the app's functions use."""
    state = fake.state
    app = state.apps[app_id]
    funcs = [
        f
        for f in state.functions.values()
        if f.app_id == app_id and f.definition and not f.variant_of
    ]
    objects: dict[str, api_pb2.Object] = {}
    for rec in funcs:
        objects[rec.function_id] = api_pb2.Object(
            object_id=rec.function_id, function_handle_metadata=handle_metadata(rec)
        )
        for dep in function_def(rec).object_dependencies:
            objects.setdefault(dep.object_id, _object(fake, dep.object_id))
    function_ids = dict(app.function_ids) or {f.tag: f.function_id for f in funcs}
    return api_pb2.AppLayout(
        objects=list(objects.values()), function_ids=function_ids, class_ids=app.class_ids
    )


def _object(fake: Fake, object_id: str) -> api_pb2.Object:
    vol = fake.state.volumes.get(object_id)
    if vol is not None:
        return api_pb2.Object(object_id=object_id, volume_metadata=volume_metadata(vol))
    if object_id in fake.state.mounts:
        return api_pb2.Object(
            object_id=object_id, mount_handle_metadata=api_pb2.MountHandleMetadata()
        )
    return api_pb2.Object(object_id=object_id)


def apply_options(fn: api_pb2.Function, opts: api_pb2.FunctionOptions) -> None:
    """Replace what a FunctionOptions replaces, as the server does for a variant."""
    if opts.replace_secret_ids:
        del fn.secret_ids[:]
        fn.secret_ids.extend(opts.secret_ids)
    if opts.replace_volume_mounts:
        del fn.volume_mounts[:]
        fn.volume_mounts.extend(opts.volume_mounts)
    if opts.HasField("resources"):
        fn.resources.MergeFrom(opts.resources)
    if opts.HasField("retry_policy"):
        fn.retry_policy.CopyFrom(opts.retry_policy)
    if opts.HasField("timeout_secs"):
        fn.timeout_secs = opts.timeout_secs


class FunctionService:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    # ---- definitions ------------------------------------------------------------------------
    async def FunctionPrecreate(
        self, req: api_pb2.FunctionPrecreateRequest, ctx: CallContext
    ) -> api_pb2.FunctionPrecreateResponse:
        stub = api_pb2.Function(
            function_name=req.function_name,
            function_type=req.function_type,
            function_schema=req.function_schema,
            supported_input_formats=req.supported_input_formats,
            supported_output_formats=req.supported_output_formats,
        )
        rec = self._upsert(req.existing_function_id, req.app_id, req.function_name, stub, stub=True)
        return api_pb2.FunctionPrecreateResponse(
            function_id=rec.function_id, handle_metadata=handle_metadata(rec)
        )

    async def FunctionCreate(
        self, req: api_pb2.FunctionCreateRequest, ctx: CallContext
    ) -> api_pb2.FunctionCreateResponse:
        if req.function_data.ranked_functions:
            fn = req.function_data.ranked_functions[0].function
            data = req.function_data
        else:
            fn, data = req.function, wrap_function(req.function)
        if req.HasField("schedule"):
            data.schedule.CopyFrom(req.schedule)
        rec = self._upsert(req.existing_function_id, req.app_id, fn.function_name, fn, data)
        return api_pb2.FunctionCreateResponse(
            function_id=rec.function_id,
            function=fn,
            function_data=data,
            handle_metadata=handle_metadata(rec),
        )

    def _upsert(
        self,
        function_id: str,
        app_id: str,
        tag: str,
        fn: api_pb2.Function,
        data: api_pb2.FunctionData | None = None,
        stub: bool = False,
    ) -> FunctionRecord:
        """Create or update a function; a precreate ``stub`` never replaces a full definition
        (inputs of a running deployment keep working while it is redeployed)."""
        state = self.fake.state
        if app_id not in state.apps:
            raise GRPCError(Status.NOT_FOUND, f"App {app_id!r} not found")
        rec = state.functions.get(function_id)
        if rec is None:
            rec = FunctionRecord(new_id("fu"), app_id, tag, new_id("de"))
            state.functions[rec.function_id] = rec
        if not (stub and rec.definition):
            rec.definition = (data or wrap_function(fn)).SerializeToString()
        state.touch()
        return rec

    async def FunctionBindParams(
        self, req: api_pb2.FunctionBindParamsRequest, ctx: CallContext
    ) -> api_pb2.FunctionBindParamsResponse:
        """`Function.with_options(...)`: a variant of a function with its options replaced
        (secrets, volumes, resources, retries, timeout), as a function of its own whose inputs
        run with them. Parameters of a class are not served (nothing here binds them)."""
        if req.serialized_params:
            raise GRPCError(Status.UNIMPLEMENTED, "the fake does not bind class parameters")
        base = self._function(req.function_id)
        fn = api_pb2.Function()
        fn.CopyFrom(function_def(base))
        apply_options(fn, req.function_options)
        rec = FunctionRecord(new_id("fu"), base.app_id, base.tag, new_id("de"))
        rec.definition = wrap_function(fn).SerializeToString()
        rec.variant_of = base.function_id
        self.fake.state.functions[rec.function_id] = rec
        self.fake.state.touch()
        return api_pb2.FunctionBindParamsResponse(
            bound_function_id=rec.function_id, handle_metadata=handle_metadata(rec)
        )

    async def FunctionGet(
        self, req: api_pb2.FunctionGetRequest, ctx: CallContext
    ) -> api_pb2.FunctionGetResponse:
        env = self.fake.env_name(req.environment_name)
        app = self.fake.state.deployed_app(req.app_name, env)
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App '{req.app_name}' not found")
        function_id = app.function_ids.get(req.object_tag)
        if function_id is None:
            raise GRPCError(Status.NOT_FOUND, f"Function '{req.object_tag}' not found")
        return self._get_response(function_id)

    async def FunctionGetById(
        self, req: api_pb2.FunctionGetByIdRequest, ctx: CallContext
    ) -> api_pb2.FunctionGetResponse:
        return self._get_response(req.function_id)

    def _get_response(self, function_id: str) -> api_pb2.FunctionGetResponse:
        rec = self._function(function_id)
        return api_pb2.FunctionGetResponse(
            function_id=rec.function_id,
            handle_metadata=handle_metadata(rec),
            function=api_pb2.FunctionData.FromString(rec.definition),
        )

    def _function(self, function_id: str) -> FunctionRecord:
        rec = self.fake.state.functions.get(function_id)
        if rec is None or not rec.definition:
            raise GRPCError(Status.NOT_FOUND, f"Function {function_id!r} not found")
        return rec

    async def FunctionGetCurrentStats(
        self, req: api_pb2.FunctionGetCurrentStatsRequest, ctx: CallContext
    ) -> api_pb2.FunctionStats:
        state = self.fake.state
        inputs = [i for i in state.inputs.values() if i.function_id == req.function_id]
        backlog = sum(1 for i in inputs if i.status != DONE)
        tasks = [t for t in state.running_tasks() if t.function_id == req.function_id]
        return api_pb2.FunctionStats(backlog=backlog, num_total_tasks=len(tasks))

    # ---- calls ------------------------------------------------------------------------------
    async def FunctionMap(
        self, req: api_pb2.FunctionMapRequest, ctx: CallContext
    ) -> api_pb2.FunctionMapResponse:
        rec = self._function(req.function_id)
        app = self.fake.state.apps[rec.app_id]
        if app.stopped_at:
            raise GRPCError(Status.FAILED_PRECONDITION, f"App {app.app_id} is stopped")
        call = CallRecord(
            new_id("fc"),
            rec.function_id,
            rec.app_id,
            time.time(),
            invocation_type=req.function_call_invocation_type,
            parent_input_id=req.parent_input_id,
        )
        self.fake.state.calls[call.function_call_id] = call
        items = [self._add_input(call, item) for item in req.pipelined_inputs]
        return api_pb2.FunctionMapResponse(
            function_call_id=call.function_call_id,
            pipelined_inputs=items,
            retry_policy=function_def(rec).retry_policy,
            function_call_jwt=call.function_call_id,
            sync_client_retries_enabled=False,
            max_inputs_outstanding=1000,
        )

    async def FunctionPutInputs(
        self, req: api_pb2.FunctionPutInputsRequest, ctx: CallContext
    ) -> api_pb2.FunctionPutInputsResponse:
        call = self._call(req.function_call_id)
        return api_pb2.FunctionPutInputsResponse(
            inputs=[self._add_input(call, item) for item in req.inputs]
        )

    def _add_input(
        self, call: CallRecord, item: api_pb2.FunctionPutInputsItem
    ) -> api_pb2.FunctionPutInputsResponseItem:
        inp = InputRecord(
            new_id("in"),
            call.function_call_id,
            call.function_id,
            call.app_id,
            item.idx,
            item.input.SerializeToString(),
            time.time(),
        )
        self.fake.state.inputs[inp.input_id] = inp
        call.input_ids.append(inp.input_id)
        self.fake.state.touch()
        return api_pb2.FunctionPutInputsResponseItem(
            idx=item.idx, input_id=inp.input_id, input_jwt=inp.input_id
        )

    async def FunctionFinishInputs(
        self, req: api_pb2.FunctionFinishInputsRequest, ctx: CallContext
    ) -> Empty:
        self._call(req.function_call_id)
        return Empty()

    async def FunctionCallFromId(
        self, req: api_pb2.FunctionCallFromIdRequest, ctx: CallContext
    ) -> api_pb2.FunctionCallFromIdResponse:
        call = self._call(req.function_call_id)
        return api_pb2.FunctionCallFromIdResponse(
            function_call_id=call.function_call_id,
            num_inputs=len(call.input_ids),
            metadata=api_pb2.FunctionCallHandleMetadata(
                app_id=call.app_id, function_id=call.function_id
            ),
        )

    async def FunctionCallCancel(
        self, req: api_pb2.FunctionCallCancelRequest, ctx: CallContext
    ) -> Empty:
        call = self._call(req.function_call_id)
        self.fake.runner.cancel_call(call)
        return Empty()

    async def FunctionCallList(
        self, req: api_pb2.FunctionCallListRequest, ctx: CallContext
    ) -> api_pb2.FunctionCallListResponse:
        """Every call of a function, oldest first, with its inputs counted by outcome."""
        self._function(req.function_id)
        state = self.fake.state
        calls = sorted(
            (c for c in state.calls.values() if c.function_id == req.function_id),
            key=lambda c: c.created_at,
        )
        infos = [
            api_pb2.FunctionCallInfo(
                function_call_id=c.function_call_id,
                idx=i,
                created_at=c.created_at,
                total_inputs=len(c.input_ids),
            )
            for i, c in enumerate(calls)
        ]
        return api_pb2.FunctionCallListResponse(function_calls=infos)

    def _call(self, function_call_id: str) -> CallRecord:
        call = self.fake.state.calls.get(function_call_id)
        if call is None:
            raise GRPCError(Status.NOT_FOUND, f"Function call {function_call_id!r} not found")
        return call

    # ---- outputs ----------------------------------------------------------------------------
    async def FunctionGetOutputs(
        self, req: api_pb2.FunctionGetOutputsRequest, ctx: CallContext
    ) -> api_pb2.FunctionGetOutputsResponse:
        call = self._call(req.function_call_id)
        state = self.fake.state
        deadline = time.time() + min(max(req.timeout, 0.0), OUTPUTS_TIMEOUT_CAP)
        while True:
            inputs = [state.inputs[i] for i in call.input_ids]
            if req.HasField("start_idx"):
                inputs = [i for i in inputs if req.start_idx <= i.idx <= req.end_idx]
            ready = [i for i in inputs if i.status == DONE and not i.output_cleared]
            if ready or time.time() >= deadline:
                break
            await state.changed.wait(deadline - time.time())
        if req.max_values:
            ready = ready[: req.max_values]
        outputs = [api_pb2.FunctionGetOutputsItem.FromString(i.output) for i in ready]
        if req.clear_on_success:
            for inp, out in zip(ready, outputs, strict=True):
                if out.result.status == api_pb2.GenericResult.GENERIC_STATUS_SUCCESS:
                    inp.output_cleared = True
            state.touch()
        unfinished = sum(1 for i in inputs if i.status != DONE)
        return api_pb2.FunctionGetOutputsResponse(
            outputs=outputs, num_unfinished_inputs=unfinished, last_entry_id="0-0"
        )
