"""RunStatus: the document `trainward status` prints (JSON schema in docs/status.md).

Pure data and small derivations; `status.py` fills it, `cli/render.py` draws it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from trainward.config.values import parse_target
from trainward.core.contracts import BestMetric, CheckpointEntry, JsonObject
from trainward.core.plugins import trainer_plugin

SCHEMA = 1
#: A category below this is flagged unless a target names it (the config's
#: `metrics.category_flag` changes it; null turns the default flag off).
DEFAULT_CATEGORY_FLAG = ">=0.93"


@dataclass
class Progress:
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    steps_total: int | None = None
    steps_per_epoch: int | None = None
    batch: int | None = None
    pct: float | None = None


@dataclass
class Timing:
    started_at: float | None = None
    ended_at: float | None = None
    runtime_s: float | None = None
    last_log_at: float | None = None
    since_last_log_s: float | None = None
    eta_s: float | None = None
    eta_at: float | None = None
    sec_per_epoch: float | None = None


@dataclass
class Cost:
    price_per_hour: float | None = None
    source: str | None = "unknown"
    so_far_usd: float | None = None
    projected_usd: float | None = None


@dataclass
class TargetCheck:
    metric: str
    target: str
    value: float | None
    ok: bool | None


@dataclass
class CategoryFlag:
    category: str
    value: float
    target: str | None
    ok: bool | None


@dataclass
class MetricNames:
    """Which metrics status, the report and plots show for this run (from its config)."""

    loss: str | None = None
    primary: str | None = None
    mode: str = "max"
    validation: list[str] = field(default_factory=list)
    categories: str | None = None
    category_flag: str | None = DEFAULT_CATEGORY_FLAG
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config: JsonObject | None) -> MetricNames:
        """From a run's resolved config; a config from before metric names were recorded
        takes its trainer plug-in's defaults (the built-in trainer's world-model names)."""
        config = config or {}
        names = config.get("metrics")
        if not isinstance(names, dict):
            builtin = config.get("entrypoint", "builtin") == "builtin" and bool(config)
            names = dict(trainer_plugin("builtin").metrics) if builtin else {}
        known = {k: v for k, v in names.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def label(self, key: str) -> str:
        return self.labels.get(key, key)


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
    compute: JsonObject | None = None
    attempt: int | None = None
    resumes: int = 0
    progress: Progress = field(default_factory=Progress)
    latest: JsonObject = field(default_factory=dict)
    validation: list[JsonObject] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    categories: list[CategoryFlag] = field(default_factory=list)
    best: BestMetric | None = None
    checkpoints: dict[str, CheckpointEntry] = field(default_factory=dict)
    timing: Timing = field(default_factory=Timing)
    cost: Cost = field(default_factory=Cost)
    metrics_source: str | None = None
    tracker: JsonObject | None = None
    disagreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    config: JsonObject = field(default_factory=dict)
    metric_names: MetricNames = field(default_factory=MetricNames)
    sweep: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_targets(
    last: JsonObject, targets: dict[str, str], names: MetricNames
) -> tuple[list[TargetCheck], list[CategoryFlag]]:
    """Targets judged on the last validation row, and every category found in it (flagged
    against its own target, else the config's category bar)."""
    checked = []
    for metric, text in targets.items():
        value = last.get(metric)
        t = parse_target(text)
        ok = None if not isinstance(value, (int, float)) else t.met(float(value))
        checked.append(TargetCheck(metric, t.text, value, ok))
    cats: list[CategoryFlag] = []
    prefix = names.categories or ""
    for key, value in sorted(last.items()) if prefix else ():
        if key.startswith(prefix) and isinstance(value, (int, float)):
            bar = targets.get(key) or names.category_flag
            ok = parse_target(bar).met(float(value)) if bar else None
            cats.append(CategoryFlag(key[len(prefix) :], value, bar, ok))
    return checked, cats
