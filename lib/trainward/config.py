"""Experiment YAML -> validated dataclasses, CLI overrides, and a config hash stable under key order.

    name: smoke-cpu            # required
    backend: local             # local | modal
    entrypoint: builtin        # builtin | "pkg.module:function" | {command: "python train.py"}
    data: {dataset, source, path, generate}
    train: {arch, size, epochs, batch_size, lr, max_games, seed, ...}
    params: {...}              # free-form, for your own entrypoint
    resources: {gpu: "A100-80GB:1", cpu, memory, timeout, retries}
    volume: trainward
    secrets: [wandb]           # or [{name: wandb, required_keys: [WANDB_API_KEY]}]
    wandb: {entity, project, mode: online|offline|disabled}
    targets: {"val_metric/action_change_acc": ">0.75"}
    price_per_hour: 3.73       # overrides the price table

Relative paths (data.source, code_dir) resolve against the project root: the nearest
ancestor of the config file holding pyproject.toml or .git.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError
from .schema import build, to_plain
from .schema import field as cfield
from .yamlsrc import load_yaml

GPU_TYPES = (
    "T4",
    "L4",
    "A10G",
    "A10",
    "L40S",
    "A100",
    "A100-40GB",
    "A100-80GB",
    "H100",
    "H100!",
    "H200",
    "B200",
)
_GPU_RE = re.compile(r"^(?P<type>[A-Za-z0-9!-]+?)(?::(?P<count>\d+))?$")
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_TARGET_RE = re.compile(r"^\s*(>=|<=|>|<|==)?\s*(-?\d+(?:\.\d*)?(?:e-?\d+)?%?)\s*$")
_ENTRY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MAX_ATTEMPT_S = 24 * 3600


def check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"invalid name {value!r}: use lowercase letters, digits, '.', '_' or '-' "
            "(at most 63 characters, starting with a letter or digit)"
        )
    return value


def parse_gpu(value: str) -> str:
    """Validate a GPU string such as `A100-80GB:1` or `H100:8`; returns the canonical form."""
    match = _GPU_RE.match(value.strip())
    canon = {t.upper(): t for t in GPU_TYPES}
    if not match or match["type"].upper() not in canon:
        raise ValueError(
            f"invalid gpu {value!r}; expected TYPE[:COUNT] with TYPE one of {', '.join(GPU_TYPES)}"
        )
    count = int(match["count"] or 1)
    if not 1 <= count <= 8:
        raise ValueError(f"invalid gpu count {count} in {value!r}; expected 1 to 8")
    return f"{canon[match['type'].upper()]}:{count}"


def gpu_count(gpu: str | None) -> int:
    return 0 if not gpu else int(gpu.split(":")[1])


def parse_duration(value: int | str, cap: int | None = MAX_ATTEMPT_S) -> int:
    """Seconds from an int or a string such as `30m`, `4h`, `1h30m`, `90s`."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION_RE.match(value.strip())
        if not value.strip() or not match:
            raise ValueError(f"invalid duration {value!r}; use seconds or e.g. 30m, 4h, 1h30m")
        h, m, s = (int(g or 0) for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    if cap is not None and seconds > cap:
        raise ValueError(
            f"timeout {value!r} must be at most 24h (Modal's per-attempt limit); set resources.max_runtime for longer runs"
        )
    return seconds


def _positive(value: Any) -> Any:
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


def _non_negative(value: Any) -> Any:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _fraction(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError(f"must be between 0 and 1, got {value}")
    return value


@dataclass(frozen=True)
class Target:
    """A pass bar for a metric, written `>0.75`, `>=93%`, `<0.1`."""

    op: str
    value: float
    text: str

    def met(self, observed: float) -> bool:
        ops = {
            ">": observed > self.value,
            ">=": observed >= self.value,
            "<": observed < self.value,
            "<=": observed <= self.value,
            "==": observed == self.value,
        }
        return ops[self.op]


def parse_target(text: str) -> Target:
    match = _TARGET_RE.match(str(text))
    if not match:
        raise ValueError(f"invalid target {text!r}; write e.g. '>0.75', '>=93%' or '<0.1'")
    raw = match[2]
    value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    return Target(op=match[1] or ">=", value=value, text=str(text).strip())


@dataclass(frozen=True)
class Entrypoint:
    kind: Literal["builtin", "function", "command"]
    target: str | None = None
    command: tuple[str, ...] = ()

    def to_plain(self) -> Any:
        if self.kind == "builtin":
            return "builtin"
        if self.kind == "function":
            return self.target
        return {"command": list(self.command)}


def parse_entrypoint(value: Any) -> Entrypoint:
    import shlex

    if value is None or value == "builtin":
        return Entrypoint("builtin")
    if isinstance(value, str):
        if _ENTRY_RE.match(value):
            return Entrypoint("function", target=value)
        raise ValueError(
            f"invalid entrypoint {value!r}; expected 'builtin', 'package.module:function' "
            "or {command: 'python train.py ...'}"
        )
    if isinstance(value, dict) and set(value) == {"command"}:
        cmd = value["command"]
        argv = shlex.split(cmd) if isinstance(cmd, str) else cmd
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("entrypoint.command must be a non-empty string or list of strings")
        return Entrypoint("command", command=tuple(argv))
    raise ValueError(f"invalid entrypoint {value!r}; expected a string or {{command: ...}}")


@dataclass
class Generate:
    """Generate the built-in synthetic replay dataset into data.source when it is missing."""

    games: int = cfield(256, check=_positive)
    frames: int = cfield(600, check=_positive)
    seed: int = 0


@dataclass
class Data:
    dataset: str = cfield("fgc-synth", check=check_name)
    source: str | None = None  # local directory holding the dataset files
    path: str | None = None  # path on the volume; default datasets/<dataset>
    generate: Generate | None = None

    @property
    def volume_path(self) -> str:
        return (self.path or f"datasets/{self.dataset}").strip("/")


@dataclass
class Train:
    """Hyperparameters. The built-in trainer reads all of them; your own code may too."""

    arch: Literal["mlp", "gru", "transformer", "mamba2"] = "mamba2"
    size: Literal["small", "medium"] = "small"
    epochs: int = cfield(1, check=_positive)
    batch_size: int = cfield(64, check=_positive)
    lr: float = cfield(3e-4, check=_positive)
    weight_decay: float = cfield(0.01, check=_non_negative)
    warmup_steps: int = cfield(20, check=_non_negative)
    min_lr_ratio: float = cfield(0.1, check=_non_negative)
    grad_clip: float = cfield(1.0, check=_non_negative)
    window: int = cfield(16, check=_positive)
    max_games: int | None = cfield(None, check=_positive)
    val_fraction: float = cfield(0.1, check=_fraction)
    seed: int = 0
    bf16: bool = False
    compile: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = cfield(None, check=_positive)
    log_every: int = cfield(10, check=_positive)
    checkpoint_every: int = cfield(200, check=_positive)
    keep_checkpoints: int = cfield(2, check=_positive)
    async_checkpoint: bool = False
    best_metric: str = "val_metric/action_change_acc"
    best_mode: Literal["max", "min"] = "max"
    max_steps: int | None = cfield(None, check=_positive)


@dataclass
class Resources:
    gpu: str | None = cfield(None, check=parse_gpu)
    cpu: float = cfield(2.0, check=_positive)
    memory: int = cfield(8192, check=_positive)  # MiB
    timeout: int | str = cfield(4 * 3600, check=parse_duration)  # per attempt
    retries: int = cfield(2, check=_non_negative)
    max_runtime: int | str | None = cfield(None, check=lambda v: parse_duration(v, cap=None))


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


@dataclass
class Experiment:
    name: str = cfield(check=check_name)
    backend: Literal["local", "modal"] = "local"
    entrypoint: Any = cfield("builtin", check=parse_entrypoint)  # noqa: RUF009 (cfield is dataclasses.field)
    data: Data = field(default_factory=Data)
    train: Train = field(default_factory=Train)
    params: dict[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    volume: str = cfield("trainward", check=check_name)
    secrets: list[Any] = field(default_factory=list)
    wandb: Wandb = field(default_factory=Wandb)
    targets: dict[str, str] = field(default_factory=dict)
    price_per_hour: float | None = cfield(None, check=_non_negative)
    code_dir: str | None = None
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
        return [s if isinstance(s, Secret) else Secret(name=s) for s in self.secrets]

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

    def identity(self) -> dict[str, Any]:
        """What determines the training result: hashing this gives the config hash."""
        d = self.to_dict()
        data = {k: v for k, v in d["data"].items() if k != "source"}
        data["path"] = self.data.volume_path
        return {
            "entrypoint": d["entrypoint"],
            "data": data,
            "train": d["train"],
            "params": d["params"],
        }

    @property
    def config_hash(self) -> str:
        return config_hash(self.identity())


#: Identity keys that may change on resume: they do not change the sequence of parameter
#: updates (cadence, I/O, placement, compilation, which checkpoint is called best).
RESUME_MAY_CHANGE = frozenset(
    {
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.async_checkpoint",
        "train.compile",
        "train.device",
        "train.num_threads",
        "train.best_metric",
        "train.best_mode",
    }
)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) and v else {key: v})
    return out


def config_differences(
    saved: dict[str, Any], current: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(key, saved value, current value) for identity keys that differ and may not on resume."""
    a, b = _flatten(saved), _flatten(current)
    return [
        (k, a.get(k), b.get(k))
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k) and k not in RESUME_MAY_CHANGE
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
    if exp.entry.kind != "builtin" and exp.data.generate is not None:
        raise ConfigError(
            "data.generate makes the built-in dataset; it needs entrypoint: builtin",
            key="data.generate",
        )
    if exp.wandb.mode != "disabled" and not exp.wandb.project:
        raise ConfigError(
            f"wandb.mode is {exp.wandb.mode} but wandb.project is not set", key="wandb.project"
        )
    return replace(exp, secrets=secrets)


def project_root(config_file: Path) -> Path:
    for parent in config_file.resolve().parents:
        if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
            return parent
    return config_file.resolve().parent


# -- overrides ------------------------------------------------------------------------------


@dataclass
class Overrides:
    """What the CLI can change on top of a file: `--epochs`, `--max-games` and `--set a.b=v`."""

    epochs: int | None = None
    max_games: int | None = None
    sets: tuple[str, ...] = ()

    def pairs(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if self.epochs is not None:
            out.append(("train.epochs", self.epochs))
        if self.max_games is not None:
            out.append(("train.max_games", self.max_games))
        for item in self.sets:
            out.append(parse_set(item))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.pairs()}


def parse_set(item: str) -> tuple[str, Any]:
    """`train.lr=1e-3` -> ("train.lr", 0.001). The value is read as a YAML scalar."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or not re.match(r"^[A-Za-z_][\w-]*(\.[\w/-]+)*$", key):
        raise ConfigError(
            f"invalid --set {item!r}; expected KEY.PATH=VALUE, e.g. train.lr=1e-3", file="--set"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(data: dict[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for key, value in pairs:
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(
                    f"cannot set {key}: {'.'.join(parts[: i + 1])} is not a mapping",
                    file="--set",
                    key=key,
                )
            node = nxt
        node[parts[-1]] = value
    return out


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
        exp = _finish(build(Experiment, data))
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
    pairs = overrides.pairs() if overrides else []
    if pairs:
        data = apply_overrides(data, pairs)
    return experiment_from_dict(
        data,
        file=str(path),
        lines=lines,
        root=str(project_root(path)),
        overridden=frozenset(k for k, _ in pairs),
    )
