"""W&B: read a run in two requests, whatever its length.

The `tracking` package is the only place in trainward that imports `wandb` (this module,
`wandb_logger` for writing, `wandb_support` for what both share), and it does so inside
functions: `trainward --help` must not pay for it.

Reading (`WandbReader.find`) costs the same whatever the run's length:

    1. `Runs` (per_page=1, lazy=False): id, name, state, heartbeat, config, the full summary
       (latest value of every key, `_step`, `_timestamp`, `_runtime`) and the history keys;
    2. one `sampledHistory` for the per-epoch rows (skipped when the run has no history);

plus one `Viewer` request the first time a reader is used: `wandb.Api()` verifies the key
when it is built. The reader keeps its `Api` and flushes its cache before every check.
`TrackerRun.requests` counts these GraphQL requests, the `Viewer` included when this check
built the `Api`. A check that ends in `RunNotFound` makes one more request, to list the
project's recent runs in the hint.

Time: wandb-core retries 429 and 5xx for minutes. `find` runs the check in a worker thread
and gives up after `timeout` seconds (each request is also bounded by `Api(timeout=...)`),
so it returns or raises `RemoteUnavailable` within `timeout` + about 1 s, plus the one-time
`import wandb` (about 1 s). A missing key raises `AuthError` before any network I/O.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from trainward.errors import RunNotFound, UsageError
from trainward.tracking.wandb_support import (
    classify_error,
    default_base_url,
    no_answer,
    resolve_api_key,
    run_with_deadline,
    stop_if,
)

#: Keys every check asks for; the run's own validation metrics are added (see `metric_keys`).
DEFAULT_HISTORY_KEYS: tuple[str, ...] = ("_timestamp", "_runtime", "_step", "epoch")
EPOCH_SAMPLES = 10_000  # per-epoch rows; a run with more validations than this is sampled
PROGRESS_SAMPLES = 500  # rows when the run has only per-step keys so far


@dataclass
class TrackerRun:
    entity: str
    project: str
    id: str
    name: str
    state: str
    url: str
    created_at: float | None
    heartbeat_at: float | None
    config: dict[str, Any]
    summary: dict[str, Any]
    last_step: int | None
    history: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WandbReader:
    """Finds a W&B run and reads what a status check needs, in at most 2 requests a check."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 10.0,
        history_keys: Sequence[str] = DEFAULT_HISTORY_KEYS,
    ) -> None:
        self._base_url = base_url.rstrip("/") if base_url else None
        self._api_key = api_key
        self.timeout = float(timeout)
        self.history_keys = tuple(history_keys)
        self._api: Any = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            self._base_url = default_base_url()
        return self._base_url

    def find(self, path: str, run: str | None = None) -> TrackerRun:
        """The run at `entity/project/run`, or `run` (name or id) in `entity/project`, or the latest.

        When several runs share a display name, the newest wins. Raises RunNotFound,
        RemoteUnavailable (W&B down, hanging, 429/5xx: after at most `timeout` s) or AuthError.
        """
        entity, project, ref = parse_path(path, run)
        key = resolve_api_key(self.base_url, self._api_key)
        what = f"{entity}/{project}" + (f"/{ref}" if ref else "")
        return run_with_deadline(
            lambda cancelled: self._check(entity, project, ref, key, cancelled),
            self.timeout,
            on_timeout=lambda: no_answer(self.base_url, what, self.timeout),
            classify=lambda e: classify_error(e, self.base_url),
        )

    def _check(
        self,
        entity: str,
        project: str,
        ref: str | None,
        key: str | None,
        cancelled: threading.Event,
    ) -> TrackerRun:
        api, requests = self._ensure_api(entity, key)
        api.flush()
        api.settings["entity"] = entity  # with it set, api.runs() sends no GetDefaultEntity
        stop_if(cancelled)
        node = self._latest(api, entity, project, ref)
        requests += 1
        stop_if(cancelled)
        summary = dict(node.summary_metrics)
        hkeys = getattr(node, "history_keys", None) or {}
        wanted = [*self.history_keys, *metric_keys(dict(node.config), summary)]
        keys, samples = history_request(wanted, summary, hkeys)
        rows: list[dict[str, Any]] = []
        if keys:
            rows = node.history(keys=keys, samples=samples, pandas=False)
            requests += 1
        return _tracker_run(node, entity, project, summary, hkeys, rows, requests)

    def _ensure_api(self, entity: str, key: str | None) -> tuple[Any, int]:
        """The reader's Api, built on first use (that costs the one Viewer request)."""
        with self._lock:
            if self._api is not None:
                return self._api, 0
        import wandb

        api = wandb.Api(
            overrides={"base_url": self.base_url, "entity": entity},
            timeout=self.timeout,  # type: ignore[arg-type]  # a float works; the hint says int
            api_key=key,
        )
        with self._lock:
            self._api = self._api or api
            return self._api, 1 if key else 0

    def _latest(self, api: Any, entity: str, project: str, ref: str | None) -> Any:
        filters = {} if ref is None else {"$or": [{"name": ref}, {"display_name": ref}]}
        try:
            runs = api.runs(
                f"{entity}/{project}", filters=filters, order="-created_at", per_page=1, lazy=False
            )
            node = next(iter(runs), None)
        except ValueError as e:
            if "Could not find project" not in str(e):
                raise
            raise RunNotFound(
                f"W&B project {entity}/{project} not found at {self.base_url}",
                hint="check the entity and project (as in the run URL .../<entity>/<project>/runs/<id>)"
                " and that the API key can see them",
            ) from None
        if node is None:
            raise self._run_not_found(api, entity, project, ref)
        return node

    def _run_not_found(self, api: Any, entity: str, project: str, ref: str | None) -> RunNotFound:
        where = f"{entity}/{project}"
        if ref is None:
            return RunNotFound(
                f"W&B project {where} has no runs", hint="start a run, or check the project"
            )
        try:  # one more request, on the error path only
            recent = list(itertools.islice(api.runs(where, order="-created_at", per_page=5), 5))
            listing = ", ".join(f"{r.name} (id {r.id})" for r in recent) or "none"
        except Exception:
            listing = "could not be listed"
        return RunNotFound(
            f"no run named or with id {ref!r} in W&B project {where}",
            hint=f"recent runs there: {listing}. Pass a display name or run id exactly"
            f" (the id is the last part of the run URL), or give just {where} for the latest run",
        )


def parse_path(path: str, run: str | None = None) -> tuple[str, str, str | None]:
    """`entity/project`, `entity/project/run` or `entity/project/runs/run` -> (entity, project, run)."""
    parts = [p for p in path.strip().strip("/").split("/") if p]
    if len(parts) == 4 and parts[2] == "runs":
        parts = [parts[0], parts[1], parts[3]]
    if len(parts) not in (2, 3):
        raise UsageError(
            f"W&B path {path!r} is not entity/project or entity/project/run",
            hint="e.g. my-team/my-project or my-team/my-project/1a2b3c4d",
        )
    if len(parts) == 3 and run and run != parts[2]:
        raise UsageError(f"W&B path {path!r} names run {parts[2]!r} but run={run!r} was also given")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else run


def metric_keys(config: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """The validation metrics to ask history for: those a trainward run's config names
    (`metrics.validation`, and every key under `metrics.categories`), else every summary key
    that starts with `val` (what validation metrics are called by convention)."""
    names = config.get("metrics") if isinstance(config.get("metrics"), dict) else None
    if names and names.get("validation"):
        prefix = names.get("categories")
        cats = sorted(k for k in summary if prefix and k.startswith(prefix))
        return [*names["validation"], *cats]
    return sorted(k for k in summary if k.startswith("val"))


def history_request(
    wanted: Sequence[str], summary: dict[str, Any], history_keys: dict[str, Any]
) -> tuple[list[str], int]:
    """Keys and sample count for the one `history()` request.

    W&B returns only rows that carry every requested key, so a key the run never logged, or
    logged in a different `log()` call, would empty the answer. From the per-key counts in
    `historyKeys` this keeps the keys on every row (`_timestamp`, `_runtime`, a per-step
    `epoch`) and the keys logged as often as the first validation key, which are logged
    together. Other keys are still in the summary, with their latest value.
    """
    keys = [k for k in dict.fromkeys(wanted) if k != "_step"]  # _step is the x axis
    counts = _key_counts(history_keys)
    if not counts:
        return [k for k in keys if k in summary], EPOCH_SAMPLES
    total = max(counts.values())
    present = [k for k in keys if counts.get(k)]
    dense = [k for k in present if counts[k] == total]
    sparse = [k for k in present if counts[k] < total]
    if not sparse:
        return dense, PROGRESS_SAMPLES
    return dense + [k for k in sparse if counts[k] == counts[sparse[0]]], EPOCH_SAMPLES


def _key_counts(history_keys: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, info in (history_keys.get("keys") or {}).items():
        counts = [tc.get("count", 0) for tc in (info or {}).get("typeCounts") or []]
        if counts:
            out[key] = int(sum(counts))
    return out


def _tracker_run(
    node: Any,
    entity: str,
    project: str,
    summary: dict[str, Any],
    history_keys: dict[str, Any],
    rows: list[dict[str, Any]],
    requests: int,
) -> TrackerRun:
    step = summary.get("_step")
    last = history_keys.get("lastStep")
    if isinstance(step, int | float):
        last_step: int | None = int(step)
    else:
        last_step = int(last) if isinstance(last, int) and last >= 0 else None
    return TrackerRun(
        entity=entity,
        project=project,
        id=node.id,
        name=node.name or node.id,
        state=node.state,
        url=node.url,
        created_at=_epoch(getattr(node, "created_at", None)),
        heartbeat_at=_epoch(getattr(node, "heartbeat_at", None)),
        config=dict(node.config),
        summary=summary,
        last_step=last_step,
        history=list(rows),
        requests=requests,
    )


def _epoch(stamp: str | None) -> float | None:
    """W&B's ISO timestamps (UTC, often without an offset) as epoch seconds."""
    if not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
