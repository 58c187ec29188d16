"""Experiment configs: validation errors that name file, line and key; overrides; a stable hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainward.config.experiment import load_experiment
from trainward.config.overrides import Overrides
from trainward.config.values import parse_gpu, parse_target
from trainward.errors import ConfigError

from tests.conftest import EXAMPLES, EXPERIMENTS, tw

GOOD = "name: ok\ntrain:\n  epochs: 2\n"

# (id, file contents, what the message must mention: a key, a line "file:N", or a phrase)
MALFORMED: list[tuple[str, str | bytes, list[str]]] = [
    ("syntax-unclosed-bracket", "name: x\ntrain: [1, 2\n", ["YAML syntax error", ":3"]),
    ("syntax-bad-indent", "name: x\ntrain:\n  epochs: 1\n lr: 2\n", ["YAML syntax error"]),
    ("syntax-tab", "name: x\ntrain:\n\tepochs: 1\n", ["YAML syntax error", ":3"]),
    ("syntax-unclosed-quote", 'name: "x\ntrain: {}\n', ["YAML syntax error"]),
    ("duplicate-key", "name: x\nname: y\n", ["duplicate key 'name'", ":2"]),
    (
        "unknown-top",
        "name: x\nepochs: 3\n",
        ["unknown key 'epochs'", ":2", "allowed: name, backend"],
    ),
    (
        "unknown-train",
        "name: x\ntrain:\n  lr_sched: cosine\n",
        ["train.lr_sched", ":3", "allowed in train"],
    ),
    ("unknown-data", "name: x\ndata:\n  dataset: d\n  sorce: here\n", ["data.sorce", ":4"]),
    (
        "unknown-generate",
        "name: x\ntrain:\n  generate:\n    gams: 3\n",
        ["train.generate.gams", ":4"],
    ),
    (
        "moved-generate",
        "name: x\ndata:\n  generate:\n    games: 3\n",
        ["data.generate", "train.generate", ":3"],
    ),
    ("unknown-resources", "name: x\nresources:\n  gpus: A100\n", ["resources.gpus", ":3"]),
    ("unknown-wandb", "name: x\nwandb:\n  projet: p\n", ["wandb.projet", ":3"]),
    ("unknown-secret-key", "name: x\nsecrets:\n  - {name: s, keys: [A]}\n", ["secrets.0.keys"]),
    (
        "wrong-type-epochs",
        "name: x\ntrain:\n  epochs: three\n",
        ["train.epochs", "expected an integer", ":3"],
    ),
    ("wrong-type-lr", "name: x\ntrain:\n  lr: fast\n", ["train.lr", "expected a number"]),
    ("wrong-type-bool", "name: x\ntrain:\n  bf16: 1\n", ["train.bf16", "true or false"]),
    ("wrong-type-section", "name: x\ntrain: 5\n", ["train", "must be a mapping"]),
    ("wrong-type-targets", "name: x\ntargets: [a]\n", ["targets", "expected a mapping"]),
    ("float-epochs", "name: x\ntrain:\n  epochs: 2.5\n", ["train.epochs", "expected an integer"]),
    (
        "negative-epochs",
        "name: x\ntrain:\n  epochs: -1\n",
        ["train.epochs", "must be positive", ":3"],
    ),
    ("zero-batch", "name: x\ntrain:\n  batch_size: 0\n", ["train.batch_size", "must be positive"]),
    (
        "negative-retries",
        "name: x\nresources:\n  retries: -2\n",
        ["resources.retries", "must not be negative"],
    ),
    (
        "bad-gpu",
        "name: x\nresources:\n  gpu: Z100:1\n",
        ["resources.gpu", "invalid gpu 'Z100:1'", ":3"],
    ),
    ("bad-gpu-count", "name: x\nresources:\n  gpu: A100:16\n", ["resources.gpu", "1 to 8"]),
    (
        "bad-timeout",
        "name: x\nresources:\n  timeout: forever\n",
        ["resources.timeout", "invalid duration"],
    ),
    ("timeout-over-24h", "name: x\nresources:\n  timeout: 30h\n", ["resources.timeout", "24h"]),
    (
        "bad-arch",
        "name: x\ntrain:\n  arch: lstm\n",
        ["train.arch", "mlp, gru, transformer, mamba2"],
    ),
    ("bad-backend", "name: x\nbackend: aws\n", ["backend", "local, modal"]),
    ("bad-wandb-mode", "name: x\nwandb:\n  project: p\n  mode: sometimes\n", ["wandb.mode"]),
    ("wandb-no-project", "name: x\nwandb:\n  mode: online\n", ["wandb.project"]),
    (
        "bad-target",
        "name: x\ntargets:\n  val_loss/total: about 3\n",
        ["targets.val_loss/total", "invalid target"],
    ),
    ("bad-entrypoint", "name: x\nentrypoint: not a module\n", ["entrypoint", "invalid entrypoint"]),
    ("bad-name", "name: My Run!\n", ["name", "invalid name"]),
    ("missing-name", "train:\n  epochs: 1\n", ["name", "required key is missing"]),
    ("not-a-mapping", "- a\n- b\n", ["must be a mapping"]),
    ("scalar-file", "just a string\n", ["must be a mapping"]),
    ("empty", "", ["is empty"]),
    ("only-comments", "# nothing here\n", ["is empty"]),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["binary"]),
    ("not-utf8", b"name: caf\xe9\n", ["not valid UTF-8"]),
    (
        "train-section-with-custom-entry",
        "name: x\nentrypoint: pkg.mod:fn\ntrain:\n  generate: {games: 2}\n",
        ["train", "params"],
    ),
]


@pytest.mark.parametrize(("case", "body", "expect"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config_exits_2_naming_file_and_key(
    tmp_path: Path, case: str, body: str | bytes, expect: list[str]
) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    res = tw("launch", str(path), "--dry-run")
    assert res.code == 2, res.stderr
    assert str(path) in res.stderr
    for fragment in expect:
        assert fragment in res.stderr, f"{fragment!r} not in {res.stderr!r}"
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stdout == ""


def test_corpus_is_large_enough() -> None:
    assert len(MALFORMED) + 2 >= 25  # plus the directory and missing-file cases below


def test_directory_and_missing_file(tmp_path: Path) -> None:
    res = tw("launch", str(tmp_path), "--dry-run")
    assert res.code == 2 and "is a directory" in res.stderr and str(tmp_path) in res.stderr
    res = tw("launch", str(tmp_path / "nope.yaml"), "--dry-run")
    assert res.code == 2 and "does not exist" in res.stderr and "nope.yaml" in res.stderr


def test_error_as_json(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ntrain:\n  epochs: -3\n")
    res = tw("launch", str(path), "--dry-run", "--json")
    assert res.code == 2
    err = res.json()["error"]
    assert err["type"] == "config" and err["exit_code"] == 2 and "train.epochs" in err["message"]


def test_bad_override_is_attributed_to_set(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(GOOD)
    res = tw("launch", str(path), "--dry-run", "--set", "train.lr=-1")
    assert res.code == 2 and "--set" in res.stderr and "train.lr" in res.stderr
    res = tw("launch", str(path), "--dry-run", "--set", "train.nope=1")
    assert res.code == 2 and "unknown key 'nope'" in res.stderr
    res = tw("launch", str(path), "--dry-run", "--set", "garbage")
    assert res.code == 2 and "KEY.PATH=VALUE" in res.stderr


def test_overrides_apply(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(GOOD)
    exp = load_experiment(
        path, Overrides(epochs=7, max_games=12, sets=("train.lr=1e-3", "resources.gpu=h100:2"))
    )
    assert exp.train.epochs == 7 and exp.train.max_games == 12 and exp.train.lr == 1e-3
    assert exp.resources.gpu == "H100:2"


def test_hash_is_stable_under_key_order_and_ignores_non_training_keys(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("name: x\ntrain:\n  lr: 0.001\n  epochs: 2\nresources:\n  gpu: A100\n")
    b.write_text("resources:\n  gpu: H100\ntrain:\n  epochs: 2\n  lr: 1.0e-3\nname: x\n")
    assert load_experiment(a).config_hash == load_experiment(b).config_hash
    c = tmp_path / "c.yaml"
    c.write_text("name: x\ntrain:\n  lr: 0.002\n  epochs: 2\n")
    assert load_experiment(c).config_hash != load_experiment(a).config_hash


def test_yaml_scientific_notation_without_dot_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ntrain:\n  lr: 3e-4\n")
    assert load_experiment(path).train.lr == pytest.approx(3e-4)


def test_shipped_experiments_load() -> None:
    files = [*sorted(EXPERIMENTS.glob("*.yaml")), EXAMPLES / "custom_trainer" / "experiment.yaml"]
    files = [f for f in files if not f.name.startswith("sweep")]
    assert files
    for f in files:
        load_experiment(f)


def test_gpu_and_target_parsing() -> None:
    assert parse_gpu("a100-80gb") == "A100-80GB:1"
    assert parse_gpu("H100:8") == "H100:8"
    t = parse_target(">=93%")
    assert t.op == ">=" and t.value == pytest.approx(0.93) and t.met(0.93) and not t.met(0.91)
    with pytest.raises(ValueError):
        parse_gpu("A100:0")


def test_config_error_has_hint_for_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nvolumee: v\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.line == 2 and info.value.key == "volumee" and info.value.hint
