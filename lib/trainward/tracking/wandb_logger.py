"""Log a training run to W&B without ever stopping training.

A failed `start` leaves an inactive logger whose calls do nothing, `finish` is bounded by its
timeout, and what went wrong is kept in `warnings` for the ledger. wandb is imported only
when a run really starts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from trainward.errors import TrainwardError, UsageError
from trainward.tracking.wandb_support import (
    default_base_url,
    first_line,
    resolve_api_key,
    run_with_deadline,
)

MODES = ("online", "offline", "disabled")
EXIT_UPLOAD_TIMEOUT = 60.0  # wandb's finish_timeout: a crashed trainer still exits


class WandbLogger:
    """Logs a training run to W&B. A W&B failure never raises here and never stops training."""

    def __init__(self, run: Any = None, *, online: bool = False, warnings: Sequence[str] = ()):
        self._run = run
        self.warnings: list[str] = list(warnings)
        self.run_id: str | None = getattr(run, "id", None)
        online = online and run is not None
        self.url: str | None = run.url if online else None
        self.path: str | None = f"{run.entity}/{run.project}/{run.id}" if online else None
        self._failed: set[str] = set()

    @property
    def active(self) -> bool:
        return self._run is not None

    @classmethod
    def start(
        cls,
        *,
        project: str | None,
        entity: str | None,
        mode: str,
        run_name: str,
        config: dict[str, Any],
        run_id: str | None = None,
        dir: str | None = None,
        init_timeout: float = 30.0,
        tags: Sequence[str] = (),
        group: str | None = None,
    ) -> WandbLogger:
        """Start (or resume, with `run_id`) a W&B run; inactive, after a warning, on any failure.

        Returns within about `init_timeout` s (a missing key: at once); never raises for W&B.
        """
        if mode not in MODES:
            raise UsageError(f"W&B mode {mode!r} is not one of {', '.join(MODES)}")
        if mode == "disabled":
            return cls()
        kwargs: dict[str, Any] = dict(
            project=project, entity=entity, mode=mode, name=run_name, config=config, dir=dir
        )
        kwargs.update(tags=list(tags) or None, group=group)
        kwargs.update(id=run_id, resume="allow" if run_id else None)
        try:
            if mode == "online":
                resolve_api_key(default_base_url())
            run = run_with_deadline(
                lambda _: _init(kwargs, init_timeout),
                init_timeout + 15.0,
                on_timeout=lambda: TimeoutError(
                    f"wandb.init gave no answer in {init_timeout + 15:g}s"
                ),
            )
        except Exception as e:
            hint = f" ({e.hint})" if isinstance(e, TrainwardError) and e.hint else ""
            warning = f"W&B {mode} init failed: {first_line(e)}{hint}; training goes on without W&B"
            return cls(warnings=[_warn(warning)])
        return cls(run, online=mode == "online")

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self._call("log", lambda run: run.log(metrics, step=step))

    def summary(self, values: dict[str, Any]) -> None:
        self._call("summary", lambda run: run.summary.update(values))

    def mark_preempting(self) -> None:
        self._call("mark_preempting", lambda run: run.mark_preempting())

    def finish(self, exit_code: int = 0, timeout: float = 30.0) -> None:
        """Finish the run, waiting at most `timeout` s for the upload; never raises."""
        run, self._run = self._run, None
        if run is None:
            return
        try:
            run_with_deadline(
                lambda _: run.finish(exit_code=exit_code),
                timeout,
                on_timeout=lambda: TimeoutError(f"the upload was not done in {timeout:g}s"),
            )
        except Exception as e:
            unsent = "unsent data stays in the wandb dir; `wandb sync` uploads it later"
            self.warnings.append(_warn(f"W&B finish: {first_line(e)}; {unsent}"))

    def _call(self, what: str, fn: Callable[[Any], object]) -> None:
        if self._run is None:
            return
        try:
            fn(self._run)
        except Exception as e:
            if what not in self._failed:  # one warning per kind of call, not one per step
                self._failed.add(what)
                self.warnings.append(_warn(f"W&B {what} failed: {first_line(e)}"))


def _init(kwargs: dict[str, Any], init_timeout: float) -> Any:
    import wandb

    # finish_timeout bounds wandb's own exit-time upload when finish() was never called.
    settings = wandb.Settings(init_timeout=init_timeout, finish_timeout=EXIT_UPLOAD_TIMEOUT)
    return wandb.init(settings=settings, **kwargs)


def _warn(message: str) -> str:
    print(f"trainward: warning: {message}", file=sys.stderr, flush=True)
    return message
