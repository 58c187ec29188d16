"""Trainer plug-ins: training programs that trainward knows by name (`entrypoint: builtin`).

The tool never imports a plug-in's code directly: it looks the plug-in up by name here and
loads it on first use, through the one loader. A plug-in owns one config section (the
built-in world-model trainer owns `train:`), validated by its own schema, and may provide
hooks: preparing data before a launch, held-out evaluation for sweeps, metric defaults for
status. Third-party plug-ins register under the `trainward.trainers` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from trainward.core.loader import load_object
from trainward.errors import UsageError

#: Plug-ins that ship with trainward, by entrypoint name.
BUILTIN = {"builtin": "trainward.train.plugin:PLUGIN"}
ENTRY_POINT_GROUP = "trainward.trainers"


class TrainerPlugin:
    """What a trainer plug-in provides. Subclass it and override what applies."""

    name: ClassVar[str]
    section: ClassVar[str]  # the config section it owns
    schema: ClassVar[type]  # a dataclass, built strictly from that section
    #: section keys whose change does not change the sequence of updates (allowed on resume)
    resume_may_change: ClassVar[frozenset[str]] = frozenset()
    #: CLI flags that set a key of its section: {"epochs": "train.epochs"}
    cli_overrides: ClassVar[Mapping[str, str]] = {}
    #: defaults for the experiment's `metrics:` section (names status, report and plot use)
    metrics: ClassVar[Mapping[str, Any]] = {}
    #: section keys the launch plan shows
    summary_keys: ClassVar[Sequence[str]] = ()

    def run(self, ctx: Any) -> Any:
        """Train (or resume) the run described by `ctx` (a RunContext)."""
        raise NotImplementedError

    def data_action(self, section: Any, *, has_source: bool) -> str | None:
        """What the plug-in does about data it generates itself (None: it does not)."""
        return None

    def prepare_data(self, section: Any, directory: Path, note: Callable[[str], None]) -> None:
        """Make (or complete) the dataset in a local directory before it is pushed."""

    def needs_data_on_volume(self, section: Any) -> bool:
        """Whether a launch without data.source must find the dataset on the volume."""
        return False

    def evaluate(
        self, checkpoint: Path, data_dir: Path, *, games: Sequence[int] | None = None
    ) -> dict[str, Any]:
        raise UsageError(f"trainer {self.name!r} has no held-out evaluation")

    def held_out(
        self, experiments: Sequence[Mapping[str, Any]], data_dir: Path, n: int
    ) -> list[int]:
        """`n` validation items none of the experiments trained on (default: 0..n-1)."""
        return list(range(n))


def trainer_plugin(name: str) -> TrainerPlugin:
    """The plug-in called `name` (`builtin`, or one registered under trainward.trainers)."""
    target = BUILTIN.get(name) or _entry_point(name)
    if target is None:
        raise UsageError(
            f"no trainer plug-in named {name!r}",
            hint=f"use one of {', '.join(sorted(BUILTIN))}, or register one under the "
            f"'{ENTRY_POINT_GROUP}' entry-point group",
        )
    plugin = load_object(target, what="trainer plug-in")
    if not isinstance(plugin, TrainerPlugin):
        raise UsageError(f"{target} is not a TrainerPlugin")
    return plugin


def _entry_point(name: str) -> str | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return str(ep.value)
    return None
