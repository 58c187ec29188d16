"""Experiment YAML -> validated dataclasses (with CLI overrides applied) and a config hash stable under key order.

    name: smoke-cpu            # required
    backend: local             # local | modal
    entrypoint: builtin        # builtin | "pkg.module:function" | {command: "python train.py"}
    data: {dataset, source, path}
    train: {arch, size, epochs, ..., generate}   # the built-in trainer's own section (its plug-in)
    params: {...}              # free-form, for your own entrypoint
    metrics: {primary, loss, validation, categories, category_flag}   # names status shows
    resources: {gpu: "A100-80GB:1", cpu, memory, timeout, retries}
    volume: trainward
    secrets: [wandb]           # or [{name: wandb, required_keys: [WANDB_API_KEY]}]
    wandb: {entity, project, mode: online|offline|disabled}
    targets: {"val_metric/action_change_acc": ">0.75"}
    price_per_hour: 3.73       # overrides the price table
    alerts: {webhook_secret: slack, on: [failed, stale]}   # docs/alerts.md

Relative paths (data.source, code_dir) resolve against the project root: the nearest
ancestor of the config file holding pyproject.toml or .git.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from trainward.config.overrides import Overrides, apply_overrides
from trainward.config.schema import build, to_plain
from trainward.config.schema import field as cfield
from trainward.config.values import (
    Entrypoint,
    Target,
    check_name,
    check_python,
    check_target,
    non_negative,
    parse_duration,
    parse_entrypoint,
    parse_gpu,
    parse_target,
    positive,
)
from trainward.config.yamlsrc import load_yaml
from trainward.core.paths import dataset_path
from trainward.core.plugins import TrainerPlugin, trainer_plugin
from trainward.core.states import ALERT_EVENTS, AlertEvent
from trainward.errors import ConfigError


@dataclass
class Data:
    dataset: str = cfield("fgc-synth", check=check_name)
    source: str | None = None  # local directory holding the dataset files
    path: str | None = None  # path on the volume; default datasets/<dataset>

    @property
    def volume_path(self) -> str:
        return (self.path or dataset_path(self.dataset)).strip("/")


@dataclass
class Metrics:
    """The metric names status, the report and plots use. Defaults come from the trainer
    plug-in (the built-in trainer's world-model metrics); your own program names its own."""

    loss: str | None = None  # the training loss, for curves
    primary: str | None = None  # the headline metric: `status all`, sweeps, the best checkpoint
    mode: Literal["max", "min"] = "max"  # whether a higher primary is better
    validation: list[str] = field(default_factory=list)  # table columns (empty: every val_ key)
    categories: str | None = None  # prefix of per-category metrics, e.g. val_action/cat_
    # flag a category below this bar unless a target names it (null: no default bar)
    category_flag: str | None = cfield(">=0.93", check=check_target)
    labels: dict[str, str] = field(default_factory=dict)  # short column names


@dataclass
class Resources:
    gpu: str | None = cfield(None, check=parse_gpu)
    cpu: float = cfield(2.0, check=positive)
    memory: int = cfield(8192, check=positive)  # MiB
    timeout: int | str = cfield(4 * 3600, check=parse_duration)  # per attempt
    retries: int = cfield(2, check=non_negative)
    max_runtime: int | str | None = cfield(None, check=lambda v: parse_duration(v, cap=None))


@dataclass
class Environment:
    """What your program needs: installed into the Modal image, checked before a local launch."""

    python: str | None = cfield(None, check=check_python)  # e.g. "3.11"
    pip: list[str] = field(default_factory=list)  # requirement specifiers, e.g. "trl==1.16.0"
    requirements: str | None = None  # a requirements file (relative to the project root)
    project: bool = False  # install the project itself (uv.lock or pyproject.toml at code_dir)
    apt: list[str] = field(default_factory=list)  # Debian packages (Modal image)
    env: dict[str, str] = field(default_factory=dict)  # variables for the program (not secrets)
    dirs: list[str] = field(default_factory=list)  # more local directories shipped with the code
    ignore: list[str] = field(default_factory=list)  # patterns left out of the shipped code


@dataclass
class Checkpoints:
    """Where your program writes checkpoints, relative to the run directory (TRAINWARD_RUN_DIR,
    `{run_dir}`): files or folders (a pattern ending in `/`, e.g. `out/checkpoint-*/`)."""

    paths: list[str] = field(default_factory=lambda: ["checkpoints/*"])
    settle: float = cfield(
        5.0, check=non_negative
    )  # seconds unchanged before it counts as complete


@dataclass
class Secret:
    name: str
    required_keys: list[str] = field(default_factory=list)


@dataclass
class Wandb:
    project: str | None = None
    entity: str | None = None
    mode: Literal["online", "offline", "disabled"] = "disabled"
    tags: list[str] = field(default_factory=list)


def env_name(value: str) -> str:
    if not _ENV_RE.match(value):
        raise ValueError(f"invalid environment variable name {value!r}; e.g. SLACK_WEBHOOK_URL")
    return value


_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Alerts:
    """A webhook notification when a run ends or goes stale (trainward.runs.alerts). The URL
    is a secret: the variable `webhook_env` of the secret `webhook_secret` (on Modal, a Modal
    secret attached to the run; locally, the environment)."""

    webhook_secret: str = cfield(check=check_name)
    webhook_env: str = cfield("TRAINWARD_WEBHOOK_URL", check=env_name)
    on: list[AlertEvent] = field(default_factory=lambda: list(ALERT_EVENTS))
    format: Literal["slack", "json"] = "slack"  # slack: {"text": ...}; json: the whole alert
    stale_after: int | str = cfield("10m", check=parse_duration)  # for the stale checks
    watch_every: int | str = cfield("15m", check=parse_duration)  # the deployed app's check

    @property
    def secret(self) -> Secret:
        return Secret(name=self.webhook_secret, required_keys=[self.webhook_env])


@dataclass
class Experiment:
    name: str = cfield(check=check_name)
    backend: Literal["local", "modal"] = "local"
    entrypoint: Any = cfield("builtin", check=parse_entrypoint)  # noqa: RUF009 (cfield is dataclasses.field)
    data: Data = field(default_factory=Data)
    # The trainer plug-in's own section (`train:` for the built-in trainer), validated by its
    # schema; None for your own program, which takes `params:` and `--` arguments instead.
    train: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    volume: str = cfield("trainward", check=check_name)
    secrets: list[Any] = field(default_factory=list)
    wandb: Wandb = field(default_factory=Wandb)
    targets: dict[str, str] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    environment: Environment = field(default_factory=Environment)
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    silent_after: int | str = cfield("10m", check=lambda v: parse_duration(v, cap=None))
    price_per_hour: float | None = cfield(None, check=non_negative)
    code_dir: str | None = None
    alerts: Alerts | None = None
    # Where the file came from (not part of the schema; set by the loader).
    source_file: str | None = field(default=None, metadata={"internal": True})
    root: str | None = field(default=None, metadata={"internal": True})

    # -- derived views --------------------------------------------------------------------
    @property
    def entry(self) -> Entrypoint:
        return (
            self.entrypoint
            if isinstance(self.entrypoint, Entrypoint)
            else parse_entrypoint(self.entrypoint)
        )

    @property
    def secret_specs(self) -> list[Secret]:
        """The secrets a run needs: `secrets:`, and the alerts' webhook secret (attached to
        the run on Modal, checked in the environment locally)."""
        specs = [s if isinstance(s, Secret) else Secret(name=s) for s in self.secrets]
        if self.alerts is not None:
            wanted = self.alerts.secret
            same = next((s for s in specs if s.name == wanted.name), None)
            if same is None:
                specs.append(wanted)
            elif wanted.required_keys[0] not in same.required_keys:
                specs[specs.index(same)] = Secret(
                    same.name, [*same.required_keys, *wanted.required_keys]
                )
        return specs

    @property
    def target_specs(self) -> dict[str, Target]:
        return {k: parse_target(v) for k, v in self.targets.items()}

    @property
    def timeout_s(self) -> int:
        return parse_duration(self.resources.timeout)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.root or ".") / p

    @property
    def code_path(self) -> Path:
        """Where the run's code lives: code_dir, else the project root (cwd of commands; shipped to Modal)."""
        return self.resolve(self.code_dir) if self.code_dir else Path(self.root or ".")

    def to_dict(self) -> dict[str, Any]:
        """The resolved experiment as plain data (what run.json and the worker spec carry)."""
        out = to_plain(self)
        out["entrypoint"] = self.entry.to_plain()
        out["secrets"] = [to_plain(s) for s in self.secret_specs]
        out.pop("source_file")
        out.pop("root")
        return out

    @property
    def plugin(self) -> TrainerPlugin | None:
        """The trainer plug-in that runs this experiment (None: your own program)."""
        return trainer_plugin("builtin") if self.entry.kind == "builtin" else None

    @property
    def resume_may_change(self) -> frozenset[str]:
        """Identity keys that may change on resume (they do not change the updates)."""
        plugin = self.plugin
        if plugin is None:
            return frozenset()
        return frozenset(f"{plugin.section}.{k}" for k in plugin.resume_may_change)

    def identity(self) -> dict[str, Any]:
        """What determines the training result: hashing this gives the config hash."""
        d = self.to_dict()
        data = {k: v for k, v in d["data"].items() if k != "source"}
        data["path"] = self.data.volume_path
        out = {"entrypoint": d["entrypoint"], "data": data, "params": d["params"]}
        if self.plugin is not None:
            out[self.plugin.section] = d["train"]
        return out

    @property
    def config_hash(self) -> str:
        return config_hash(self.identity())


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) and v else {key: v})
    return out


def config_differences(
    saved: dict[str, Any], current: dict[str, Any], may_change: frozenset[str] = frozenset()
) -> list[tuple[str, Any, Any]]:
    """(key, saved value, current value) for identity keys that differ and may not on resume."""
    a, b = _flatten(saved), _flatten(current)
    return [
        (k, a.get(k), b.get(k))
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k) and k not in may_change
    ]


def config_hash(identity: dict[str, Any]) -> str:
    """sha256 of canonical JSON (sorted keys): stable under key order in the YAML."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _parse_secret(value: Any, key: str) -> Secret:
    if isinstance(value, str):
        return Secret(name=check_name(value))
    secret = build(Secret, value, key)
    check_name(secret.name)
    return secret


def _finish(exp: Experiment) -> Experiment:
    secrets = []
    for i, s in enumerate(exp.secrets):
        try:
            secrets.append(_parse_secret(s, f"secrets.{i}"))
        except ValueError as err:
            raise ConfigError(str(err), key=f"secrets.{i}") from None
    for metric, text in exp.targets.items():
        try:
            parse_target(text)
        except ValueError as err:
            raise ConfigError(str(err), key=f"targets.{metric}") from None
    exp = replace(exp, train=_plugin_section(exp))
    if exp.wandb.mode != "disabled" and not exp.wandb.project:
        raise ConfigError(
            f"wandb.mode is {exp.wandb.mode} but wandb.project is not set", key="wandb.project"
        )
    return replace(exp, secrets=secrets)


def _plugin_section(exp: Experiment) -> Any:
    """Validate the trainer plug-in's own section with its schema; refuse it without one."""
    plugin = exp.plugin
    if plugin is None:
        if exp.train is not None:
            raise ConfigError(
                "train: is the built-in trainer's section, and this experiment runs your own program",
                key="train",
                hint="put your program's settings under params: (or pass them after `--` at launch)",
            )
        return None
    if exp.train is not None and not isinstance(exp.train, dict):
        if isinstance(exp.train, plugin.schema):
            return exp.train
        raise ConfigError(f"{plugin.section} must be a mapping", key=plugin.section)
    return build(plugin.schema, exp.train or {}, plugin.section)


def _plugin_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Fill `metrics:` with the trainer plug-in's defaults, and point moved keys to their home."""
    if isinstance(data.get("data"), dict) and "generate" in data["data"]:
        raise ConfigError(
            "data.generate moved into the built-in trainer's section: write it as train.generate",
            key="data.generate",
        )
    try:
        builtin = parse_entrypoint(data.get("entrypoint", "builtin")).kind == "builtin"
    except ValueError:
        return data  # the builder reports the entrypoint, with its line
    if not builtin or not isinstance(data.get("metrics", {}), dict):
        return data
    return {**data, "metrics": {**trainer_plugin("builtin").metrics, **data.get("metrics", {})}}


def cli_keys(data: dict[str, Any]) -> dict[str, str]:
    """Which key each of `--epochs` / `--max-games` sets for this (raw) experiment."""
    try:
        builtin = parse_entrypoint(data.get("entrypoint", "builtin")).kind == "builtin"
    except ValueError:
        return {}
    return dict(trainer_plugin("builtin").cli_overrides) if builtin else {}


def project_root(config_file: Path) -> Path:
    for parent in config_file.resolve().parents:
        if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
            return parent
    return config_file.resolve().parent


# -- loading ---------------------------------------------------------------------------------


def experiment_from_dict(
    data: dict[str, Any],
    *,
    file: str = "<config>",
    lines: dict[tuple[str, ...], int] | None = None,
    root: str | None = None,
    overridden: frozenset[str] = frozenset(),
) -> Experiment:
    """Validate plain data into an Experiment; errors are located in `file` at the key's line."""
    try:
        exp = _finish(build(Experiment, _plugin_defaults(data)))
    except ConfigError as err:
        if err.key and any(err.key == k or err.key.startswith(k + ".") for k in overridden):
            raise err.located("--set") from None
        raise err.located(file, lines) from None
    exp.source_file = file
    exp.root = root
    return exp


def load_experiment(path: str | Path, overrides: Overrides | None = None) -> Experiment:
    """Load and validate an experiment file, with CLI overrides applied on top."""
    path = Path(path)
    data, lines = load_yaml(path, "experiment")
    pairs = overrides.pairs(cli_keys(data)) if overrides else []
    if pairs:
        data = apply_overrides(data, pairs)
    return experiment_from_dict(
        data,
        file=str(path),
        lines=lines,
        root=str(project_root(path)),
        overridden=frozenset(k for k, _ in pairs),
    )
