"""The training loop. One step: fetch the batch at (epoch, batch), forward, loss, backward,
clip, AdamW, schedule. After it: log every `log_every` steps, validate and checkpoint at
each epoch end, checkpoint every `checkpoint_every` steps, and stop (checkpoint, return
"preempted") on a stop request or hand over (checkpoint, return "continue") at the deadline.

Everything that decides a batch or an update is in the checkpoint or derived from the
config and the step, so a resumed run continues at the exact batch and, on CPU, ends
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from trainward.errors import ConfigMismatch, NotFound, UsageError
from trainward.runs.context import RunContext
from trainward.train import checkpoint, data, parallel
from trainward.train.checkpoint import say
from trainward.train.metrics import collect, losses, summarize
from trainward.train.models import build_model, count_params
from trainward.train.optim import build_optimizer
from trainward.train.trackers import NullTracker, Tracker, start_tracker

STOP, HAND_OVER = 1, 2


def train(ctx: RunContext) -> dict[str, Any]:
    """Train in this process, or across the container's GPUs when the config asks for N > 1."""
    nprocs = parallel.local_gpu_world(ctx.experiment)
    if nprocs > 1:
        result: dict[str, Any] = parallel.spawn(ctx, nprocs, train_process)
        return result
    return train_process(ctx)


def train_process(ctx: RunContext) -> dict[str, Any]:
    rt = parallel.setup(ctx.experiment.train)
    clean = False
    try:
        result = Trainer(ctx, rt).run()
        clean = True
        return result
    finally:
        parallel.teardown(rt, clean=clean)


class Trainer:
    def __init__(self, ctx: RunContext, rt: parallel.Runtime) -> None:
        self.ctx, self.rt, self.exp, self.cfg = ctx, rt, ctx.experiment, ctx.experiment.train
        self.ledger = ctx.ledger
        self._configure()
        self._load_data()
        self._build()
        self.step, self.saved_step = 0, -1
        self.best: dict[str, Any] | None = None
        self.last_val: dict[str, float] | None = None
        self._loaded: tuple[Path, dict[str, Any]] | None = None  # what _choose_resume read
        self.tracker: Tracker = NullTracker()
        self.saver = None
        if rt.main:
            self.saver = checkpoint.Checkpointer(
                ctx.run_dir, self.ledger, keep=self.cfg.keep_checkpoints,
                async_write=self.cfg.async_checkpoint,
            )  # fmt: skip

    # -- setup ----------------------------------------------------------------------------------
    def _configure(self) -> None:
        cuda = self.rt.device.type == "cuda"
        self.use_bf16, self.use_compile = self.cfg.bf16 and cuda, self.cfg.compile and cuda
        for name, asked in (("bf16", self.cfg.bf16), ("compile", self.cfg.compile)):
            if asked and not cuda and self.rt.main:
                note = f"train.{name} is ignored on {self.rt.device.type}: it applies to CUDA only"
                say(note)
                self.ledger.event("note", message=note)
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        random.seed(self.cfg.seed)
        np.random.seed(self.cfg.seed % 2**32)
        torch.manual_seed(self.cfg.seed)

    def _load_data(self) -> None:
        cfg, data_dir = self.cfg, self.ctx.data_dir
        gen = cfg.generate
        self.rt.on_main(lambda: data.prepare(data_dir, gen, cfg.max_games))
        files = data.select_games(
            data_dir, generated=gen.games if gen else None, max_games=cfg.max_games
        )
        try:
            train_games, val_games = data.split_games(len(files), cfg.val_fraction)
        except ValueError as err:
            raise UsageError(f"dataset {data_dir}: {err}", hint="use more games") from None
        self.data = data.Replays(data.encode(files, write=False), cfg.window, self.rt.device)
        self.train_windows = self.data.windows(train_games)
        self.val_windows = self.data.windows(val_games)
        self.order = data.EpochOrder(len(self.train_windows), cfg.batch_size, cfg.seed,
                                     rank=self.rt.rank, world=self.rt.world)  # fmt: skip
        self.spe = self.order.steps_per_epoch
        if self.spe == 0:
            raise UsageError(f"train.batch_size {cfg.batch_size} is larger than the "
                             f"{len(self.train_windows)} training windows", hint="lower it")  # fmt: skip
        self.total = min(self.spe * cfg.epochs, cfg.max_steps or self.spe * cfg.epochs)

    def _build(self) -> None:
        device = self.rt.device
        self.raw = build_model(self.cfg.arch, self.cfg.size, self.cfg.window).to(device)
        self.opt, self.sched = build_optimizer(self.raw, self.cfg, self.total)
        self.fast: Any = torch.compile(self.raw) if self.use_compile else self.raw
        self.model: Any = self.fast
        if self.rt.distributed:
            ids = [device.index] if device.type == "cuda" else None
            self.model = DistributedDataParallel(self.fast, device_ids=ids)
        bf16 = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
        self.autocast = bf16 if self.use_bf16 else contextlib.nullcontext

    # -- resume ---------------------------------------------------------------------------------
    def _warn(self, message: str) -> None:
        say(f"warning: {message}")
        self.ledger.warn(message)

    def _choose_resume(self) -> str | None:
        """Rank 0: this run's newest valid checkpoint, else ctx.resume_from, else None."""
        own = checkpoint.newest_valid(
            self.ctx.run_dir / "checkpoints", self.cfg.keep_checkpoints, self._warn
        )
        if own is not None:
            self._loaded = own
            return str(own[0])
        src = self.ctx.resume_from
        if src is None:
            return None
        if not src.exists():
            raise NotFound(
                f"checkpoint {src} does not exist", hint="check the --resume run and file"
            )
        self._loaded = (src, checkpoint.load(src))  # raises IntegrityError naming the file
        return str(src)

    def resume(self) -> None:
        chosen = self.rt.on_main(self._choose_resume)
        if chosen is None:
            return
        path = Path(chosen)
        state = self._loaded[1] if self._loaded else checkpoint.load(path)
        self._loaded = None
        checkpoint.check_config(state, self.exp, path)
        if state["loader"].get("windows") != len(self.train_windows):
            raise ConfigMismatch(f"cannot resume from {path}: the dataset changed "
                                 f"({state['loader'].get('windows')} training windows then, "
                                 f"{len(self.train_windows)} now)", hint="use the same dataset")  # fmt: skip
        self._restore(state)
        if self.rt.main:
            epoch, batch = divmod(self.step, self.spe)
            say(f"resuming from {path} at step {self.step} (epoch {epoch}, batch {batch})")
            self.ledger.resumed(step=self.step, epoch=epoch, source=str(path))

    def _restore(self, state: dict[str, Any]) -> None:
        self.raw.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        checkpoint.restore_rng(state["rng"])
        self.step = self.saved_step = state["step"]
        self.last_val = state.get("metrics")
        best = state.get("best") or {}
        same = (best.get("metric"), best.get("mode")) == (self.cfg.best_metric, self.cfg.best_mode)
        self.best = best if same else None  # a changed best_metric starts its record afresh

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.resume()
        if self.rt.main:
            self.ledger.plan(
                epochs=self.cfg.epochs, steps_per_epoch=self.spe, steps_total=self.total
            )
            say(f"{self.cfg.arch}-{self.cfg.size}: {count_params(self.raw):,} parameters on "
                f"{self.rt.device} x{self.rt.world}; {len(self.train_windows):,} training windows, "
                f"{self.spe} steps/epoch, {self.total} steps")  # fmt: skip
            self.tracker = start_tracker(self.ctx)
        status = "failed"
        try:
            result = self._loop()
            status = result["status"]
            return result
        finally:
            if self.saver is not None:
                self.saver.close()
            self.tracker.close(status)

    def _loop(self) -> dict[str, Any]:
        self.epoch_started = time.time()
        while self.step < self.total:
            loss = self.train_step(self.next_batch(*divmod(self.step, self.spe)))
            self.step += 1
            outcome = self.after_step(loss)
            if outcome is not None:
                return outcome
        return self.finish()

    def next_batch(self, epoch: int, batch: int) -> data.Batch:
        positions = self.order.indices(epoch, batch).to(self.rt.device, non_blocking=True)
        return self.data.batch(self.train_windows[positions])

    def train_step(self, batch: data.Batch) -> torch.Tensor:
        with self.autocast():
            logits, delta = self.model(batch.states, batch.actions, batch.frames)
        loss, _, _ = losses(logits, delta, batch)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.raw.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.sched.step()
        return loss.detach()

    def after_step(self, loss: torch.Tensor) -> dict[str, Any] | None:
        """Logging, validation, checkpoints and stop decisions after step `self.step`."""
        if self.saver is not None:
            self.saver.poll()
        if self.step % self.cfg.log_every == 0 or self.step == self.total:
            self.log(loss)
        if self.step % self.spe == 0 or self.step == self.total:
            self.end_epoch()
        elif self.step % self.cfg.checkpoint_every == 0:
            self.save()
        code = self.rt.agree(self._control_code())
        if not code or self.step == self.total:
            return None
        if self.saved_step != self.step:
            self.save()
        status = "preempted" if code == STOP else "continue"
        say(f"{'stop requested' if code == STOP else 'deadline'}: checkpointed at step {self.step}")
        return {"status": status, "step": self.step, "epoch": self.step // self.spe}

    def _control_code(self) -> int:
        if self.ctx.stop_requested.is_set():
            return STOP
        deadline = self.ctx.deadline
        return HAND_OVER if deadline is not None and time.time() >= deadline else 0

    # -- logging, validation, checkpoints -------------------------------------------------------
    def log(self, loss: torch.Tensor) -> None:
        value = float(self.rt.sum(loss.float().clone()).item()) / self.rt.world
        if not self.rt.main:
            return
        pct, lr = round(100.0 * self.step / self.total, 2), self.sched.get_last_lr()[0]
        metrics = {"batch/loss": value, "batch/step": self.step, "batch/pct": pct, "batch/lr": lr}
        epoch, batch = divmod(self.step - 1, self.spe)
        self.ledger.log(metrics, step=self.step, epoch=epoch + 1, batch=batch + 1)
        self.tracker.log(metrics, step=self.step)
        say(
            f"step {self.step}/{self.total} ({pct:.1f}%) epoch {epoch + 1} loss {value:.4f} lr {lr:.2e}"
        )

    def validate(self) -> dict[str, float]:
        """Validation metrics over every held-out window (sharded across processes)."""
        starts = self.val_windows[self.rt.rank :: self.rt.world]
        stats = collect(self.fast, self.data, starts, 2 * self.cfg.batch_size, self.autocast)
        return summarize(self.rt.sum(stats))

    def end_epoch(self) -> None:
        epoch = math.ceil(self.step / self.spe)
        metrics = self.last_val = self.validate()
        improved = False
        if self.rt.main:
            seconds = time.time() - self.epoch_started
            self.ledger.epoch_time(epoch, seconds)
            self.ledger.log_validation(epoch, metrics, step=self.step)
            self.tracker.log({**metrics, "epoch": epoch, "epoch_time": seconds}, step=self.step)
            improved = self._update_best(metrics, epoch)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if "/cat_" not in k)
            say(f"epoch {epoch} validation: {shown} ({seconds:.1f} s)")
        self.save(best=improved)
        self.epoch_started = time.time()

    def _update_best(self, metrics: dict[str, float], epoch: int) -> bool:
        name, mode = self.cfg.best_metric, self.cfg.best_mode
        value = metrics.get(name)
        if value is None or math.isnan(value):
            if epoch == 1 or self.step == self.total:
                self._warn(f"train.best_metric {name!r} is not a validation metric; no best.pt")
            return False
        old = self.best["value"] if self.best else None
        if old is not None and not (value > old if mode == "max" else value < old):
            return False
        self.best = {
            "metric": name,
            "mode": mode,
            "value": value,
            "epoch": epoch,
            "step": self.step,
        }
        self.ledger.best(name, value, mode=mode, epoch=epoch, step=self.step)
        return True

    def position(self) -> dict[str, int]:
        """The data-loader position (and what it was computed from), stored in checkpoints."""
        return {"step": self.step, "epoch": self.step // self.spe, "batch": self.step % self.spe,
                "steps_per_epoch": self.spe, "windows": len(self.train_windows),
                "world": self.rt.world}  # fmt: skip

    def save(self, *, best: bool = False) -> None:
        self.saved_step = self.step
        if self.saver is None:
            return
        cuda = self.rt.device.type == "cuda"
        state = checkpoint.snapshot(model=self.raw, optimizer=self.opt, scheduler=self.sched,
                                    position=self.position(), best=self.best, experiment=self.exp,
                                    non_blocking=cuda)  # fmt: skip
        state["metrics"] = self.last_val
        ready = torch.cuda.Event() if cuda else None
        if ready is not None:
            ready.record()  # the writer waits for the copies; this thread does not
        self.saver.save(state, best=best, ready=ready)

    def finish(self) -> dict[str, Any]:
        if self.saver is not None:
            self.saver.wait()
        final, sha = dict(self.last_val or {}), checkpoint.weights_sha256(self.raw)
        best = {f"best/{k}": v for k, v in (self.best or {}).items()}
        self.tracker.summary({**final, "weights_sha256": sha, **best})
        return {"status": "finished", "final": final, "weights_sha256": sha, "step": self.step,
                "best": self.best}  # fmt: skip
