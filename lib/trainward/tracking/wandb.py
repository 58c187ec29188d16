"""W&B: read a run in two requests, and log to W&B without ever stopping training.

This is the only trainward module that imports `wandb`, and it does so inside functions:
`trainward --help` must not pay for it.

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

Writing (`WandbLogger`) never raises on a W&B failure and never blocks for long: a failed
`start` leaves an inactive logger whose calls do nothing, `finish` is bounded by its
timeout, and what went wrong is kept in `warnings` for the ledger.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from trainward.errors import AuthError, RemoteUnavailable, RunNotFound, TrainwardError, UsageError

T = TypeVar("T")

DEFAULT_HISTORY_KEYS: tuple[str, ...] = (
    "_timestamp",
    "_runtime",
    "_step",
    "epoch",
    "val_loss/total",
    "val_metric/action_change_acc",
    "val_metric/position_mae",
)
CATEGORY_PREFIX = "val_action/cat_"  # per-category accuracy keys, found in the run's summary
EPOCH_SAMPLES = 10_000  # per-epoch rows; a run with more validations than this is sampled
PROGRESS_SAMPLES = 500  # rows when the run has only per-step keys so far
DEFAULT_BASE_URL = "https://api.wandb.ai"
KEY_HINT = "run `wandb login`, or set WANDB_API_KEY to a key for this W&B host"
MODES = ("online", "offline", "disabled")
EXIT_UPLOAD_TIMEOUT = 60.0  # wandb's finish_timeout: a crashed trainer still exits


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
            self._base_url = _default_base_url()
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
            on_timeout=lambda: _no_answer(self.base_url, what, self.timeout),
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
        _stop_if(cancelled)
        node = self._latest(api, entity, project, ref)
        requests += 1
        _stop_if(cancelled)
        summary = dict(node.summary_metrics)
        hkeys = getattr(node, "history_keys", None) or {}
        keys, samples = history_request(self.history_keys, summary, hkeys)
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
    cats = sorted(k for k in summary if k.startswith(CATEGORY_PREFIX))
    keys = [k for k in dict.fromkeys([*wanted, *cats]) if k != "_step"]  # _step is the x axis
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


# --- credentials, deadlines and errors --------------------------------------------------


def _default_base_url() -> str:
    from wandb import env
    from wandb.sdk import wandb_setup

    return str(env.get_base_url(wandb_setup.singleton().settings.base_url) or DEFAULT_BASE_URL)


def resolve_api_key(base_url: str, api_key: str | None = None) -> str | None:
    """The key to use for `base_url`, from the argument, WANDB_API_KEY, .netrc or wandb's settings.

    Returns None when wandb will authenticate with an identity token file instead. Raises
    AuthError, without any network I/O, when there are no credentials or the key is malformed.
    """
    from wandb.errors import AuthenticationError
    from wandb.sdk.lib import wbauth

    try:
        if api_key:
            return str(wbauth.AuthApiKey(host=base_url, api_key=api_key).api_key)
        auth = wbauth.authenticate_session(
            host=base_url, source="trainward", prompt=False, update_session=False
        )
    except AuthenticationError as e:
        raise AuthError(
            f"the W&B credentials for {base_url} are not valid: {_redact(str(e), api_key)}",
            hint=KEY_HINT,
        ) from None
    if auth is None:
        raise AuthError(f"no W&B API key found for {base_url}", hint=KEY_HINT)
    return str(auth.api_key) if isinstance(auth, wbauth.AuthApiKey) else None


def _redact(text: str, *secrets: str | None) -> str:
    for secret in (*secrets, os.environ.get("WANDB_API_KEY")):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


class _Cancelled(Exception):
    """The caller gave up on this check; stop before sending another request."""


def _stop_if(cancelled: threading.Event) -> None:
    if cancelled.is_set():
        raise _Cancelled


def run_with_deadline(
    work: Callable[[threading.Event], T],
    seconds: float,
    *,
    on_timeout: Callable[[], Exception],
    classify: Callable[[Exception], Exception] = lambda e: e,
) -> T:
    """Run `work` in a daemon thread; raise `on_timeout()` if it is not done within `seconds`.

    wandb-core cannot be interrupted, so a late worker is left to end on its own (its
    requests are bounded too); `work` gets an Event that is set when the caller gave up.
    """
    box: dict[str, Any] = {}
    done, cancelled = threading.Event(), threading.Event()

    def target() -> None:
        try:
            box["value"] = work(cancelled)
        except BaseException as e:  # reported to the caller, never left to the thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, name="trainward-wandb", daemon=True).start()
    if not done.wait(seconds):
        cancelled.set()
        raise on_timeout()
    if "error" in box:
        err = box["error"]
        if isinstance(err, TrainwardError) or not isinstance(err, Exception):
            raise err
        raise classify(err) from err
    return box["value"]


def _no_answer(base_url: str, what: str, timeout: float) -> RemoteUnavailable:
    return RemoteUnavailable(
        f"W&B at {base_url} did not answer the check of {what} within {timeout:g}s"
        " (down, hanging, or answering 429/5xx that wandb keeps retrying)",
        hint="retry in a minute; check the network and WANDB_BASE_URL, or allow a longer timeout",
    )


def _http_status(exc: BaseException) -> int | None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        status = getattr(getattr(e, "response", None), "http_status", None)
        if isinstance(status, int) and status:
            return status
        inner = getattr(e, "exc", None)
        todo += [e.__cause__, e.__context__, inner if isinstance(inner, BaseException) else None]
    return None


def classify_error(exc: Exception, base_url: str) -> Exception:
    """A wandb exception as our RemoteUnavailable/AuthError; anything else is left as it is."""
    if not type(exc).__module__.startswith("wandb") and not isinstance(exc, OSError):
        return exc
    status = _http_status(exc)
    detail = _first_line(exc)
    if status in (401, 403):
        return AuthError(f"W&B at {base_url} rejected the API key (HTTP {status})", hint=KEY_HINT)
    if status == 429:
        message, hint = "is rate-limiting (HTTP 429)", "wait a minute, then poll less often"
    elif status and status >= 500:
        message, hint = f"failed (HTTP {status}): {detail}", "W&B may be degraded; retry later"
    elif status:
        message = f"answered HTTP {status}: {detail}"
        hint = "check WANDB_BASE_URL: it must be the API host (e.g. https://api.wandb.ai)"
    else:
        message, hint = f"failed: {detail}", "check the network and WANDB_BASE_URL; retry later"
    return RemoteUnavailable(f"W&B at {base_url} {message}", hint=hint)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return _redact(text[0] if text else type(exc).__name__)[:300]


# --- writing ----------------------------------------------------------------------------


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
    ) -> WandbLogger:
        """Start (or resume, with `run_id`) a W&B run; inactive, after a warning, on any failure.

        Returns within about `init_timeout` s (a missing key: at once); never raises for W&B.
        """
        if mode not in MODES:
            raise UsageError(f"W&B mode {mode!r} is not one of {', '.join(MODES)}")
        if mode == "disabled":
            return cls()
        kwargs = dict(
            project=project, entity=entity, mode=mode, name=run_name, config=config, dir=dir
        )
        kwargs.update(id=run_id, resume="allow" if run_id else None)
        try:
            if mode == "online":
                resolve_api_key(_default_base_url())
            run = run_with_deadline(
                lambda _: _init(kwargs, init_timeout),
                init_timeout + 15.0,
                on_timeout=lambda: TimeoutError(
                    f"wandb.init gave no answer in {init_timeout + 15:g}s"
                ),
            )
        except Exception as e:
            hint = f" ({e.hint})" if isinstance(e, TrainwardError) and e.hint else ""
            warning = (
                f"W&B {mode} init failed: {_first_line(e)}{hint}; training goes on without W&B"
            )
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
            self.warnings.append(_warn(f"W&B finish: {_first_line(e)}; {unsent}"))

    def _call(self, what: str, fn: Callable[[Any], object]) -> None:
        if self._run is None:
            return
        try:
            fn(self._run)
        except Exception as e:
            if what not in self._failed:  # one warning per kind of call, not one per step
                self._failed.add(what)
                self.warnings.append(_warn(f"W&B {what} failed: {_first_line(e)}"))


def _init(kwargs: dict[str, Any], init_timeout: float) -> Any:
    import wandb

    # finish_timeout bounds wandb's own exit-time upload when finish() was never called.
    settings = wandb.Settings(init_timeout=init_timeout, finish_timeout=EXIT_UPLOAD_TIMEOUT)
    return wandb.init(settings=settings, **kwargs)


def _warn(message: str) -> str:
    print(f"trainward: warning: {message}", file=sys.stderr, flush=True)
    return message
