"""Experiment files: YAML -> validated dataclasses, CLI overrides, and the config hash.

experiment.py  the Experiment schema, loading, identity and hash
values.py      parsers for single values (names, GPUs, durations, targets, entrypoints)
overrides.py   `--epochs`, `--set KEY=VALUE` on top of a file
schema.py      the strict dataclass builder behind every config file
yamlsrc.py     YAML with line numbers, bounded

Public: `load_experiment`, `experiment_from_dict`, `Experiment`, `Overrides`, `config_hash`.
"""

from trainward.config.experiment import (
    Experiment,
    config_hash,
    experiment_from_dict,
    load_experiment,
)
from trainward.config.overrides import Overrides

__all__ = ["Experiment", "Overrides", "config_hash", "experiment_from_dict", "load_experiment"]
