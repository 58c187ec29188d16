"""The world models: a shared frame embedding, one of four backbones, a shared head.

    frame t  -> Linear(both players' x, y, vx, vy, damage, embedded action and action frame)
    window   -> backbone (mlp | gru | transformer | mamba2) -> a vector for the window
    vector   -> head: next action logits [2 players, NUM_ACTIONS] and position change [2, 2]

Sizes (`train.size`): `small` is for CPU smoke runs; `medium` is a GPU model of roughly
80-100M parameters, with widths that are multiples of 128 for tensor cores.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainward.train.actions import NUM_ACTIONS
from trainward.train.data import MAX_ACTION_FRAME, STATE_FEATURES
from trainward.train.mamba2 import Mamba2Block

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "small": {
        "mlp": {"d_model": 32, "hidden": 256, "layers": 2},
        "gru": {"d_model": 64, "layers": 1},
        "transformer": {"d_model": 64, "layers": 2, "heads": 4},
        "mamba2": {"d_model": 64, "layers": 2, "headdim": 16, "d_state": 16},
    },
    "medium": {
        "mlp": {"d_model": 256, "hidden": 4096, "layers": 4},
        "gru": {"d_model": 1024, "layers": 2},
        "transformer": {"d_model": 1024, "layers": 8, "heads": 8},
        "mamba2": {"d_model": 1024, "layers": 12, "headdim": 64, "d_state": 64},
    },
}


class FrameEmbed(nn.Module):
    """One frame -> a vector: both players' state, and embeddings of their action and of
    how many frames it has run (a conjunction a later layer can read off: "jab, frame 7")."""

    def __init__(self, d_model: int, action_dim: int = 32) -> None:
        super().__init__()
        self.action = nn.Embedding(NUM_ACTIONS, action_dim)
        self.frame = nn.Embedding(MAX_ACTION_FRAME, action_dim)
        self.proj = nn.Linear(2 * STATE_FEATURES + 2 * action_dim, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self, states: torch.Tensor, actions: torch.Tensor, frames: torch.Tensor
    ) -> torch.Tensor:
        played = self.action(actions) + self.frame(frames)  # [B, K, 2, action_dim]
        return self.norm(self.proj(torch.cat([states.flatten(-2), played.flatten(-2)], dim=-1)))


class MLP(nn.Module):
    def __init__(self, d_model: int, window: int, hidden: int, layers: int) -> None:
        super().__init__()
        dims = [d_model * window] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in itertools.pairwise(dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers:
            x = F.gelu(layer(x))
        return x


class GRU(nn.Module):
    def __init__(self, d_model: int, layers: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(d_model, d_model, num_layers=layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][:, -1]


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # the whole window is the past: no mask
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class TransformerBlock(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.out = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Transformer(nn.Module):
    def __init__(self, d_model: int, window: int, layers: int, heads: int) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(window, d_model))
        self.blocks = nn.ModuleList(TransformerBlock(d_model, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos
        for block in self.blocks:
            x = block(x)
        return self.ln(x[:, -1])


class Mamba2(nn.Module):
    def __init__(self, d_model: int, layers: int, headdim: int, d_state: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            Mamba2Block(d_model, headdim=headdim, d_state=d_state) for _ in range(layers)
        )
        self.norm = nn.RMSNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, -1])


class WorldModel(nn.Module):
    def __init__(self, arch: str, size: str, window: int) -> None:
        super().__init__()
        spec = dict(SIZES[size][arch])
        self.embed = FrameEmbed(spec["d_model"])
        self.backbone = _backbone(arch, window, spec)
        width = spec["hidden"] if arch == "mlp" else spec["d_model"]
        self.head = nn.Linear(width, 2 * NUM_ACTIONS + 4)

    def forward(
        self, states: torch.Tensor, actions: torch.Tensor, frames: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """states [B, K, 2, 5], actions and frames [B, K, 2] -> logits [B, 2, A], delta [B, 2, 2]."""
        out = self.head(self.backbone(self.embed(states, actions, frames)))
        logits, delta = out.split([2 * NUM_ACTIONS, 4], dim=-1)
        return logits.view(-1, 2, NUM_ACTIONS), delta.view(-1, 2, 2)


def _backbone(arch: str, window: int, spec: dict[str, Any]) -> nn.Module:
    if arch == "mlp":
        return MLP(spec["d_model"], window, spec["hidden"], spec["layers"])
    if arch == "gru":
        return GRU(spec["d_model"], spec["layers"])
    if arch == "transformer":
        return Transformer(spec["d_model"], window, spec["layers"], spec["heads"])
    if arch == "mamba2":
        return Mamba2(spec["d_model"], spec["layers"], spec["headdim"], spec["d_state"])
    raise ValueError(f"unknown arch {arch!r}; expected mlp, gru, transformer or mamba2")


def build_model(arch: str, size: str, window: int) -> WorldModel:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected {', '.join(SIZES)}")
    return WorldModel(arch, size, window)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
