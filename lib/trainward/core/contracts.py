"""The documents that cross processes and machines, typed: one class each, one way in and out.

    WorkerSpec     launch -> backend -> worker (spec.json locally, a call argument on Modal)
    RunInfo        runs/<run>/run.json, written once by the worker
    RegistryRecord one line of $TRAINWARD_HOME/runs.jsonl
    LaunchPlan     what `launch --dry-run` prints and `launch` records
    LedgerStatus   runs/<run>/status.json (a TypedDict: the trainer updates it in place)
    AlertRecord    runs/<run>/alerts/<key>.json: one alert, claimed before it is sent

Each frozen dataclass has `to_json()` (plain data for json.dumps) and `from_json(data)`.
Every document carries `version`; a reader accepts any older version (missing fields take
their defaults, unknown fields are ignored), so an old `status.json` on a volume still reads.
A document that is not a mapping, or holds a value of the wrong type, raises
ContractError naming the document and the field.

`JsonObject` marks what is opaque on purpose: user metrics, user params, a config mapping.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypedDict, TypeVar, Union, get_args, get_origin, get_type_hints

from trainward.core.states import AlertEvent, ComputeStateName, LedgerState, RegistryState
from trainward.errors import ContractError

JsonObject = dict[str, Any]
T = TypeVar("T")


# -- the generic converter ----------------------------------------------------------------------


def to_json(obj: Any) -> Any:
    """A document (dataclasses, tuples, nested) as plain JSON data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


def _fail(doc: str, where: str, message: str) -> typing.NoReturn:
    raise ContractError(f"{doc}: {where}: {message}")


def _convert(value: Any, tp: Any, doc: str, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        for option in (a for a in get_args(tp) if a is not type(None)):
            try:
                return _convert(value, option, doc, where)
            except ContractError:
                continue
        _fail(doc, where, f"unexpected {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            _fail(doc, where, f"{value!r} is not one of {', '.join(map(str, get_args(tp)))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            _fail(doc, where, f"expected a list, got {type(value).__name__}")
        item = get_args(tp)[0]
        items = [_convert(v, item, doc, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            _fail(doc, where, f"expected a mapping, got {type(value).__name__}")
        vt = get_args(tp)[1]
        return {str(k): _convert(v, vt, doc, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_json(tp, value, doc=doc, where=where)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if (
        isinstance(tp, type)
        and isinstance(value, tp)
        and not (tp is int and isinstance(value, bool))
    ):
        return value
    _fail(
        doc, where, f"expected {getattr(tp, '__name__', tp)}, got {type(value).__name__} {value!r}"
    )


def from_json(cls: type[T], data: Any, *, doc: str | None = None, where: str = "") -> T:
    """Build dataclass `cls` from plain data: missing fields take defaults, unknown ones are
    ignored (a newer writer), wrong types raise ContractError."""
    name = doc or cls.__name__
    if not isinstance(data, dict):
        _fail(name, where or "top level", f"expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                _fail(name, f"{where}.{f.name}".lstrip("."), "required field is missing")
            continue
        kwargs[f.name] = _convert(
            data[f.name], hints[f.name], name, f"{where}.{f.name}".lstrip(".")
        )
    return cls(**kwargs)


class Document:
    """Mixin: `to_json()` and `from_json()` for a frozen dataclass document."""

    def to_json(self) -> JsonObject:
        out: JsonObject = to_json(self)
        return out

    @classmethod
    def from_json(cls: type[T], data: Any) -> T:
        return from_json(cls, data)


# -- the run's identity --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WandbIdentity(Document):
    """The W&B run a launch chose (the id is picked at launch, so the registry knows it)."""

    mode: Literal["online", "offline"]
    project: str | None = None
    entity: str | None = None
    id: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ResumePlan(Document):
    from_run: str
    checkpoint: str  # path on the volume
    same_run: bool = False


@dataclasses.dataclass(frozen=True)
class CostEstimate(Document):
    """The launch plan's cost block: hourly price, worst case, and the expectation."""

    price_per_hour: float
    price_source: str
    gpu: str | None = None
    expected_seconds: float | None = None
    expected_usd: float | None = None
    max_usd_per_attempt: float | None = None
    max_usd: float | None = None
    max_gpu_hours: float | None = None
    basis: str = ""


@dataclasses.dataclass(frozen=True)
class RunInfo(Document):
    """runs/<run>/run.json: written once, by the first attempt."""

    name: str
    version: int = 1
    experiment: str | None = None
    config_path: str | None = None
    config: JsonObject = dataclasses.field(default_factory=dict)
    config_hash: str | None = None
    identity: JsonObject = dataclasses.field(default_factory=dict)
    overrides: JsonObject = dataclasses.field(default_factory=dict)
    args: tuple[str, ...] = ()
    backend: str | None = None
    gpu: str | None = None
    price_per_hour: float | None = None
    price_source: str | None = None
    wandb: WandbIdentity | None = None
    git_sha: str | None = None
    launched_at: float | None = None
    sweep: str | None = None
    targets: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: JsonObject = dataclasses.field(default_factory=dict)
    resume: ResumePlan | None = None
    launcher: str | None = None
    launch_token: str | None = None


@dataclasses.dataclass(frozen=True)
class WorkerSpec(Document):
    """What the worker runs: the resolved experiment, where, and how long it may take."""

    run: str
    volume: str
    experiment: JsonObject
    run_info: RunInfo
    version: int = 1
    root: str | None = None
    code_dir: str | None = None
    resume: str | None = None  # a checkpoint's path on the volume
    wandb_id: str | None = None
    deadline_s: int | None = None  # the per-attempt timeout
    max_runtime_s: int | None = None  # the whole run's wall-time limit, across attempts
    max_seconds: int | None = None  # a sweep's budget share, per attempt
    continuation: int = 0
    args: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> WorkerSpec:
        return dataclasses.replace(self, **changes)


# -- the registry -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RegistryRecord(Document):
    """One snapshot of a launch in $TRAINWARD_HOME/runs.jsonl (the last line for a run wins)."""

    run: str
    state: RegistryState = "launching"
    version: int = 1
    backend: str = "local"
    volume: str = "trainward"
    experiment: str | None = None
    config: str | None = None
    config_hash: str | None = None
    overrides: JsonObject = dataclasses.field(default_factory=dict)
    args: tuple[str, ...] = ()
    gpu: str | None = None
    price_per_hour: float | None = None
    wandb: WandbIdentity | None = None
    sweep: str | None = None
    resume: str | None = None
    ids: dict[str, Any] = dataclasses.field(default_factory=dict)
    launch_id: str | None = None
    launch_token: str | None = None
    launcher_pid: int | None = None
    launcher_host: str | None = None
    launched_at: float | None = None
    updated_at: float | None = None
    reason: str | None = None
    note: str | None = None

    def with_(self, **changes: Any) -> RegistryRecord:
        return dataclasses.replace(self, **changes)


# -- the launch plan ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResourcePlan(Document):
    gpu: str | None
    cpu: float
    memory_mb: int
    timeout_s: int
    retries: int
    max_runtime_s: int | None = None


@dataclasses.dataclass(frozen=True)
class DeployedPlan(Document):
    app: str
    deployed_at: float | None = None
    git_sha: str | None = None
    code_changed_since: bool = False


@dataclasses.dataclass(frozen=True)
class SecretRef(Document):
    name: str
    required_keys: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LaunchPlan(Document):
    """The resolved plan of one launch: all that `--dry-run` does, and what launch records."""

    run: str
    backend: str
    experiment: str
    config: str
    config_hash: str
    entrypoint: Any
    resources: ResourcePlan
    volume: str
    data: JsonObject
    cost: CostEstimate
    version: int = 1
    app_name: str | None = None
    overrides: JsonObject = dataclasses.field(default_factory=dict)
    args: tuple[str, ...] = ()
    trainer: JsonObject = dataclasses.field(default_factory=dict)
    environment: JsonObject = dataclasses.field(default_factory=dict)
    secrets: tuple[SecretRef, ...] = ()
    wandb: WandbIdentity | None = None
    resume: ResumePlan | None = None
    deployed: DeployedPlan | None = None
    sweep: str | None = None
    detached: bool = True
    next: dict[str, str] = dataclasses.field(default_factory=dict)

    def replace(self, **changes: Any) -> LaunchPlan:
        return dataclasses.replace(self, **changes)


# -- the ledger's status.json ------------------------------------------------------------------

LEDGER_VERSION = 1


class CheckpointEntry(TypedDict, total=False):
    path: str  # relative to the run directory
    step: int
    epoch: int
    sha256: str
    size: int
    time: float
    kind: str  # "file" or "folder" (a folder is verified through its manifest)
    files: int  # a folder's file count
    by: str  # who indexed it: "watcher" (trainward watching the program), else the program


class BestMetric(TypedDict, total=False):
    metric: str
    value: float
    mode: str
    epoch: int
    step: int


class LedgerStatus(TypedDict, total=False):
    """runs/<run>/status.json. `schema` is its version (1 since the first release)."""

    schema: int
    run: str
    state: LedgerState
    attempt: int
    resumes: int
    epoch: int
    epochs: int | None
    step: int
    steps_total: int | None
    steps_per_epoch: int | None
    batch: int
    pct: float
    started_at: float | None
    attempt_started_at: float | None
    ended_at: float | None
    last_log_at: float | None
    last_output_at: float | None
    heartbeat_at: float | None
    updated_at: float | None
    latest: JsonObject
    validation: list[JsonObject]
    epoch_times: list[JsonObject]
    best: BestMetric | None
    checkpoints: dict[str, CheckpointEntry]
    reason: str | None
    exit_code: int | None
    tracker: JsonObject | None
    warnings: list[JsonObject]
    host: str | None
    continuations: int


_LEDGER_DEFAULTS: LedgerStatus = {
    "schema": LEDGER_VERSION,
    "state": "pending",
    "attempt": 0,
    "resumes": 0,
    "epoch": 0,
    "epochs": None,
    "step": 0,
    "steps_total": None,
    "steps_per_epoch": None,
    "batch": 0,
    "pct": 0.0,
    "started_at": None,
    "last_log_at": None,
    "heartbeat_at": None,
    "updated_at": None,
    "latest": {},
    "validation": [],
    "epoch_times": [],
    "best": None,
    "checkpoints": {},
    "reason": None,
    "tracker": None,
    "warnings": [],
}
_LEDGER_TYPES: dict[str, tuple[type, ...]] = {
    "schema": (int,),
    "run": (str,),
    "state": (str,),
    "attempt": (int,),
    "resumes": (int,),
    "epoch": (int,),
    "step": (int,),
    "batch": (int,),
    "pct": (int, float),
    "latest": (dict,),
    "validation": (list,),
    "epoch_times": (list,),
    "checkpoints": (dict,),
    "warnings": (list,),
}
LEDGER_STATES: tuple[LedgerState, ...] = get_args(LedgerState)


def new_ledger_status(run: str) -> LedgerStatus:
    """A fresh status.json for `run`, before its first attempt."""
    status: LedgerStatus = {**_LEDGER_DEFAULTS, "run": run}
    status["latest"], status["validation"], status["epoch_times"] = {}, [], []
    status["checkpoints"], status["warnings"] = {}, []
    return status


def ledger_status_from_json(data: Any, *, where: str = "status.json") -> LedgerStatus:
    """Read a status.json of any version: defaults for missing keys, types checked."""
    if not isinstance(data, dict):
        raise ContractError(f"{where}: expected a mapping, got {type(data).__name__}")
    for key, allowed in _LEDGER_TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
            raise ContractError(f"{where}: {key}: expected {allowed[0].__name__}, got {value!r}")
    if data.get("state") is not None and data["state"] not in LEDGER_STATES:
        raise ContractError(f"{where}: state: {data['state']!r} is not a ledger state")
    status = new_ledger_status(str(data.get("run") or ""))
    status.update(data)  # type: ignore[typeddict-item]
    return status


def ledger_status_to_json(status: LedgerStatus) -> JsonObject:
    return dict(status)


# -- alerts ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AlertRecord(Document):
    """runs/<run>/alerts/<key>.json on the run's volume: one alert. It is written (claimed)
    before the webhook is called, so an event is sent at most once whoever notices it (the
    worker, `trainward watch`, the deployed app's scheduled check), then rewritten with the
    outcome. It never holds the webhook's URL."""

    run: str
    event: AlertEvent
    key: str  # the file's name: the event, or `stale-<attempt>` (one stale alert per attempt)
    version: int = 1
    by: str | None = None  # who sent it: worker, watch, modal-watch
    claimed_at: float | None = None
    sent: bool = False
    status: int | None = None  # the webhook's HTTP status
    error: str | None = None
    text: str | None = None


__all__ = [
    "AlertRecord",
    "BestMetric",
    "CheckpointEntry",
    "ComputeStateName",
    "ContractError",
    "CostEstimate",
    "DeployedPlan",
    "Document",
    "JsonObject",
    "LaunchPlan",
    "LedgerStatus",
    "RegistryRecord",
    "ResourcePlan",
    "ResumePlan",
    "RunInfo",
    "SecretRef",
    "WandbIdentity",
    "WorkerSpec",
    "from_json",
    "ledger_status_from_json",
    "new_ledger_status",
    "to_json",
]
