"""Read-only status: join the compute state with the metrics, and give a verdict, ETA and cost.

The join receives a `ReadOnlyBackend` (it cannot write by construction) and, optionally, a
W&B reader. It reads `status.json` and `run.json` from the ledger, never the metrics
history, so its cost does not grow with the run; W&B costs at most two requests. The
verdict is `trainward.runs.verdict.verdict` (docs/status.md has its table).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from trainward.backends.base import ComputeState, ReadOnlyBackend, RunHandle
from trainward.config.values import parse_duration
from trainward.core.contracts import (
    ContractError,
    JsonObject,
    LedgerStatus,
    RegistryRecord,
    RunInfo,
)
from trainward.core.paths import run_file, sweep_file
from trainward.core.states import LAUNCHED, NOT_LAUNCHED
from trainward.errors import NotFound, RemoteUnavailable, RunNotFound, TrainwardError, UsageError
from trainward.runs import adopted
from trainward.runs.context import STOP_MARKER
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import Registry
from trainward.runs.runstatus import Cost, MetricNames, Progress, RunStatus, Timing, judge_targets
from trainward.runs.trackerjoin import apply_tracker
from trainward.runs.verdict import Evidence, verdict

STALE_AFTER_S = 600.0


class TrackerReader(Protocol):
    def find(self, path: str, run: str | None = None) -> Any: ...


def _timing(st: LedgerStatus, compute: ComputeState | None, now: float) -> Timing:
    started = st.get("started_at") or (compute.started_at if compute else None)
    ended = (
        st.get("ended_at")
        if st.get("state") in ("finished", "failed", "stopped", "timed-out")
        else None
    )
    if compute and compute.ended_at and not compute.active:
        ended = ended or compute.ended_at
    runtime = ((ended or now) - started) if started else None
    last_log, last_out = st.get("last_log_at"), st.get("last_output_at")
    per_epoch = [t["seconds"] for t in st.get("epoch_times") or [] if t.get("seconds")]
    step, total, spe = st.get("step") or 0, st.get("steps_total"), st.get("steps_per_epoch")
    eta = None
    if not ended and total and step < total:
        if per_epoch and spe:
            sec_per_step: float | None = sum(per_epoch) / len(per_epoch) / spe
        elif runtime and step:
            sec_per_step = runtime / step
        else:
            sec_per_step = None
        eta = round((total - step) * sec_per_step, 1) if sec_per_step else None
    return Timing(
        started_at=started,
        ended_at=ended,
        runtime_s=round(runtime, 1) if runtime else runtime,
        last_log_at=last_log,
        since_last_log_s=round(now - last_log, 1) if last_log else None,
        last_output_at=last_out,
        since_last_output_s=round(now - last_out, 1) if last_out else None,
        eta_s=eta,
        eta_at=now + eta if eta is not None else None,
        sec_per_epoch=round(sum(per_epoch) / len(per_epoch), 2) if per_epoch else None,
    )


def _cost(info: RunInfo | None, timing: Timing) -> Cost:
    price = info.price_per_hour if info else None
    if price is None:
        return Cost()
    runtime, eta = timing.runtime_s or 0.0, timing.eta_s or 0.0
    return Cost(
        price_per_hour=price,
        source=info.price_source if info else None,
        so_far_usd=round(price * runtime / 3600, 4),
        projected_usd=round(price * (runtime + eta) / 3600, 4),
    )


def _config_summary(info: RunInfo | None, st: LedgerStatus) -> JsonObject:
    cfg = info.config if info else {}
    entry = cfg.get("entrypoint", "builtin")
    builtin = entry == "builtin"
    if isinstance(entry, dict):
        entry = " ".join(entry.get("command") or [])
    train = cfg.get("train") or {}
    return {
        "entrypoint": None if builtin else entry,
        "arch": train.get("arch") if builtin else None,
        "size": train.get("size") if builtin else None,
        "gpu": info.gpu if info else None,
        "epochs": st.get("epochs"),
        "config": info.config_path if info else None,
    }


class StatusReader:
    """Build RunStatus objects. Everything it touches is read-only."""

    def __init__(
        self,
        registry: Registry,
        backend: ReadOnlyBackend,
        *,
        tracker: TrackerReader | None = None,
        stale_after: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.backend = backend
        self.tracker = tracker
        self.stale_after = stale_after
        self.clock = clock

    def read(self, ref: str, *, volume: str | None = None) -> RunStatus:
        try:
            rec = self.registry.resolve(ref)
        except RunNotFound:
            if not (volume and LedgerReader(self.backend, volume, ref).exists()):
                raise
            rec = RegistryRecord(run=ref, backend=self.backend.name, volume=volume, state=LAUNCHED)
        return self.for_record(rec)

    def for_record(self, rec: RegistryRecord) -> RunStatus:
        now = self.clock()
        rec = self.registry.view(rec, self._ids_of)
        out = RunStatus(
            run=rec.run,
            verdict="pending",
            backend=rec.backend,
            experiment=rec.experiment,
            config_hash=rec.config_hash,
            volume=rec.volume,
            sweep=rec.sweep,
        )
        if rec.state == NOT_LAUNCHED:
            out.verdict, out.reason = "not-launched", rec.reason
            return out
        # The registry's ids (pid, app and function-call ids) identify this launch exactly;
        # the backend's own lookup is the fallback for runs launched elsewhere.
        ids = dict(rec.ids)
        if rec.sweep and not ({"function_call_id", "pid"} & set(ids)):
            ids.update(self._sweep_member_ids(rec))
        compute, compute_ok, st, info, ledger_ok = self._read_both(rec, ids, out)
        adopted_run = info is not None and not st and adopted.is_adopted(info.config)
        if adopted_run and info is not None:
            st = adopted.observe(self.backend, rec.volume, rec.run, info, compute, now)
            out.notes.append(
                adopted.note(rec.volume, rec.run, info.wandb.mode if info.wandb else None)
            )
        if st.get("ended_at") and (rec.launched_at or 0) > (st.get("ended_at") or 0):
            # A relaunch (--resume of this run) whose first attempt has not started yet:
            # the ledger still describes the previous launch.
            st = {**st, "state": "pending", "ended_at": None}
        self._fill(out, st, info, compute, now, readable=(compute_ok, ledger_ok))
        if adopted_run:
            out.metrics_source = None
        self._join_tracker(out, info, rec, st, adopted_run=adopted_run)
        return out

    def _ids_of(self, rec: RegistryRecord) -> dict[str, Any] | None:
        """The ids of a run a dead launcher may have started (read-only)."""
        handle = self.backend.find_run(rec.run)
        return None if handle is None else dict(handle.ids)

    def _sweep_member_ids(self, rec: RegistryRecord) -> dict[str, Any]:
        """Members a sweep controller spawned inside Modal: their ids are in the sweep's state."""
        try:
            doc = json.loads(
                self.backend.read_file(rec.volume, sweep_file(rec.sweep or "", "state.json"))
            )
        except (NotFound, ValueError):
            return {}
        return dict(((doc.get("members") or {}).get(rec.run) or {}).get("ids") or {})

    def _read_both(
        self, rec: RegistryRecord, ids: dict[str, Any], out: RunStatus
    ) -> tuple[ComputeState | None, bool, LedgerStatus, RunInfo | None, bool]:
        """The compute state and the ledger, read at the same time: each read is bounded, so
        status answers within one bound even when the remote does not answer at all."""
        reader = LedgerReader(self.backend, rec.volume, rec.run)
        with ThreadPoolExecutor(max_workers=2) as pool:
            compute = pool.submit(self._compute, rec, ids, out)
            ledger = pool.submit(self._ledger, reader, out)
            (state, compute_ok), (st, info, ledger_ok) = compute.result(), ledger.result()
        if state is not None and not state.active and st.get("state") in ("running", "pending"):
            st, info, ledger_ok = self._ledger(reader, out)  # it may have ended between the reads
        return state, compute_ok, st, info, ledger_ok

    def _compute(
        self, rec: RegistryRecord, ids: dict[str, Any], out: RunStatus
    ) -> tuple[ComputeState | None, bool]:
        try:
            handle = RunHandle(rec.backend, rec.run, ids) if ids else self.backend.find_run(rec.run)
            if handle is None:
                return None, True
            compute = self.backend.state(handle)
        except RemoteUnavailable as err:
            out.notes.append(f"compute state unavailable: {err.message}")
            return None, False
        out.compute = compute.to_dict()
        return compute, True

    def _ledger(
        self, ledger: LedgerReader, out: RunStatus
    ) -> tuple[LedgerStatus, RunInfo | None, bool]:
        try:
            return ledger.status() or {}, ledger.run_info(), True
        except NotFound:
            out.notes.append(f"volume {out.volume} is not readable")
        except ContractError as err:
            out.notes.append(f"the ledger could not be read: {err.message}")
        except RemoteUnavailable as err:
            out.notes.append(f"ledger unavailable: {err.message}")
        return {}, None, False

    def _stale_after(self, info: RunInfo | None) -> float:
        """--stale-after when given, else the run's own `silent_after`, else 10 minutes."""
        if self.stale_after is not None:
            return self.stale_after
        raw = (info.config if info else {}).get("silent_after")
        return float(parse_duration(raw, cap=None)) if raw else STALE_AFTER_S

    def _stop_requested(self, volume: str | None, run: str) -> bool:
        try:
            return self.backend.stat(volume or "", run_file(run, STOP_MARKER)) is not None
        except TrainwardError:
            return False

    def _fill(
        self,
        out: RunStatus,
        st: LedgerStatus,
        info: RunInfo | None,
        compute: ComputeState | None,
        now: float,
        *,
        readable: tuple[bool, bool],
    ) -> None:
        out.state = st.get("state")
        out.attempt, out.resumes = st.get("attempt"), st.get("resumes", 0)
        out.progress = Progress(
            **{
                k: st.get(k)
                for k in (
                    "epoch",
                    "epochs",
                    "step",
                    "steps_total",
                    "steps_per_epoch",
                    "batch",
                    "pct",
                )
            }  # type: ignore[arg-type]
        )
        out.latest, out.validation = st.get("latest") or {}, st.get("validation") or []
        out.best, out.checkpoints = st.get("best"), st.get("checkpoints") or {}
        out.timing = _timing(st, compute, now)
        out.cost = _cost(info, out.timing)
        out.metric_names = MetricNames.of(info.config if info else None)
        if info and info.metrics:
            out.metric_names = MetricNames.of({"metrics": info.metrics})
        rows = st.get("validation") or []
        targets = info.targets if info else {}
        out.targets, out.categories = judge_targets(
            rows[-1] if rows else {}, targets, out.metric_names
        )
        out.metrics_source = "ledger" if st else None
        out.config = _config_summary(info, st)
        start = st.get("attempt_started_at") or (compute.started_at if compute else None)
        stop_asked = out.state == "preempted" and self._stop_requested(out.volume, out.run)
        out.verdict, reason = verdict(
            Evidence(
                compute=compute.state if compute else "unknown",
                ledger=out.state,
                compute_readable=readable[0] and compute is not None,
                ledger_readable=readable[1],
                compute_reason=compute.reason if compute else None,
                since_log=out.timing.since_last_log_s,
                since_output=out.timing.since_last_output_s,
                since_start=now - start if start else None,
                stale_after=self._stale_after(info),
                stop_requested=stop_asked,
            )
        )
        out.reason = (
            st.get("reason")
            or (compute.reason if compute and out.verdict == "failed" else None)
            or reason
        )
        if out.verdict == "running" and reason:
            out.notes.append(reason)
        out.notes.extend(w["message"] for w in (st.get("warnings") or [])[-3:])
        if compute and compute.detail.get("dashboard_url"):
            out.links["modal"] = compute.detail["dashboard_url"]

    def _join_tracker(
        self,
        out: RunStatus,
        info: RunInfo | None,
        rec: RegistryRecord,
        st: LedgerStatus,
        *,
        adopted_run: bool = False,
    ) -> None:
        tracker = st.get("tracker") or {}
        wb = (info.wandb if info else None) or rec.wandb
        if tracker.get("url"):
            out.links["wandb"] = tracker["url"]
        if self.tracker is None or not (wb and wb.project and wb.mode == "online"):
            return
        path = tracker.get("path") or f"{wb.entity or ''}/{wb.project}/{wb.id}".lstrip("/")
        entity_project, _, run_id = path.rpartition("/")
        try:
            tr = self.tracker.find(entity_project, run_id)
        except TrainwardError as err:
            out.notes.append(f"W&B unavailable ({err.message}); showing the ledger")
            return
        stale = self._stale_after(info)
        if adopted_run and info is not None:
            adopted.join_tracker(out, tr, info, stale_after=stale, now=self.clock())
            return
        apply_tracker(out, tr, has_ledger=bool(st), stale_after=stale, now=self.clock())


def require_readable(s: RunStatus) -> None:
    """Raise RemoteUnavailable (exit 5) when nothing about the run could be read."""
    if s.verdict != "unknown" or s.state is not None or s.compute is not None:
        return
    raise RemoteUnavailable(
        f"the state of run '{s.run}' is unknown: "
        + "; ".join(s.notes or ["nothing could be read"]),
        hint="check the token and the network (`trainward doctor --backend "
        f"{s.backend or 'modal'} --json`); the run itself is not affected by this",
    )


def status_wandb(
    path: str,
    tracker: TrackerReader,
    *,
    stale_after: float = STALE_AFTER_S,
    clock: Callable[[], float] = time.time,
) -> RunStatus:
    """Status from W&B alone (`status --wandb ENTITY/PROJECT[/RUN]`), with no registry entry."""
    parts = path.strip("/").split("/")
    if len(parts) not in (2, 3):
        raise UsageError(
            f"invalid --wandb {path!r}",
            hint="use ENTITY/PROJECT (latest run) or ENTITY/PROJECT/RUN",
        )
    tr = tracker.find("/".join(parts[:2]), parts[2] if len(parts) == 3 else None)
    out = RunStatus(run=tr.name, verdict="pending", backend=None)
    apply_tracker(out, tr, has_ledger=False, stale_after=stale_after, now=clock())
    return out


def status_many(
    registry: Registry,
    reader_for: Callable[[str], ReadOnlyBackend],
    *,
    limit: int = 20,
    stale_after: float | None = None,
) -> list[RunStatus]:
    """`status all`: the recent runs, one read-only status each (no W&B calls)."""
    readers: dict[str, StatusReader] = {}
    out = []
    for rec in registry.records()[-limit:]:
        if rec.backend not in readers:
            readers[rec.backend] = StatusReader(
                registry, reader_for(rec.backend), stale_after=stale_after
            )
        try:
            out.append(readers[rec.backend].for_record(rec))
        except TrainwardError as err:
            out.append(
                RunStatus(run=rec.run, verdict="unknown", reason=err.message, backend=rec.backend)
            )
    return out


__all__ = ["RunStatus", "StatusReader", "require_readable", "status_many", "status_wandb"]
