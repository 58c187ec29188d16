"""Processes and devices: one process, torchrun-style DDP, or workers spawned for N GPUs.

- `setup()` reads the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)
  and joins the process group: gloo on CPU, nccl on CUDA (plus a gloo group for small
  control messages, so agreeing to stop never waits on the GPU).
- `spawn()` is for one container with N GPUs and no launcher: it starts ranks 1..N-1 with
  torch.multiprocessing and runs rank 0 in this process, which owns `ctx.ledger`.
- Only rank 0 writes the ledger and checkpoints: other ranks get a `NullLedger`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainward.config.experiment import experiment_from_dict
from trainward.config.values import gpu_count
from trainward.core.contracts import WorkerSpec
from trainward.core.paths import run_path
from trainward.errors import UsageError
from trainward.runs.context import RunContext
from trainward.runs.ledger import LedgerWriter
from trainward.train.config import Train

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = timedelta(minutes=30)


class NullLedger:
    """The ledger seen by ranks other than 0: every call is accepted and dropped."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    control: Any = None  # the process group for control messages (None: the default group)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def agree(self, code: int) -> int:
        """Rank 0's `code`, on every rank (stop / hand over decisions)."""
        if not self.distributed:
            return code
        flag = torch.tensor([code], dtype=torch.int64)
        dist.broadcast(flag, src=0, group=self.control)
        return int(flag.item())

    def share(self, obj: Any) -> Any:
        """Rank 0's `obj` (picklable), on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on rank 0 only; every rank gets its result, or raises if it failed there."""
        if not self.distributed:
            return fn()
        outcome = None
        if self.main:
            try:
                outcome = ("ok", fn())
            except BaseException as err:
                self.share(("error", f"{type(err).__name__}: {err}"))
                raise
        status, value = self.share(outcome)
        if status == "error":
            raise RuntimeError(f"rank 0 failed: {value}")
        return value

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(tensor)
        return tensor


def resolve_device(preference: str, local_rank: int) -> torch.device:
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("train.device is cuda but no CUDA device is visible",
                         hint="set train.device: auto (or cpu) to train on the CPU")  # fmt: skip
    return torch.device("cuda", local_rank)


def setup(cfg: Train) -> Runtime:
    """The runtime of this process; joins the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(cfg.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    elif world > 1 and device.type == "cpu":  # share the cores between the local processes
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if world == 1:
        return Runtime(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)
    control = dist.new_group(backend="gloo") if backend == "nccl" else None
    return Runtime(device, rank, world, control)


def teardown(rt: Runtime, *, clean: bool = True) -> None:
    """Leave the process group; after a clean run, only once every rank got here (a rank
    that closes its connections while a peer still talks to it can make the peer abort)."""
    if rt.distributed and dist.is_initialized():
        if clean:
            dist.barrier(group=rt.control)
        dist.destroy_process_group()


# -- a context for ranks other than 0 -----------------------------------------------------------
def follower_context(spec: WorkerSpec, volume_root: Path, *, resume_from: Path | None = None,
                     deadline: float | None = None) -> RunContext:  # fmt: skip
    """What rank > 0 runs with: the same run and paths, and a ledger that drops everything."""
    exp = experiment_from_dict(spec.experiment, file="worker spec", root=spec.root)
    return RunContext(
        run=spec.run, experiment=exp, volume_root=volume_root, run_dir=volume_root / run_path(spec.run),
        data_dir=volume_root / exp.data.volume_path, ledger=cast(LedgerWriter, NullLedger()),
        resume_from=resume_from, deadline=deadline, spec=spec,
    )  # fmt: skip


# -- one container, N GPUs ----------------------------------------------------------------------
def local_gpu_world(exp: Any) -> int:
    """N when the experiment asks for N > 1 GPUs, N are visible, and no launcher set up DDP."""
    n = gpu_count(exp.resources.gpu)
    if (
        n < 2
        or "WORLD_SIZE" in os.environ
        or exp.train.device == "cpu"
        or not torch.cuda.is_available()
    ):
        return 1
    return n if torch.cuda.device_count() >= n else 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _follower(index: int, payload: dict[str, Any], target: Callable[[RunContext], Any]) -> None:
    os.environ.update(payload["env"], RANK=str(index + 1), LOCAL_RANK=str(index + 1))
    resume = Path(payload["resume_from"]) if payload["resume_from"] else None
    spec = WorkerSpec.from_json(payload["spec"])
    ctx = follower_context(spec, Path(payload["volume_root"]), resume_from=resume,
                           deadline=payload["deadline"])  # fmt: skip
    target(ctx)


def spawn(ctx: RunContext, nprocs: int, target: Callable[[RunContext], Any]) -> Any:
    """Run `target(ctx)` as rank 0 here and as ranks 1..nprocs-1 in spawned processes."""
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(nprocs),
           "LOCAL_WORLD_SIZE": str(nprocs)}  # fmt: skip
    spec = ctx.spec.replace(
        run=ctx.run, experiment=ctx.experiment.to_dict(), root=ctx.experiment.root
    ).to_json()
    payload = {"env": env, "spec": spec, "volume_root": str(ctx.volume_root), "deadline": ctx.deadline,
               "resume_from": str(ctx.resume_from) if ctx.resume_from else None}  # fmt: skip
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ.update(env, RANK="0", LOCAL_RANK="0")
    procs = mp.start_processes(
        _follower, args=(payload, target), nprocs=nprocs - 1, join=False, start_method="spawn"
    )
    try:
        result = target(ctx)
        while not procs.join():
            pass
        return result
    finally:
        for proc in procs.processes:
            if proc.is_alive():
                proc.terminate()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
