"""Loss and validation metrics. Definitions (also in docs/trainer.md):

For each sample window and each player (a "pair"), the model predicts the next action and
the position change. With `current` the action at the window's last frame:

- val_loss/action      mean cross-entropy of the next action over pairs
- val_loss/position    mean smooth-L1 of the normalized position change (pos / DELTA_SCALE)
- val_loss/total       their sum (what training minimises)
- val_metric/action_change_acc
                       balanced accuracy of "does the action change at the next frame",
                       where the model predicts a change iff argmax(logits) != current:
                       (recall on pairs whose action changes + recall on pairs whose action
                       stays) / 2. Predicting "no change" always (or guessing) scores 0.5.
- val_metric/action_change_exact
                       among pairs whose action changes: argmax == the true next action
                       ("no change" scores 0)
- val_metric/action_acc   argmax == the true next action, over all pairs
- val_metric/position_mae mean |predicted - true| position change, in world units
- val_action/cat_<c>   action accuracy over pairs whose true next action is in category c

Statistics are sums in one float64 vector, so shards (batches, processes, games) add up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from trainward.train.actions import CATEGORIES, NUM_ACTIONS, category_ids
from trainward.train.data import DELTA_SCALE, Batch, Replays

N_CAT = len(CATEGORIES)
# layout of the statistics vector
(
    ACTION_LOSS,
    POS_LOSS,
    PAIRS,
    POS_ELEMS,
    ABS_ERR,
    CHANGES,
    CHANGES_HIT,
    STAYS,
    STAYS_HIT,
    CORRECT,
    CHANGE_EXACT,
) = range(11)
CAT_COUNT = 11
CAT_CORRECT = CAT_COUNT + N_CAT
SIZE = CAT_CORRECT + N_CAT


def losses(
    logits: torch.Tensor, delta: torch.Tensor, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, action, position) mean losses of one batch, computed in float32."""
    action = F.cross_entropy(logits.float().reshape(-1, NUM_ACTIONS), batch.next_action.reshape(-1))
    position = F.smooth_l1_loss(delta.float(), batch.delta)
    return action + position, action, position


def batch_stats(logits: torch.Tensor, delta: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The statistics vector (float64, on the batch's device) of one batch."""
    logits, delta = logits.float(), delta.float()
    target, current = batch.next_action, batch.current
    pred = logits.argmax(-1)
    changes, predicted_change, right = target != current, pred != current, pred == target
    cats = torch.tensor(category_ids(), device=target.device)[target].reshape(-1)
    out = torch.zeros(SIZE, dtype=torch.float64, device=target.device)
    out[ACTION_LOSS] = F.cross_entropy(
        logits.reshape(-1, NUM_ACTIONS), target.reshape(-1), reduction="sum"
    )
    out[POS_LOSS] = F.smooth_l1_loss(delta, batch.delta, reduction="sum")
    out[PAIRS], out[POS_ELEMS] = target.numel(), delta.numel()
    out[ABS_ERR] = (delta - batch.delta).abs().sum() * DELTA_SCALE
    out[CHANGES], out[CHANGES_HIT] = changes.sum(), (changes & predicted_change).sum()
    out[STAYS], out[STAYS_HIT] = (~changes).sum(), (~changes & ~predicted_change).sum()
    out[CORRECT], out[CHANGE_EXACT] = right.sum(), (changes & right).sum()
    out[CAT_COUNT:CAT_CORRECT] = torch.bincount(cats, minlength=N_CAT)
    out[CAT_CORRECT:] = torch.bincount(cats, weights=right.reshape(-1).double(), minlength=N_CAT)
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def summarize(stats: torch.Tensor) -> dict[str, float]:
    """Metric names -> values from a statistics vector (categories with no pairs are left out)."""
    s = stats.double().cpu().tolist()
    action, position = _ratio(s[ACTION_LOSS], s[PAIRS]), _ratio(s[POS_LOSS], s[POS_ELEMS])
    out = {
        "val_loss/total": action + position,
        "val_loss/action": action,
        "val_loss/position": position,
        "val_metric/action_change_acc": 0.5
        * (_ratio(s[CHANGES_HIT], s[CHANGES]) + _ratio(s[STAYS_HIT], s[STAYS])),
        "val_metric/action_change_exact": _ratio(s[CHANGE_EXACT], s[CHANGES]),
        "val_metric/action_acc": _ratio(s[CORRECT], s[PAIRS]),
        "val_metric/position_mae": _ratio(s[ABS_ERR], s[POS_ELEMS]),
    }
    for i, name in enumerate(CATEGORIES):
        if s[CAT_COUNT + i]:
            out[f"val_action/cat_{name}"] = s[CAT_CORRECT + i] / s[CAT_COUNT + i]
    return out


def player_view(
    logits: torch.Tensor, delta: torch.Tensor, batch: Batch, p: int
) -> tuple[torch.Tensor, torch.Tensor, Batch]:
    """One player's predictions and targets (the model still saw both players)."""
    sl = slice(p, p + 1)
    view = Batch(
        batch.states,
        batch.actions,
        batch.frames,
        batch.next_action[:, sl],
        batch.delta[:, sl],
        batch.current[:, sl],
    )
    return logits[:, sl], delta[:, sl], view


@torch.no_grad()
def collect_players(
    model: torch.nn.Module, replays: Replays, starts: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Statistics per player, shape [2, SIZE]; their sum is `collect`'s vector."""
    was_training = model.training
    model.eval()
    stats = torch.zeros(2, SIZE, dtype=torch.float64, device=replays.device)
    for chunk in starts.split(batch_size):
        batch = replays.batch(chunk)
        logits, delta = model(batch.states, batch.actions, batch.frames)
        for p in (0, 1):
            stats[p] += batch_stats(*player_view(logits, delta, batch, p))
    model.train(was_training)
    return stats


@torch.no_grad()
def collect(
    model: torch.nn.Module,
    replays: Replays,
    starts: torch.Tensor,
    batch_size: int,
    autocast: Callable[[], Any] = contextlib.nullcontext,
) -> torch.Tensor:
    """The statistics vector of `model` over the windows `starts` (in eval mode, no grad)."""
    was_training = model.training
    model.eval()
    stats = torch.zeros(SIZE, dtype=torch.float64, device=replays.device)
    for chunk in starts.split(batch_size):
        batch = replays.batch(chunk)
        with autocast():
            logits, delta = model(batch.states, batch.actions, batch.frames)
        stats += batch_stats(logits, delta, batch)
    model.train(was_training)
    return stats
