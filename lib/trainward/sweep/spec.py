"""Sweeps: a file of configurations over a base experiment, expanded, planned and budgeted.

    name: tuner
    base: experiment.yaml           # relative to this file; any entrypoint (builtin, function, command)
    parallel: 4                     # members at once (local); Modal runs them all at once
    configs:                        # named members ...
      - {name: lr-hi, set: {train.lr: 3.0e-3}}
      - name: argentum
        args: [--mode, specialist, --faction, argentum]   # passed to the program after `--`
        resources: {cpu: 16, memory: 8192}                # its own resources (gpu: null)
        deploy: {weights.toml: data/weights/specialists/argentum.toml}
    grid:                           # ... and/or the product of value lists
      train.arch: [mlp, gru]
    validation:                     # how members are compared (docs/sweeps.md)
      mode: round-robin
      command: python -m tuner.validate   # your program: gets a slice, writes a JSON result
      matchups: [a-b, a-c]          # labels your program understands
      games: 8                      # per matchup and direction
      workers: 4                    # slices at once
      timeout: 10m                  # per slice
    max_cost_usd: 50                # refused at launch if the estimate is higher,
    max_gpu_hours: 10               # and enforced through per-run timeouts
    deploy: {to: weights, name: world-model}   # the winner's checkpoint (no member deploys)
    results_to: sweeps              # results brought home to <project>/sweeps/<name>/

The controller is sweep/controller.py; validation jobs sweep/validate.py.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from trainward.config.experiment import Experiment, experiment_from_dict, project_root
from trainward.config.overrides import Overrides, apply_overrides, parse_set
from trainward.config.schema import build
from trainward.config.schema import field as cfield
from trainward.config.values import check_name, gpu_count, non_negative, parse_duration
from trainward.config.yamlsrc import load_yaml
from trainward.core.sweep_contracts import RunEstimate, SweepBudget
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
    "results_to",
)
RESOURCE_KEYS = ("gpu", "cpu", "memory", "timeout", "retries", "max_runtime")


def _positive(v: Any) -> Any:
    if v <= 0:
        raise ValueError(f"must be positive, got {v}")
    return v


def _relative(path: str) -> str:
    """A path inside the project or the run's directory: relative, and never above it."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{path!r} must be a relative path without '..'")
    return str(p)


def _deploy_map(mapping: dict[str, str]) -> dict[str, str]:
    return {_relative(k): _relative(v) for k, v in mapping.items()}


def _resources(value: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(value) - set(RESOURCE_KEYS))
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}'; allowed: {', '.join(RESOURCE_KEYS)}")
    return value


@dataclass
class Member:
    name: str = cfield(check=check_name)
    set: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # after `--`, for your own program
    resources: dict[str, Any] = cfield(default_factory=dict, check=_resources)  # noqa: RUF009
    deploy: dict[str, str] = cfield(default_factory=dict, check=_deploy_map)  # noqa: RUF009


@dataclass
class Validation:
    mode: Literal["round-robin", "held-out", "none"] = "round-robin"
    games: int = cfield(8, check=_positive)  # per matchup and direction, or held-out games
    workers: int = cfield(2, check=_positive)
    chunk: int = cfield(4, check=_positive)  # matchups per slice, or games per built-in job
    metric: str = "val_metric/action_acc"
    better: Literal["max", "min"] = "max"
    # module:function(checkpoint, data_dir, games=...) -> {per_game: ...}
    evaluate: str | None = None
    # module:function(ckpt_a, ckpt_b, game, side, data_dir) -> score of a in [0, 1]
    match: str | None = None
    # your validation program: a command, or module:function(slice) -> result (docs/sweeps.md)
    command: str | list[str] | None = None
    function: str | None = None
    matchups: list[str] = field(default_factory=list)
    timeout: int | str | None = cfield(None, check=parse_duration)  # per slice
    retries: int = cfield(1, check=non_negative)
    cpu: float = cfield(4.0, check=_positive)  # one validation worker on Modal
    memory: int = cfield(4096, check=_positive)  # MiB


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
    results_to: str = "sweeps"


@dataclass
class Sweep:
    spec: SweepFile
    path: Path
    members: dict[str, Experiment]  # run name -> resolved experiment
    overrides: dict[str, list[tuple[str, Any]]]  # run name -> the overrides that made it
    args: dict[str, tuple[str, ...]] = field(default_factory=dict)  # run name -> its arguments
    deploys: dict[str, dict[str, str]] = field(default_factory=dict)  # run -> artifact -> repo
    names: dict[str, str] = field(default_factory=dict)  # run name -> member name

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def root(self) -> Path:
        """The project the sweep belongs to: deploy and results paths are relative to it."""
        return project_root((self.path.parent / self.spec.base).resolve())


def _grid_name(combo: dict[str, Any]) -> str:
    parts = [f"{k.rsplit('.', 1)[-1]}-{v}" for k, v in combo.items()]
    return re.sub(r"[^a-z0-9._-]+", "-", "-".join(parts).lower()).strip("-")[:40]


def member_list(spec: SweepFile) -> list[Member]:
    """The listed configs, then the grid's product (each a Member)."""
    out = list(spec.configs)
    if spec.grid:
        keys = list(spec.grid)
        for values in itertools.product(*(spec.grid[k] for k in keys)):
            combo = dict(zip(keys, values, strict=True))
            out.append(Member(name=_grid_name(combo), set=combo))
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"duplicate member names: {', '.join(dupes)}", key="configs")
    if not out:
        raise ConfigError("the sweep has no members", key="configs", hint="add configs: or grid:")
    return out


def _check_validation(v: Validation) -> None:
    if v.command and v.function:
        raise ConfigError(
            "validation has both command and function",
            key="validation.function",
            hint="keep one: your program is a command or a module:function",
        )
    if (v.command or v.function) and (v.evaluate or v.match):
        raise ConfigError(
            "validation.command/function replaces evaluate and match",
            key="validation.evaluate",
            hint="remove evaluate:/match: when your own program validates",
        )
    if (v.command or v.function) and v.mode == "held-out":
        raise ConfigError(
            "your validation program plays members against each other: held-out needs evaluate:",
            key="validation.mode",
            hint="use mode: round-robin (or none)",
        )


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
        _check_validation(spec.validation)
    except ConfigError as err:
        raise err.located(str(path), lines) from None
    chosen = backend or spec.backend
    extra = [*run_pairs, *([("backend", chosen)] if chosen else [])]
    sweep = Sweep(spec, path, {}, {})
    for member in member_list(spec):
        _add_member(sweep, member, extra)
    return sweep


def _add_member(sweep: Sweep, member: Member, extra: list[tuple[str, Any]]) -> None:
    base_path = (sweep.path.parent / sweep.spec.base).resolve()
    base, base_lines = load_yaml(base_path, "experiment")
    run = f"{sweep.name}-{member.name}"
    res = [(f"resources.{k}", v) for k, v in member.resources.items()]
    merged = [*member.set.items(), *res, *extra]
    try:
        exp = experiment_from_dict(
            apply_overrides(base, merged),
            file=str(base_path),
            lines=base_lines,
            root=str(project_root(base_path)),
        )
    except ConfigError as err:
        raise ConfigError(
            f"member '{member.name}': {err.message}",
            file=str(sweep.path),
            key=f"configs.{member.name}",
        ) from None
    sweep.members[run], sweep.overrides[run] = exp, merged
    sweep.args[run], sweep.deploys[run] = tuple(member.args), dict(member.deploy)
    sweep.names[run] = member.name


# -- budget -------------------------------------------------------------------------------------


def run_estimate(exp: Experiment, expected_s: float | None) -> RunEstimate:
    """One member's expected cost: its earlier runtime if known, else one full attempt (timeout)."""
    price = pricing.price_for(exp, exp.backend)
    seconds = expected_s or float(exp.timeout_s)
    return RunEstimate(
        price_per_hour=price.per_hour,
        price_source=price.source,
        seconds=seconds,
        basis="an earlier run of this config" if expected_s else "one attempt at its timeout",
        usd=round(price.per_hour * seconds / 3600, 4),
        gpu_hours=round(gpu_count(exp.resources.gpu) * seconds / 3600, 4),
    )


def budget(sweep: Sweep, expected: dict[str, float | None]) -> SweepBudget:
    """The sweep's estimate against its limits; `over` lists what is exceeded."""
    per_run = {run: run_estimate(exp, expected.get(run)) for run, exp in sweep.members.items()}
    usd = round(sum(r.usd for r in per_run.values()), 4)
    gpu_h = round(sum(r.gpu_hours for r in per_run.values()), 4)
    spec = sweep.spec
    over = []
    if spec.max_cost_usd is not None and usd > spec.max_cost_usd:
        over.append(f"estimated ${usd:,.2f} > max_cost_usd ${spec.max_cost_usd:,.2f}")
    if spec.max_gpu_hours is not None and gpu_h > spec.max_gpu_hours:
        over.append(f"estimated {gpu_h:,.2f} GPU-hours > max_gpu_hours {spec.max_gpu_hours:,.2f}")
    return SweepBudget(
        estimate_usd=usd,
        estimate_gpu_hours=gpu_h,
        max_cost_usd=spec.max_cost_usd,
        max_gpu_hours=spec.max_gpu_hours,
        over=tuple(over),
        runs=per_run,
    )


def check_budget(b: SweepBudget) -> None:
    if b.over:
        raise Refused(
            "sweep refused: over budget: " + "; ".join(b.over),
            hint="raise max_cost_usd / max_gpu_hours, lower resources.timeout or the number of configs; "
            "the estimate assumes one full attempt per run unless an earlier run of the same config is known",
            estimate_usd=b.estimate_usd,
            estimate_gpu_hours=b.estimate_gpu_hours,
        )


def apply_cli(
    sweep: Sweep,
    *,
    single: str | None,
    validation_games: int | None,
    sequential: bool,
    validation_timeout: str | None = None,
) -> Sweep:
    """`--single NAME`, `--validation-games N`, `--sequential`, `--validation-timeout` on the file."""
    if single:
        run = single if single in sweep.members else f"{sweep.name}-{single}"
        if run not in sweep.members:
            raise UsageError(
                f"no member '{single}' in sweep {sweep.name}",
                hint="members: " + ", ".join(sweep.names.values()),
            )
        sweep.members = {run: sweep.members[run]}
    if validation_games:
        sweep.spec.validation.games = validation_games
    if sequential:
        sweep.spec.parallel = 1
        sweep.spec.validation.workers = 1
    if validation_timeout:
        try:
            sweep.spec.validation.timeout = parse_duration(validation_timeout)
        except ValueError as err:
            raise UsageError(f"--validation-timeout: {err}", hint="e.g. 600, 10m or 1h") from None
    return sweep


def overrides_of(pairs: list[tuple[str, Any]] | tuple[tuple[object, ...], ...]) -> Overrides:
    """The member's overrides as `--set` strings (JSON values are valid YAML scalars)."""
    return Overrides(sets=tuple(f"{k}={json.dumps(v)}" for k, v in pairs))
