"""Runs function inputs for real: one local container process per input, with retries,
timeouts, kills (preemption), log capture and the app lifecycle that depends on them.

A container is ``python -m modal._container_entrypoint`` on the fake's own interpreter, given a
serialized ``ContainerArguments`` file, the fake's gRPC URL and a per-task token (sent back as a
header so container RPCs are tied to their task). The function's mounts are written under
``<state-dir>/tasks/<ta-id>/fs`` and it runs in ``fs/root`` (``/root`` on Modal). Volumes are
not mounted: ``MODAL_FAKE_MOUNTS`` maps each mount path to the volume's host directory, and
``fsview.py`` (run before Modal's entrypoint) redirects Python file access under each mount
path there, so code written for Modal opens ``/vol/...`` unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from modal_proto import api_pb2

from .functions import app_layout, function_def
from .ids import new_id, new_token
from .logs import STDERR, STDOUT
from .router import TASK_TOKEN_HEADER
from .state import DONE, PENDING, RUNNING, AppRecord, CallRecord, InputRecord, TaskRecord

FSVIEW = Path(__file__).with_name("fsview.py")

if TYPE_CHECKING:
    from .context import Fake

GR = api_pb2.GenericResult
NOT_RETRIED = (GR.GENERIC_STATUS_SUCCESS, GR.GENERIC_STATUS_TERMINATED)
DEFAULT_TIMEOUT_S = 300.0
INFO = api_pb2.FILE_DESCRIPTOR_INFO


class Runner:
    def __init__(self, fake: Fake, max_containers: int = 8) -> None:
        self.fake = fake
        self.max_containers = max_containers
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._wake = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            self._tick(time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.25)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def _tick(self, now: float) -> None:
        self._expire_timeouts(now)
        self._update_apps(now)
        self._dispatch(now)

    # ---- scheduling -------------------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        state = self.fake.state
        running = len(state.running_tasks())
        pending = sorted(
            (i for i in state.inputs.values() if i.status == PENDING and i.not_before <= now),
            key=lambda i: i.created_at,
        )
        for inp in pending:
            if running >= self.max_containers:
                return
            self._start(inp)
            running += 1

    def _start(self, inp: InputRecord) -> None:
        fn = function_def(self.fake.state.functions[inp.function_id])
        task = TaskRecord(
            new_id("ta"), new_token(), inp.function_id, inp.app_id, inp.input_id, time.time()
        )
        self.fake.state.tasks[task.task_id] = task
        inp.status, inp.task_id = RUNNING, task.task_id
        self.fake.state.touch()
        job = asyncio.create_task(self._launch(task, fn, inp))
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _launch(self, task: TaskRecord, fn: api_pb2.Function, inp: InputRecord) -> None:
        root = self.fake.storage.root / "tasks" / task.task_id
        try:
            workdir = self._materialize(fn, root / "fs")
            args_path = root / "container_args.bin"
            args = api_pb2.ContainerArguments(
                task_id=task.task_id,
                function_id=task.function_id,
                app_id=task.app_id,
                function_def=fn,
                app_layout=app_layout(self.fake, task.app_id),
                environment_name=self.fake.state.apps[task.app_id].environment,
            )
            args_path.write_bytes(args.SerializeToString())
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(FSVIEW),  # the mounts as the function sees them, then Modal's entrypoint
                cwd=workdir,
                env=self._env(task, fn, args_path, workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except Exception as exc:  # could not even start: the input fails like a crashed worker
            task.end_reason = f"failed to start: {exc!r}"
            self._on_exit(task, None)
            return
        task.pid = proc.pid
        self._procs[task.task_id] = proc
        if task.end_reason:  # killed while starting
            self._signal(task)
        log = root / "output.log"
        assert proc.stdout and proc.stderr
        await asyncio.gather(
            self._pump(proc.stdout, STDOUT, task, inp, log),
            self._pump(proc.stderr, STDERR, task, inp, log),
        )
        code = await proc.wait()
        self._procs.pop(task.task_id, None)
        self._on_exit(task, code)

    def _materialize(self, fn: api_pb2.Function, fs: Path) -> Path:
        """Write the function's mounts under ``fs``; return the working directory (``/root``)."""
        store = self.fake.storage
        for mount_id in fn.mount_ids:
            mount = self.fake.state.mounts.get(mount_id)
            for remote, (sha, _mode) in (mount.files if mount else {}).items():
                dst = fs / remote.lstrip("/")
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(store.read_content(sha))
        workdir = fs / "root"
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def _env(
        self, task: TaskRecord, fn: api_pb2.Function, args: Path, workdir: Path
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
        env.update(self.fake.state.image_env.get(fn.image_id, {}))
        for secret_id in fn.secret_ids:
            secret = self.fake.state.secrets.get(secret_id)
            env.update(secret.env if secret else {})
        mounts = {
            vm.mount_path: str(
                self.fake.storage.volume_root(vm.volume_id) / vm.sub_path.lstrip("/")
            )
            for vm in fn.volume_mounts
        }
        pythonpath = [str(workdir), *filter(None, [os.environ.get("PYTHONPATH")])]
        env.update(
            MODAL_SERVER_URL=self.fake.grpc_url,
            MODAL_TASK_ID=task.task_id,
            MODAL_IS_REMOTE="1",
            MODAL_CONTAINER_ARGUMENTS_PATH=str(args),
            MODAL_OVERRIDE_HEADERS=f"{TASK_TOKEN_HEADER}:{task.token}",
            MODAL_ENVIRONMENT=self.fake.state.apps[task.app_id].environment,
            MODAL_FAKE_MOUNTS=json.dumps(mounts),
            MODAL_FAKE_FS_ROOT=str(workdir.parent),
            PYTHONPATH=os.pathsep.join(pythonpath),
            PYTHONUNBUFFERED="1",
        )
        return env

    async def _pump(
        self, reader: asyncio.StreamReader, fd: int, task: TaskRecord, inp: InputRecord, log: Path
    ) -> None:
        labels = {
            "task_id": task.task_id,
            "function_id": task.function_id,
            "function_call_id": inp.function_call_id,
            "input_id": inp.input_id,
        }
        pending = b""
        while chunk := await reader.read(65536):
            with log.open("ab") as f:
                f.write(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.fake.logs.append(
                    task.app_id, fd, line.decode(errors="replace") + "\n", **labels
                )
        if pending:
            self.fake.logs.append(task.app_id, fd, pending.decode(errors="replace"), **labels)

    # ---- results and retries ----------------------------------------------------------------
    def _on_exit(self, task: TaskRecord, code: int | None) -> None:
        task.finished_at, task.exit_code = time.time(), code
        task.end_reason = task.end_reason or "exited"
        inp = self.fake.state.inputs.get(task.input_id)
        if inp is not None and inp.status == RUNNING and inp.task_id == task.task_id:
            if task.end_reason == "timeout":
                timeout = self._timeout(task)
                self._fail(inp, GR.GENERIC_STATUS_TIMEOUT, f"Function timed out after {timeout:g}s")
            elif task.end_reason in ("killed", "stopped"):
                self._fail(inp, GR.GENERIC_STATUS_INTERNAL_FAILURE, "container was preempted")
            else:
                msg = f"container exited ({task.end_reason}, code {code}) without a result"
                self._fail(inp, GR.GENERIC_STATUS_INTERNAL_FAILURE, msg)
        self.fake.state.touch()
        self.wake()

    def _fail(self, inp: InputRecord, status: int, message: str) -> None:
        result = GR(status=status, exception=message)  # type: ignore[arg-type]
        item = api_pb2.FunctionGetOutputsItem(
            result=result,
            idx=inp.idx,
            input_id=inp.input_id,
            retry_count=inp.retry_count,
            task_id=inp.task_id,
            output_created_at=time.time(),
        )
        self.settle(inp, item)

    def settle(self, inp: InputRecord, item: api_pb2.FunctionGetOutputsItem) -> None:
        """Record an attempt's outcome: the input's output, or a retry while retries remain."""
        state, now = self.fake.state, time.time()
        policy = function_def(state.functions[inp.function_id]).retry_policy
        app = state.apps[inp.app_id]
        retry = (
            item.result.status not in NOT_RETRIED
            and inp.retry_count < policy.retries
            and not app.stopped_at
        )
        if retry:
            inp.retry_count += 1
            inp.status, inp.task_id = PENDING, ""
            inp.not_before = now + _retry_delay(policy, inp.retry_count)
            why = item.result.exception.strip().splitlines()[-1:] or ["failed"]
            self.fake.logs.append(
                inp.app_id,
                INFO,
                f"modal_fake: retrying input {inp.input_id} "
                f"(retry {inp.retry_count}/{policy.retries}) after: {why[0]}\n",
                function_id=inp.function_id,
                function_call_id=inp.function_call_id,
            )
        else:
            inp.status, inp.output, inp.finished_at = DONE, item.SerializeToString(), now
        state.touch()
        self.wake()

    # ---- timeouts, app lifecycle, kills -----------------------------------------------------
    def _timeout(self, task: TaskRecord) -> float:
        fn = function_def(self.fake.state.functions[task.function_id])
        return float(fn.timeout_secs) or DEFAULT_TIMEOUT_S

    def _expire_timeouts(self, now: float) -> None:
        for task in self.fake.state.running_tasks():
            if task.end_reason:
                continue
            limit = self._timeout(task)
            started = task.started_at or task.created_at
            slack = (
                0.0 if task.started_at else 60.0
            )  # container start-up is not the function's time
            if now - started > limit + slack:
                self._kill_task(task, "timeout")

    def _update_apps(self, now: float) -> None:
        state, hb_timeout = self.fake.state, self.fake.settings.heartbeat_timeout_s
        for app in list(state.apps.values()):
            if app.stopped_at:
                continue
            gone = app.client_disconnected or now - app.last_heartbeat > hb_timeout
            if app.state in (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_INITIALIZING):
                if gone:
                    self.stop_app(app, "client heartbeat lost")
            elif app.state == api_pb2.APP_STATE_DETACHED and gone:
                busy = any(i.status != DONE for i in state.app_inputs(app.app_id))
                if not busy and not state.running_tasks(app.app_id):
                    self._finish_app(app, now)

    def _finish_app(self, app: AppRecord, now: float) -> None:
        app.state, app.stopped_at = api_pb2.APP_STATE_STOPPED, now
        self.fake.state.touch()
        self.fake.logs.appended.fire()

    def stop_app(self, app: AppRecord, reason: str, stopped_by: str = "") -> None:
        """Stop an app: its unfinished inputs end TERMINATED and its containers are killed."""
        if app.stopped_at:
            return
        self._finish_app(app, time.time())
        app.stopped_by = stopped_by
        for inp in self.fake.state.app_inputs(app.app_id):
            if inp.status != DONE:
                self._terminate(inp, f"App {app.app_id} was stopped ({reason})")
        for task in self.fake.state.running_tasks(app.app_id):
            self._kill_task(task, "app stopped")

    def cancel_call(self, call: CallRecord) -> None:
        for input_id in call.input_ids:
            inp = self.fake.state.inputs[input_id]
            task = self.fake.state.tasks.get(inp.task_id)
            if inp.status != DONE:
                self._terminate(inp, f"Function call {call.function_call_id} was cancelled")
            if task is not None and not task.finished_at:
                self._kill_task(task, "cancelled")

    def _terminate(self, inp: InputRecord, message: str) -> None:
        result = GR(status=GR.GENERIC_STATUS_TERMINATED, exception=message)
        item = api_pb2.FunctionGetOutputsItem(
            result=result, idx=inp.idx, input_id=inp.input_id, retry_count=inp.retry_count
        )
        inp.status, inp.output, inp.finished_at = DONE, item.SerializeToString(), time.time()
        self.fake.state.touch()

    def kill(self, target: str, reason: str) -> list[str]:
        """Kill the running containers of a task, call, app id or app name; return task ids."""
        state = self.fake.state
        tasks = []
        for task in state.running_tasks() if target else []:
            inp = state.inputs.get(task.input_id)
            app = state.apps[task.app_id]
            owners = {task.task_id, task.app_id, app.name, inp.function_call_id if inp else ""}
            if target in owners:
                tasks.append(task)
        for task in tasks:
            self._kill_task(task, reason)
        return [t.task_id for t in tasks]

    def _kill_task(self, task: TaskRecord, reason: str) -> None:
        task.end_reason = task.end_reason or reason
        self._signal(task)

    def _signal(self, task: TaskRecord) -> None:
        proc = self._procs.get(task.task_id)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    async def shutdown(self) -> None:
        for task in self.fake.state.running_tasks():
            self._kill_task(task, "fake shut down")
        for proc in list(self._procs.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)


def _retry_delay(policy: api_pb2.FunctionRetryPolicy, retry: int) -> float:
    delay_ms = policy.initial_delay_ms * (policy.backoff_coefficient or 1.0) ** (retry - 1)
    if policy.max_delay_ms:
        delay_ms = min(delay_ms, policy.max_delay_ms)
    return delay_ms / 1000.0
