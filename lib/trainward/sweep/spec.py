"""Sweeps: a file of configurations over a base experiment, expanded, planned and budgeted.

    name: sweep-smoke
    base: smoke-cpu.yaml            # relative to this file
    parallel: 3                     # runs at once (local); Modal runs them all at once
    configs:                        # named overrides ...
      - {name: lr-hi, set: {train.lr: 3.0e-3}}
    grid:                           # ... and/or the product of value lists
      train.arch: [mlp, gru]
    validation: {mode: round-robin, games: 8, workers: 2, metric: val_metric/action_acc}
    max_cost_usd: 50                # refused at launch if the estimate is higher,
    max_gpu_hours: 10               # and enforced through per-run timeouts
    deploy: {to: weights, name: world-model}

The controller that runs a sweep is in `sweep_run.py`; validation jobs in `sweep_validate.py`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainward.config.experiment import Experiment, experiment_from_dict, project_root
from trainward.config.overrides import Overrides, apply_overrides, parse_set
from trainward.config.schema import build
from trainward.config.schema import field as cfield
from trainward.config.values import check_name, gpu_count
from trainward.config.yamlsrc import load_yaml
from trainward.errors import ConfigError, Refused, UsageError
from trainward.runs import pricing

SWEEP_KEYS = (
    "name",
    "base",
    "backend",
    "parallel",
    "configs",
    "grid",
    "validation",
    "max_cost_usd",
    "max_gpu_hours",
    "deploy",
)
MIN_RUN_TIMEOUT_S = 60


def _positive(v: Any) -> Any:
    if v <= 0:
        raise ValueError(f"must be positive, got {v}")
    return v


@dataclass
class Member:
    name: str = cfield(check=check_name)
    set: dict[str, Any] = field(default_factory=dict)


@dataclass
class Validation:
    mode: Literal["round-robin", "held-out", "none"] = "round-robin"
    games: int = cfield(8, check=_positive)  # per matchup (round-robin) or held-out games
    workers: int = cfield(2, check=_positive)
    chunk: int = cfield(4, check=_positive)  # games per validation job
    metric: str = "val_metric/action_acc"
    better: Literal["max", "min"] = "max"
    evaluate: str | None = (
        None  # module:function(checkpoint, data_dir, games=...) -> {per_game: ...}
    )
    match: str | None = (
        None  # module:function(ckpt_a, ckpt_b, game, side, data_dir) -> score of a in [0, 1]
    )


@dataclass
class Deploy:
    to: str = "weights"
    name: str | None = None


@dataclass
class SweepFile:
    name: str = cfield(check=check_name)
    base: str = cfield()
    backend: Literal["local", "modal"] | None = None
    parallel: int = cfield(4, check=_positive)
    configs: list[Member] = field(default_factory=list)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    validation: Validation = field(default_factory=Validation)
    max_cost_usd: float | None = cfield(None, check=_positive)
    max_gpu_hours: float | None = cfield(None, check=_positive)
    deploy: Deploy = field(default_factory=Deploy)


@dataclass
class Sweep:
    spec: SweepFile
    path: Path
    members: dict[str, Experiment]  # run name -> resolved experiment
    overrides: dict[str, list[tuple[str, Any]]]  # run name -> the overrides that made it

    @property
    def name(self) -> str:
        return self.spec.name


def _grid_name(combo: dict[str, Any]) -> str:
    parts = [f"{k.rsplit('.', 1)[-1]}-{v}" for k, v in combo.items()]
    return re.sub(r"[^a-z0-9._-]+", "-", "-".join(parts).lower()).strip("-")[:40]


def member_overrides(spec: SweepFile) -> list[tuple[str, list[tuple[str, Any]]]]:
    """(member name, override pairs) for the listed configs, then the grid's product."""
    out = [(m.name, list(m.set.items())) for m in spec.configs]
    if spec.grid:
        keys = list(spec.grid)
        for values in itertools.product(*(spec.grid[k] for k in keys)):
            combo = dict(zip(keys, values, strict=True))
            out.append((_grid_name(combo), list(combo.items())))
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"duplicate member names: {', '.join(dupes)}", key="configs")
    if not out:
        raise ConfigError("the sweep has no members", key="configs", hint="add configs: or grid:")
    return out


def load_sweep(
    path: str | Path, sets: tuple[str, ...] = (), *, backend: str | None = None
) -> Sweep:
    """Load a sweep file. `--set` keys that are sweep keys change the sweep; others, every run."""
    path = Path(path)
    data, lines = load_yaml(path, "sweep")
    pairs = [parse_set(s) for s in sets]
    sweep_pairs = [(k, v) for k, v in pairs if k.split(".")[0] in SWEEP_KEYS]
    run_pairs = [(k, v) for k, v in pairs if k.split(".")[0] not in SWEEP_KEYS]
    data = apply_overrides(data, sweep_pairs)
    try:
        spec = build(SweepFile, data)
    except ConfigError as err:
        raise err.located(str(path), lines) from None
    base_path = (path.parent / spec.base).resolve()
    base, base_lines = load_yaml(base_path, "experiment")
    chosen = backend or spec.backend
    extra = [*run_pairs, *([("backend", chosen)] if chosen else [])]
    members: dict[str, Experiment] = {}
    overrides: dict[str, list[tuple[str, Any]]] = {}
    for member, pairs_m in member_overrides(spec):
        run = f"{spec.name}-{member}"
        merged = [*pairs_m, *extra]
        try:
            exp = experiment_from_dict(
                apply_overrides(base, merged),
                file=str(base_path),
                lines=base_lines,
                root=str(project_root(base_path)),
            )
        except ConfigError as err:
            raise ConfigError(
                f"member '{member}': {err.message}", file=str(path), key=f"configs.{member}"
            ) from None
        members[run], overrides[run] = exp, merged
    return Sweep(spec, path, members, overrides)


# -- budget -------------------------------------------------------------------------------------


def run_estimate(exp: Experiment, expected_s: float | None) -> dict[str, Any]:
    """One member's expected cost: its earlier runtime if known, else one full attempt (timeout)."""
    price = pricing.price_for(exp, exp.backend)
    seconds = expected_s or float(exp.timeout_s)
    return {
        "price_per_hour": price.per_hour,
        "price_source": price.source,
        "seconds": seconds,
        "basis": "an earlier run of this config" if expected_s else "one attempt at its timeout",
        "usd": round(price.per_hour * seconds / 3600, 4),
        "gpu_hours": round(gpu_count(exp.resources.gpu) * seconds / 3600, 4),
    }


def budget(sweep: Sweep, expected: dict[str, float | None]) -> dict[str, Any]:
    """The sweep's estimate against its limits; `over` lists what is exceeded."""
    per_run = {run: run_estimate(exp, expected.get(run)) for run, exp in sweep.members.items()}
    usd = round(sum(r["usd"] for r in per_run.values()), 4)
    gpu_h = round(sum(r["gpu_hours"] for r in per_run.values()), 4)
    spec = sweep.spec
    over = []
    if spec.max_cost_usd is not None and usd > spec.max_cost_usd:
        over.append(f"estimated ${usd:,.2f} > max_cost_usd ${spec.max_cost_usd:,.2f}")
    if spec.max_gpu_hours is not None and gpu_h > spec.max_gpu_hours:
        over.append(f"estimated {gpu_h:,.2f} GPU-hours > max_gpu_hours {spec.max_gpu_hours:,.2f}")
    return {
        "estimate_usd": usd,
        "estimate_gpu_hours": gpu_h,
        "max_cost_usd": spec.max_cost_usd,
        "max_gpu_hours": spec.max_gpu_hours,
        "over": over,
        "runs": per_run,
    }


def check_budget(b: dict[str, Any]) -> None:
    if b["over"]:
        raise Refused(
            "sweep refused: over budget: " + "; ".join(b["over"]),
            hint="raise max_cost_usd / max_gpu_hours, lower resources.timeout or the number of configs; "
            "the estimate assumes one full attempt per run unless an earlier run of the same config is known",
            estimate_usd=b["estimate_usd"],
            estimate_gpu_hours=b["estimate_gpu_hours"],
        )


def run_timeout(
    exp: Experiment, *, remaining_usd: float | None, remaining_gpu_h: float | None, unfinished: int
) -> int | None:
    """The per-attempt timeout a run may have so that, with its retries, it cannot spend more
    than its share of what is left of the budget. None: no budget applies. 0: none left."""
    price = pricing.price_for(exp, exp.backend).per_hour
    attempts = exp.resources.retries + 1
    caps = [exp.timeout_s]
    if remaining_usd is not None and price > 0:
        caps.append(int(remaining_usd / max(unfinished, 1) / (price * attempts) * 3600))
    gpus = gpu_count(exp.resources.gpu)
    if remaining_gpu_h is not None and gpus > 0:
        caps.append(int(remaining_gpu_h / max(unfinished, 1) / (gpus * attempts) * 3600))
    timeout = min(caps)
    if len(caps) == 1:
        return None
    return timeout if timeout >= MIN_RUN_TIMEOUT_S else 0


def spent(price_per_hour: float, seconds: float, gpus: int) -> tuple[float, float]:
    return price_per_hour * seconds / 3600, gpus * seconds / 3600


def apply_cli(
    sweep: Sweep, *, single: str | None, validation_games: int | None, sequential: bool
) -> Sweep:
    """`--single NAME`, `--validation-games N`, `--sequential` on top of the file."""
    if single:
        run = single if single in sweep.members else f"{sweep.name}-{single}"
        if run not in sweep.members:
            raise UsageError(
                f"no member '{single}' in sweep {sweep.name}",
                hint="members: "
                + ", ".join(r.removeprefix(sweep.name + "-") for r in sweep.members),
            )
        sweep.members = {run: sweep.members[run]}
    if validation_games:
        sweep.spec.validation.games = validation_games
    if sequential:
        sweep.spec.parallel = 1
        sweep.spec.validation.workers = 1
    return sweep


def n_matchups(members: int, games: int) -> int:
    return math.comb(members, 2) * 2 * games


def overrides_of(pairs: list[tuple[str, Any]]) -> Overrides:
    """The member's overrides as `--set` strings (JSON values are valid YAML scalars)."""
    return Overrides(sets=tuple(f"{k}={json.dumps(v)}" for k, v in pairs))
