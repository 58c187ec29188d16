"""The published JSON Schema of experiment files: generated from the config classes, kept in
the repository (schema/experiment.schema.json) and equal to `trainward schema`, accepting
every shipped experiment and refusing what the loader refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from trainward.config.jsonschema import dumps, experiment_schema

from tests.conftest import EXAMPLES, EXPERIMENTS, REPO, tw

SCHEMA_FILE = REPO / "schema" / "experiment.schema.json"
SHIPPED = [p for p in sorted(EXPERIMENTS.glob("*.yaml")) if "sweep" not in p.name] + [
    EXAMPLES / "custom_trainer" / "experiment.yaml"
]


def test_the_repository_file_is_the_generated_schema() -> None:
    assert SCHEMA_FILE.read_text() == dumps(experiment_schema()), (
        "schema/experiment.schema.json is stale: run `trainward schema -o schema/experiment.schema.json`"
    )
    res = tw("schema", "--json")
    assert res.code == 0 and json.loads(res.stdout) == json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


def test_schema_output_file(tmp_path: Path) -> None:
    res = tw("schema", "-o", str(tmp_path / "s.json"), "--json")
    assert res.code == 0 and json.loads(res.stdout)["path"] == str(tmp_path / "s.json")
    assert (tmp_path / "s.json").read_text() == SCHEMA_FILE.read_text()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_experiment_is_valid(path: Path) -> None:
    validator = Draft202012Validator(experiment_schema())
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors, errors


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "x", "lr_sched": 1},  # unknown key
        {"name": "X Y"},  # name format
        {"backend": "local"},  # name is required
        {"name": "x", "backend": "gcp"},
        {"name": "x", "train": {"epochs": 0}},
        {"name": "x", "train": {"arch": "lstm"}},
        {"name": "x", "resources": {"timeout": "soon"}},
        {"name": "x", "resources": {"gpu": "A100:9"}},
        {"name": "x", "entrypoint": "not an entrypoint"},
        {"name": "x", "secrets": [{"name": "w", "keys": []}]},
        {"name": "x", "wandb": {"mode": "sometimes"}},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(doc: dict, tmp_path: Path) -> None:
    assert list(Draft202012Validator(experiment_schema()).iter_errors(doc))
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert tw("launch", str(path), "--dry-run").code == 2
