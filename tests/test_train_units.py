"""The trainer's parts on their own: SSD, models, metrics, split, order, schedule, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from trainward.config.experiment import load_experiment
from trainward.errors import ConfigMismatch, IntegrityError
from trainward.train import checkpoint, data
from trainward.train.actions import INDEX, NUM_ACTIONS
from trainward.train.checkpoint import weights_sha256
from trainward.train.mamba2 import Mamba2Mixer, ssd
from trainward.train.metrics import batch_stats, summarize
from trainward.train.models import SIZES, build_model
from trainward.train.optim import WarmupCosine

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("chunk", [8, 32])  # chunked with carried state; a single chunk
def test_ssd_matches_the_sequential_recurrence(chunk: int) -> None:
    gen = torch.Generator().manual_seed(0)
    b, length, heads, p, n = 2, 24, 3, 4, 5
    x = torch.randn(b, length, heads, p, generator=gen, dtype=torch.float64)
    a = -torch.rand(b, length, heads, generator=gen, dtype=torch.float64)
    bm, cm = (torch.randn(b, length, n, generator=gen, dtype=torch.float64) for _ in range(2))
    state = torch.zeros(b, heads, p, n, dtype=torch.float64)
    expected = []
    for t in range(length):
        state = (
            state * a[:, t].exp()[..., None, None] + x[:, t, ..., None] * bm[:, t, None, None, :]
        )
        expected.append(torch.einsum("bhpn,bn->bhp", state, cm[:, t]))
    torch.testing.assert_close(ssd(x, a, bm, cm, chunk=chunk), torch.stack(expected, 1))


def test_mamba2_is_causal_with_padding() -> None:
    torch.manual_seed(0)
    mixer = Mamba2Mixer(16, headdim=8, d_state=4, chunk=8)
    u = torch.randn(2, 13, 16)  # 13 is not a multiple of the chunk: padded inside
    longer = torch.cat([u, torch.randn(2, 7, 16)], dim=1)
    torch.testing.assert_close(mixer(u), mixer(longer)[:, :13])


@pytest.mark.parametrize("arch", ["mlp", "gru", "transformer", "mamba2"])
def test_models_predict_actions_and_position_change(arch: str) -> None:
    model = build_model(arch, "small", window=8)
    states, actions = torch.randn(3, 8, 2, 5), torch.randint(0, NUM_ACTIONS, (3, 8, 2))
    logits, delta = model(states, actions, torch.randint(0, data.MAX_ACTION_FRAME, (3, 8, 2)))
    assert logits.shape == (3, 2, NUM_ACTIONS) and delta.shape == (3, 2, 2)
    assert set(SIZES["medium"]) == set(SIZES["small"]) == {"mlp", "gru", "transformer", "mamba2"}


def fake_batch(current: list[int], target: list[int]) -> data.Batch:
    cur, nxt = torch.tensor([current]).T.expand(-1, 2), torch.tensor([target]).T.expand(-1, 2)
    n = len(current)
    return data.Batch(torch.zeros(n, 4, 2, 5), cur[:, None].expand(-1, 4, -1), torch.zeros(n, 4, 2, dtype=torch.long),
                      nxt, torch.zeros(n, 2, 2), cur)  # fmt: skip


def one_hot_logits(actions: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(actions, NUM_ACTIONS).float() * 10


def test_action_change_acc_scores_no_change_at_one_half() -> None:
    jab, idle, walk = INDEX["jab"], INDEX["idle"], INDEX["walk_r"]
    batch = fake_batch([jab, jab, idle, idle], [jab, idle, idle, walk])
    no_change = summarize(batch_stats(one_hot_logits(batch.current), torch.zeros(4, 2, 2), batch))
    assert no_change["val_metric/action_change_acc"] == 0.5
    assert no_change["val_metric/action_change_exact"] == 0.0
    assert no_change["val_metric/action_acc"] == 0.5
    oracle = summarize(batch_stats(one_hot_logits(batch.next_action), torch.zeros(4, 2, 2), batch))
    assert oracle["val_metric/action_change_acc"] == oracle["val_metric/action_acc"] == 1.0
    assert oracle["val_action/cat_movement"] == 1.0 and "val_action/cat_aerial" not in oracle
    assert oracle["val_metric/position_mae"] == 0.0


def test_split_is_disjoint_deterministic_and_prefix_stable() -> None:
    train, val = data.split_games(40, 0.1)
    assert val == [9, 19, 29, 39] and not set(train) & set(val) and len(train) + len(val) == 40
    assert data.split_games(20, 0.1)[1] == [9, 19]
    with pytest.raises(ValueError, match="at least 10 games"):
        data.split_games(9, 0.1)


def test_epoch_order_is_reproducible_and_shards_a_global_batch() -> None:
    one = data.EpochOrder(1000, 64, seed=3)
    assert torch.equal(one.indices(2, 5), data.EpochOrder(1000, 64, seed=3).indices(2, 5))
    assert not torch.equal(one.indices(2, 5), one.indices(3, 5))
    ranks = [data.EpochOrder(1000, 64, seed=3, rank=r, world=2).indices(2, 5) for r in range(2)]
    assert torch.equal(torch.cat(ranks), one.indices(2, 5))
    assert one.steps_per_epoch == 15


def test_warmup_cosine() -> None:
    schedule = WarmupCosine(warmup=10, total=110, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.55) and schedule(110) == pytest.approx(0.1)


def test_checkpoints_rotate_atomically_and_load(tmp_path: Path) -> None:
    for step in (10, 20, 30):
        written = checkpoint.write_checkpoint({"format": checkpoint.FORMAT, "step": step, "epoch": 0}, tmp_path,
                                              keep=2, best=step == 20)  # fmt: skip
    assert [w.which for w in written] == ["latest"]
    steps = {p.name: torch.load(p, weights_only=True)["step"] for p in tmp_path.iterdir()}
    assert steps == {"latest.pt": 30, "latest.prev.pt": 20, "best.pt": 20}
    with pytest.raises(IntegrityError, match="is not a trainward checkpoint"):
        checkpoint.load(tmp_path / "latest.pt")


def test_config_differences_allow_only_keys_that_do_not_change_the_math() -> None:
    exp = load_experiment(REPO / "experiments" / "smoke-cpu.yaml")
    saved = exp.identity()
    changed = load_experiment(REPO / "experiments" / "smoke-cpu.yaml")
    changed.train.log_every, changed.train.compile, changed.train.lr = 7, True, 1.0
    diffs = checkpoint.config_differences(saved, changed.identity(), changed.resume_may_change)
    assert [d[0] for d in diffs] == ["train.lr"]
    state = {"config": {"identity": saved, "hash": exp.config_hash}}
    with pytest.raises(ConfigMismatch, match=r"train\.lr: 0\.003 in the checkpoint, 1\.0 now"):
        checkpoint.check_config(state, changed, Path("x.pt"))


def test_weights_hash_is_canonical() -> None:
    torch.manual_seed(0)
    model = build_model("gru", "small", 8)
    same = build_model("gru", "small", 8)
    same.load_state_dict(model.state_dict())
    assert weights_sha256(model) == weights_sha256(same)
    with torch.no_grad():
        next(same.parameters()).view(-1)[0] += 1e-6
    assert weights_sha256(model) != weights_sha256(same)


TRAINER_CONFIGS = ["smoke-cpu.yaml"] + [
    f"{a}-medium-gpu.yaml" for a in ("mamba2", "transformer", "gru", "mlp")
]


@pytest.mark.parametrize("name", TRAINER_CONFIGS)
def test_trainer_configs_load(name: str) -> None:
    exp = load_experiment(REPO / "experiments" / name)
    assert exp.entry.kind == "builtin" and exp.train.generate is not None
    build_model(exp.train.arch, "small", exp.train.window)  # arch and window are valid
    if name != "smoke-cpu.yaml":
        assert (
            exp.backend == "modal"
            and exp.train.bf16
            and exp.train.compile
            and exp.wandb.mode == "online"
        )
        assert exp.resources.gpu == "A100-80GB:1" and exp.secret_specs[0].required_keys == [
            "WANDB_API_KEY"
        ]
