"""A sweep's documents, typed: the plan, the controller's state, one validation job, the record.

    SweepPlan     what `trainward sweep` resolves and hands the controller
                  ($TRAINWARD_HOME/local/sweeps/<sweep>/plan.json, <volume>/sweeps/<sweep>/plan.json)
    SweepState    <volume>/sweeps/<sweep>/state.json, rewritten by the controller at every step
    ValidationJob one validation job (a slice of the round-robin, or a chunk of held-out games):
                  plain data, so it runs the same in a local process and in a Modal container
    SweepRecord   one line of $TRAINWARD_HOME/sweeps.jsonl (the last line for a sweep wins)

Same rules as core/contracts.py: `to_json()`/`from_json()`, a `version` field, older files
read (missing fields take defaults, unknown ones are ignored: tests/fixtures/v1/ holds files
written before these types existed), a wrong type raises ContractError. The state's classes
are mutable on purpose: the controller updates them in place and saves the whole document.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from trainward.core.contracts import Document, JsonObject, WorkerSpec
from trainward.core.states import (
    JobState,
    MemberState,
    SweepMode,
    SweepPhase,
    SweepRecordState,
    ValidationMode,
)

SWEEP_VERSION = 1
JobKind = Literal["evaluate", "match", "slice"]
Direction = Literal["ab", "ba"]

# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunEstimate(Document):
    """One member's expected cost: its earlier runtime if known, else one attempt at its timeout."""

    price_per_hour: float = 0.0
    price_source: str = ""
    seconds: float = 0.0
    basis: str = ""
    usd: float = 0.0
    gpu_hours: float = 0.0


@dataclass(frozen=True)
class SweepBudget(Document):
    """The estimate against the limits; `over` lists what is exceeded (exit 3)."""

    estimate_usd: float = 0.0
    estimate_gpu_hours: float = 0.0
    max_cost_usd: float | None = None
    max_gpu_hours: float | None = None
    over: tuple[str, ...] = ()
    runs: dict[str, RunEstimate] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidationPlan(Document):
    """How the members are compared. `command`/`function` is your validation program; without
    one, `evaluate`/`match` or the built-in trainer's held-out evaluation score checkpoints."""

    mode: ValidationMode = "round-robin"
    games: int = 8  # per matchup and direction (your program), or held-out games (built-in)
    workers: int = 2
    chunk: int = 4  # matchups per slice (your program), or games per job (built-in)
    metric: str = "val_metric/action_acc"
    better: Literal["max", "min"] = "max"
    evaluate: str | None = None
    match: str | None = None
    command: tuple[str, ...] = ()
    function: str | None = None
    matchups: tuple[str, ...] = ()
    timeout_s: int | None = None  # per slice (--validation-timeout)
    retries: int = 1  # a failed slice is run again this many times
    price_per_hour: float = 0.0  # of one validation worker (Modal: its CPU and memory)
    cpu: float = 4.0  # one validation worker on Modal
    memory: int = 4096  # MiB
    code_dir: str | None = None  # where your program runs (the project)

    @property
    def user_program(self) -> bool:
        return bool(self.command or self.function)


@dataclass(frozen=True)
class DeployPlan(Document):
    """Where deployed files go: the winner's checkpoint (`to`/`name`), or each member's mapping."""

    to: str = "weights"
    name: str | None = None


@dataclass(frozen=True)
class MemberPlan(Document):
    """One member: its resolved experiment, the arguments it runs with, what it deploys."""

    experiment: JsonObject
    config_path: str = ""
    timeout_s: int = 0
    config_hash: str = ""
    root: str | None = None
    member: str | None = None  # the name in the sweep file (the run is <sweep>-<member>)
    overrides: tuple[tuple[object, ...], ...] = ()  # (key, value) pairs that made it
    args: tuple[str, ...] = ()  # passed to the program after `--`
    deploy: dict[str, str] = field(default_factory=dict)  # artifact -> path in the repo
    price_per_hour: float = 0.0
    gpus: int = 0
    attempts: int = 1
    resources_key: str | None = None  # Modal: the function sized for this member
    worker_spec: WorkerSpec | None = None  # Modal: ready to spawn from inside the app


@dataclass(frozen=True)
class SweepPlan(Document):
    """Everything the controller needs, resolved on the launching machine."""

    sweep: str
    backend: str = "local"
    volume: str = "trainward"
    mode: SweepMode = "full"
    members: dict[str, MemberPlan] = field(default_factory=dict)
    version: int = SWEEP_VERSION
    plan_id: str | None = None  # one start of the sweep; a restarted controller keeps it
    file: str | None = None
    sweep_text: str | None = None  # the sweep file as it was started (saved with the results)
    project_root: str | None = None
    results_to: str | None = None  # the local results folder (absolute)
    no_deploy: bool = False
    parallel: int = 4
    data_path: str = "datasets/fgc-synth"
    validation: ValidationPlan = field(default_factory=ValidationPlan)
    budget: SweepBudget = field(default_factory=SweepBudget)
    deploy: DeployPlan = field(default_factory=DeployPlan)
    next: dict[str, str] = field(default_factory=dict)

    def replace(self, **changes: object) -> SweepPlan:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def deploys_members(self) -> bool:
        """True when members name files to deploy (else the winner's checkpoint is deployed)."""
        return any(m.deploy for m in self.members.values())


# -- one validation job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationJob(Document):
    """One job. `slice`: your program plays `matchups` between members a and b, in one
    direction, `count` games each. `evaluate`: one run scored on `games` (held-out indices).
    `match`: a `match` function plays a against b on `games`."""

    job_id: str
    kind: JobKind
    data_path: str = ""
    games: tuple[int, ...] = ()
    run: str | None = None
    checkpoint: str | None = None
    metric: str | None = None
    evaluate: str | None = None
    a: str | None = None
    b: str | None = None
    checkpoint_a: str | None = None
    checkpoint_b: str | None = None
    match: str | None = None
    sweep: str | None = None
    member_a: str | None = None
    member_b: str | None = None
    direction: Direction = "ab"
    matchups: tuple[str, ...] = ()
    count: int = 0
    seed: int = 0
    command: tuple[str, ...] = ()
    function: str | None = None
    code_dir: str | None = None
    timeout_s: int | None = None


# -- the controller's state -----------------------------------------------------------------------


@dataclass
class MemberStatus(Document):
    state: MemberState = "pending"
    ids: JsonObject = field(default_factory=dict)
    timeout_s: int | None = None
    launched_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None
    best: JsonObject | None = None
    seconds: float | None = None  # its runtime, from its ledger
    cost_usd: float | None = None
    artifacts: dict[str, JsonObject] = field(default_factory=dict)  # path -> {sha256, size}


@dataclass
class JobStatus(Document):
    job: ValidationJob
    state: JobState = "pending"
    attempts: int = 0
    error: str | None = None
    started_at: float | None = None  # of the latest attempt
    ended_at: float | None = None
    seconds: float = 0.0  # over every attempt
    cost_usd: float = 0.0


@dataclass
class ValidationStatus(Document):
    mode: ValidationMode = "round-robin"
    games: list[int] | None = None
    jobs: dict[str, JobStatus] = field(default_factory=dict)
    games_per_matchup: int | None = None  # your program's slices
    done: int = 0
    total: int = 0
    failed: int = 0


@dataclass
class BudgetStatus(Document):
    max_cost_usd: float | None = None
    max_gpu_hours: float | None = None
    spent_usd: float = 0.0
    spent_gpu_hours: float = 0.0


@dataclass
class SweepState(Document):
    """<volume>/sweeps/<sweep>/state.json: all the controller knows (it restarts from it)."""

    sweep: str
    backend: str = "local"
    mode: SweepMode = "full"
    phase: SweepPhase = "training"
    version: int = SWEEP_VERSION
    plan_id: str | None = None
    started_at: float | None = None
    updated_at: float | None = None
    pid: int | None = None
    members: dict[str, MemberStatus] = field(default_factory=dict)
    validation: ValidationStatus = field(default_factory=ValidationStatus)
    budget: BudgetStatus = field(default_factory=BudgetStatus)
    results: str | None = None
    winner: str | None = None
    deployed: JsonObject | None = None
    saved_to: str | None = None
    error: str | None = None
    errors: list[str] = field(default_factory=list)  # what went wrong and was recovered from


# -- sweeps.jsonl ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRecord(Document):
    """One snapshot of a sweep's start in $TRAINWARD_HOME/sweeps.jsonl (the last line wins)."""

    sweep: str
    backend: str = "local"
    volume: str = "trainward"
    mode: SweepMode = "full"
    members: tuple[str, ...] = ()
    version: int = SWEEP_VERSION
    state: SweepRecordState = "started"  # lines written before the state existed: started
    controller: JsonObject = field(default_factory=dict)
    launched_at: float | None = None
    file: str | None = None
    plan_id: str | None = None
    launcher_pid: int | None = None
    launcher_host: str | None = None
    reason: str | None = None

    def with_(self, **changes: object) -> SweepRecord:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


__all__ = [
    "DeployPlan",
    "Direction",
    "JobKind",
    "JobStatus",
    "MemberPlan",
    "MemberStatus",
    "RunEstimate",
    "SweepBudget",
    "SweepPlan",
    "SweepRecord",
    "SweepState",
    "ValidationJob",
    "ValidationPlan",
    "ValidationStatus",
]
