"""Read-only status: join the compute state with the metrics, and give a verdict, ETA and cost.

The join receives a `ReadOnlyBackend` (it cannot write by construction) and, optionally, a
W&B reader. It reads `status.json` and `run.json` from the ledger, never the metrics
history, so its cost does not grow with the run; W&B costs at most two requests.

Verdicts (see docs/status.md):
    running      the compute runs and the metrics are fresh
    stale        it says running, but nothing has been logged for more than `stale_after`
    zombie       the metrics say running but the compute is gone, or the compute runs but
                 the metrics source is silent (no record after the grace period, or W&B
                 marked the run crashed or finished)
    finished     the run completed
    failed       the run failed (with the reason)
    preempted    the last attempt was preempted and the retry has not resumed yet
    stopped      stopped by `trainward stop`
    pending      launched, not started yet
    not-launched the launch did not start a run (with the reason)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from trainward.backends.base import ComputeState, ReadOnlyBackend, RunHandle
from trainward.config.values import parse_target
from trainward.errors import NotFound, RemoteUnavailable, RunNotFound, TrainwardError
from trainward.runs.ledger import LedgerReader
from trainward.runs.registry import NOT_LAUNCHED, Registry
from trainward.runs.trackerjoin import apply_tracker

STALE_AFTER_S = 600.0
SCHEMA = 1
CATEGORY_PREFIX = "val_action/cat_"


class TrackerReader(Protocol):
    def find(self, path: str, run: str | None = None) -> Any: ...


@dataclass
class RunStatus:
    """Everything `trainward status` reports. Its JSON form is documented in docs/status.md."""

    run: str
    verdict: str
    reason: str | None = None
    schema: int = SCHEMA
    backend: str | None = None
    experiment: str | None = None
    config_hash: str | None = None
    volume: str | None = None
    state: str | None = None  # what the metrics source says
    compute: dict[str, Any] | None = None
    attempt: int | None = None
    resumes: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)
    validation: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    checkpoints: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    metrics_source: str | None = None
    tracker: dict[str, Any] | None = None
    disagreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    sweep: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _verdict(
    compute: ComputeState | None,
    ledger_state: str | None,
    since_log: float | None,
    since_start: float | None,
    stale_after: float,
) -> tuple[str, str | None]:
    """The verdict from the compute state and the ledger. See the module docstring."""
    c = compute.state if compute else "unknown"
    if c == "stopped":
        return "stopped", compute.reason if compute else None
    if ledger_state == "finished":
        return "finished", None
    if ledger_state == "failed" and c in ("running", "pending"):
        return "running", "the last attempt failed; the backend is retrying it"
    if ledger_state == "failed" or c == "failed":
        return "failed", None
    if ledger_state == "preempted" and c in ("running", "pending", "unknown"):
        return (
            "preempted",
            "the last attempt was preempted; the retry resumes from the latest checkpoint",
        )
    if c in ("lost", "finished") and ledger_state in ("running", "pending", None):
        gone = compute.reason if compute and compute.reason else f"the compute is {c}"
        return "zombie", f"the ledger says {ledger_state or 'nothing'} but {gone}"
    if c == "pending":
        return "pending", None
    if since_log is None:
        if since_start is not None and since_start > stale_after:
            return (
                "zombie",
                f"the compute has run {since_start / 60:.1f} min but the run has logged nothing",
            )
        return "running", "starting"
    if since_log > stale_after:
        return (
            "stale",
            f"nothing logged for {since_log / 60:.1f} min (threshold {stale_after / 60:.1f} min)",
        )
    return "running", None


def _targets(
    status: dict[str, Any], targets: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = status.get("validation") or []
    last = rows[-1] if rows else {}
    checked, cats = [], []
    for metric, text in targets.items():
        value = last.get(metric)
        t = parse_target(text)
        checked.append(
            {
                "metric": metric,
                "target": t.text,
                "value": value,
                "ok": None if value is None else t.met(float(value)),
            }
        )
    for key, value in sorted(last.items()):
        if key.startswith(CATEGORY_PREFIX) and isinstance(value, (int, float)):
            bar = targets.get(key)
            ok = parse_target(bar).met(float(value)) if bar else None
            cats.append(
                {"category": key[len(CATEGORY_PREFIX) :], "value": value, "target": bar, "ok": ok}
            )
    return checked, cats


def _timing(st: dict[str, Any], compute: ComputeState | None, now: float) -> dict[str, Any]:
    started = st.get("started_at") or (compute.started_at if compute else None)
    ended = st.get("ended_at") if st.get("state") in ("finished", "failed", "stopped") else None
    if compute and compute.ended_at and not (compute.active):
        ended = ended or compute.ended_at
    runtime = ((ended or now) - started) if started else None
    last_log = st.get("last_log_at")
    eta = None
    per_epoch = [t["seconds"] for t in st.get("epoch_times") or [] if t.get("seconds")]
    step, total = st.get("step") or 0, st.get("steps_total")
    if not ended and total and step < total:
        if per_epoch and st.get("steps_per_epoch"):
            sec_per_step = sum(per_epoch) / len(per_epoch) / st["steps_per_epoch"]
        elif runtime and step:
            sec_per_step = runtime / step
        else:
            sec_per_step = None
        eta = round((total - step) * sec_per_step, 1) if sec_per_step else None
    return {
        "started_at": started,
        "ended_at": ended,
        "runtime_s": round(runtime, 1) if runtime else runtime,
        "last_log_at": last_log,
        "since_last_log_s": round(now - last_log, 1) if last_log else None,
        "eta_s": eta,
        "eta_at": now + eta if eta is not None else None,
        "sec_per_epoch": round(sum(per_epoch) / len(per_epoch), 2) if per_epoch else None,
    }


def _cost(info: dict[str, Any], timing: dict[str, Any]) -> dict[str, Any]:
    price = info.get("price_per_hour")
    if price is None:
        return {"price_per_hour": None, "source": "unknown"}
    runtime, eta = timing.get("runtime_s") or 0.0, timing.get("eta_s") or 0.0
    return {
        "price_per_hour": price,
        "source": info.get("price_source"),
        "so_far_usd": round(price * runtime / 3600, 4),
        "projected_usd": round(price * (runtime + eta) / 3600, 4),
    }


class StatusReader:
    """Build RunStatus objects. Everything it touches is read-only."""

    def __init__(
        self,
        registry: Registry,
        backend: ReadOnlyBackend,
        *,
        tracker: TrackerReader | None = None,
        stale_after: float = STALE_AFTER_S,
        clock: Any = time.time,
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
            if volume and LedgerReader(self.backend, volume, ref).exists():
                rec = {
                    "run": ref,
                    "backend": self.backend.name,
                    "volume": volume,
                    "state": "launched",
                }
            else:
                raise
        return self.for_record(rec)

    def for_record(self, rec: dict[str, Any]) -> RunStatus:
        now = self.clock()
        rec = self.registry.view(rec, lambda r: self.backend.find_run(r["run"]) is not None)
        run = rec["run"]
        out = RunStatus(
            run=run,
            verdict="pending",
            backend=rec.get("backend"),
            experiment=rec.get("experiment"),
            config_hash=rec.get("config_hash"),
            volume=rec.get("volume"),
            sweep=rec.get("sweep"),
        )
        if rec.get("state") == NOT_LAUNCHED:
            out.verdict, out.reason = "not-launched", rec.get("reason")
            return out
        # The registry's ids (pid, app and function-call ids) identify this launch exactly;
        # the backend's own lookup is the fallback for runs launched elsewhere.
        ids = dict(rec.get("ids") or {})
        if rec.get("sweep") and not ({"function_call_id", "pid"} & set(ids)):
            ids.update(self._sweep_member_ids(rec))
        handle = RunHandle(rec["backend"], run, ids) if ids else self.backend.find_run(run)
        compute = self._compute(handle, out)
        ledger = LedgerReader(self.backend, rec["volume"], run)
        st, info = self._ledger(ledger, out)
        if st.get("ended_at") and (rec.get("launched_at") or 0) > st["ended_at"]:
            # A relaunch (--resume of this run) whose first attempt has not started yet:
            # the ledger still describes the previous launch.
            st = {**st, "state": "pending", "ended_at": None}
        self._fill(out, st, info, compute, now)
        self._join_tracker(out, info, rec, st)
        return out

    def _sweep_member_ids(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Members a sweep controller spawned inside Modal: their ids are in the sweep's state."""
        try:
            doc = json.loads(
                self.backend.read_file(rec["volume"], f"sweeps/{rec['sweep']}/state.json")
            )
        except (NotFound, ValueError):
            return {}
        return dict(((doc.get("members") or {}).get(rec["run"]) or {}).get("ids") or {})

    def _compute(self, handle: RunHandle | None, out: RunStatus) -> ComputeState | None:
        if handle is None:
            return None
        try:
            compute = self.backend.state(handle)
        except RemoteUnavailable as err:
            out.notes.append(f"compute state unavailable: {err.message}")
            return None
        out.compute = compute.to_dict()
        return compute

    def _ledger(
        self, ledger: LedgerReader, out: RunStatus
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return ledger.status() or {}, ledger.run_info() or {}
        except NotFound:
            out.notes.append(f"volume {out.volume} is not readable")
        except RemoteUnavailable as err:
            out.notes.append(f"ledger unavailable: {err.message}")
        return {}, {}

    def _fill(
        self,
        out: RunStatus,
        st: dict[str, Any],
        info: dict[str, Any],
        compute: ComputeState | None,
        now: float,
    ) -> None:
        out.state = st.get("state")
        out.attempt, out.resumes = st.get("attempt"), st.get("resumes", 0)
        out.progress = {
            k: st.get(k)
            for k in ("epoch", "epochs", "step", "steps_total", "steps_per_epoch", "batch", "pct")
        }
        out.latest, out.validation = st.get("latest") or {}, st.get("validation") or []
        out.best, out.checkpoints = st.get("best"), st.get("checkpoints") or {}
        out.timing = _timing(st, compute, now)
        out.cost = _cost(info, out.timing)
        out.targets, out.categories = _targets(st, info.get("targets") or {})
        out.metrics_source = "ledger" if st else None
        cfg = info.get("config") or {}
        train = cfg.get("train", {})
        entry = cfg.get("entrypoint", "builtin")
        builtin = entry == "builtin"
        if isinstance(entry, dict):
            entry = " ".join(entry.get("command") or [])
        out.config = {
            "entrypoint": None if builtin else entry,
            "arch": train.get("arch") if builtin else None,
            "size": train.get("size") if builtin else None,
            "gpu": info.get("gpu"),
            "epochs": st.get("epochs"),
            "config": info.get("config_path"),
        }
        start = st.get("attempt_started_at") or (compute.started_at if compute else None)
        since_start = now - start if start else None
        out.verdict, reason = _verdict(
            compute, out.state, out.timing.get("since_last_log_s"), since_start, self.stale_after
        )
        out.reason = (
            st.get("reason")
            or (compute.reason if compute and out.verdict == "failed" else None)
            or reason
        )
        if out.verdict == "running" and reason:
            out.notes.append(reason)
        if st.get("warnings"):
            out.notes.extend(w["message"] for w in st["warnings"][-3:])
        if compute and compute.detail.get("dashboard_url"):
            out.links["modal"] = compute.detail["dashboard_url"]

    def _join_tracker(
        self, out: RunStatus, info: dict[str, Any], rec: dict[str, Any], st: dict[str, Any]
    ) -> None:
        tracker = st.get("tracker") or {}
        wb = info.get("wandb") or rec.get("wandb") or {}
        if tracker.get("url"):
            out.links["wandb"] = tracker["url"]
        if self.tracker is None or not (wb and wb.get("project") and wb.get("mode") == "online"):
            return
        path = tracker.get(
            "path"
        ) or f"{wb.get('entity') or ''}/{wb['project']}/{wb.get('id')}".lstrip("/")
        entity_project, _, run_id = path.rpartition("/")
        try:
            tr = self.tracker.find(entity_project, run_id)
        except TrainwardError as err:
            out.notes.append(f"W&B unavailable ({err.message}); showing the ledger")
            return
        apply_tracker(out, tr, has_ledger=bool(st), stale_after=self.stale_after, now=self.clock())


def status_wandb(
    path: str, tracker: TrackerReader, *, stale_after: float = STALE_AFTER_S, clock: Any = time.time
) -> RunStatus:
    """Status from W&B alone (`status --wandb ENTITY/PROJECT[/RUN]`), with no registry entry."""
    parts = path.strip("/").split("/")
    if len(parts) not in (2, 3):
        from trainward.errors import UsageError

        raise UsageError(
            f"invalid --wandb {path!r}",
            hint="use ENTITY/PROJECT (latest run) or ENTITY/PROJECT/RUN",
        )
    tr = tracker.find("/".join(parts[:2]), parts[2] if len(parts) == 3 else None)
    out = RunStatus(run=tr.name, verdict="pending", backend=None)
    apply_tracker(out, tr, has_ledger=False, stale_after=stale_after, now=clock())
    return out


def status_many(
    registry: Registry, reader_for: Any, *, limit: int = 20, stale_after: float = STALE_AFTER_S
) -> list[RunStatus]:
    """`status all`: the recent runs, one read-only status each (no W&B calls)."""
    readers: dict[str, StatusReader] = {}
    out = []
    for rec in registry.records()[-limit:]:
        backend = rec.get("backend", "local")
        if backend not in readers:
            readers[backend] = StatusReader(registry, reader_for(backend), stale_after=stale_after)
        try:
            out.append(readers[backend].for_record(rec))
        except TrainwardError as err:
            out.append(
                RunStatus(run=rec["run"], verdict="unknown", reason=err.message, backend=backend)
            )
    return out
