"""A pure-PyTorch Mamba-2 block (the SSD "state space duality" form), no CUDA-only kernels.

Follows the reference `ssd_minimal_discrete` of Dao & Gu (2024), with one B/C group shared
by all heads. The sequence is cut into chunks: inside a chunk the SSM is computed as a
masked attention-like product; across chunks a small recurrence carries the states. A
window no longer than one chunk (the trainer's windows: 16 or 32 frames, chunk 64) is a
single chunk: the quadratic form alone, with no state to materialise. Pure torch ops
(einsum, cumsum, exp), so it runs on CPU and compiles with torch.compile.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def segsum(x: torch.Tensor) -> torch.Tensor:
    """[..., T] -> [..., T, T] with out[i, j] = sum(x[j+1..i]) for j <= i, else -inf."""
    t = x.size(-1)
    x = x[..., None].expand(*x.shape, t)
    below = torch.tril(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=-1)
    sums = torch.cumsum(x.masked_fill(~below, 0), dim=-2)
    keep = torch.tril(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=0)
    return sums.masked_fill(~keep, -torch.inf)


def ssd(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, chunk: int
) -> torch.Tensor:
    """y_t = sum_{s<=t} C_t . (prod_{s<r<=t} exp(a_r)) B_s x_s, computed chunkwise.

    x: [batch, L, heads, P] (already scaled by dt), a: [batch, L, heads] (A * dt, negative),
    b, c: [batch, L, N]. L must be at most `chunk` (one chunk, computed in the quadratic,
    attention-like form, with no state to carry) or a multiple of it. Returns [batch, L, heads, P].
    """
    bsz, length, heads, p = x.shape
    if length <= chunk:
        weights = torch.einsum("bln,bsn->bls", c, b)[:, None] * torch.exp(segsum(a.transpose(1, 2)))
        return torch.einsum("bhls,bshp->blhp", weights, x)
    n, nc = b.size(-1), length // chunk
    x = x.reshape(bsz, nc, chunk, heads, p)
    b, c = b.reshape(bsz, nc, chunk, n), c.reshape(bsz, nc, chunk, n)
    a = a.reshape(bsz, nc, chunk, heads).permute(0, 3, 1, 2)  # [b, h, c, l]
    a_cum = torch.cumsum(a, dim=-1)
    # 1. within each chunk: a masked "attention" C B^T weighted by the decays
    scores = torch.einsum("bcln,bcsn->bcls", c, b)
    weights = scores[:, None] * torch.exp(segsum(a))  # [b, h, c, l, s]
    y_diag = torch.einsum("bhcls,bcshp->bclhp", weights, x)
    # 2. the state each chunk leaves behind
    decay_states = torch.exp(a_cum[..., -1:] - a_cum)  # [b, h, c, l]
    x_decayed = x * decay_states.permute(0, 2, 3, 1)[..., None]  # [b, c, l, h, p]
    states = torch.einsum("bcln,bclhp->bchpn", b, x_decayed)
    # 3. carry states across chunks
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(a_cum[..., -1], (1, 0))))  # [b, h, c+1, c+1]
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    # 4. what the carried-in state contributes to each position
    y_off = (
        torch.einsum("bcln,bchpn->bclhp", c, states)
        * torch.exp(a_cum).permute(0, 2, 3, 1)[..., None]
    )
    return (y_diag + y_off).reshape(bsz, length, heads, p)


class GatedRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        x = x * F.silu(gate)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba2Mixer(nn.Module):
    """in_proj -> causal depthwise conv on (x, B, C) -> SSD -> gated RMSNorm -> out_proj."""

    def __init__(self, d_model: int, *, expand: int = 2, headdim: int = 32, d_state: int = 32,
                 d_conv: int = 4, chunk: int = 64) -> None:  # fmt: skip
        super().__init__()
        self.d_inner = expand * d_model
        self.heads = self.d_inner // headdim
        self.headdim, self.d_state, self.chunk = headdim, d_state, chunk
        conv_dim = self.d_inner + 2 * d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * d_state + self.heads, bias=False)
        self.conv_weight = nn.Parameter(
            torch.empty(d_conv, conv_dim).uniform_(-1, 1) / math.sqrt(d_conv)
        )
        self.conv_bias = nn.Parameter(torch.zeros(conv_dim))
        dt = torch.exp(torch.rand(self.heads) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.empty(self.heads).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm = GatedRMSNorm(self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def causal_conv(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise causal convolution over time, [b, L, C] -> [b, L, C], as shifted sums."""
        width, length = self.conv_weight.size(0), x.size(1)
        padded = F.pad(x, (0, 0, width - 1, 0))
        out = self.conv_bias + padded[:, :length] * self.conv_weight[0]
        for k in range(1, width):
            out = out + padded[:, k : k + length] * self.conv_weight[k]
        return out

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        bsz, length, _ = u.shape
        z, xbc, dt = self.in_proj(u).split(
            [self.d_inner, self.d_inner + 2 * self.d_state, self.heads], dim=-1
        )
        xbc = F.silu(self.causal_conv(xbc))
        x, b, c = xbc.split([self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # [b, L, h]
        a = -torch.exp(self.A_log.float())
        x = x.reshape(bsz, length, self.heads, self.headdim)
        # causal: padding at the end does not change earlier outputs
        pad = (-length) % self.chunk if length > self.chunk else 0
        xs, a_dt, b, c = (
            F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (x * dt[..., None], a * dt, b, c)
        )
        y = ssd(xs, a_dt, b, c, self.chunk)
        y = y[:, :length] + x * self.D[:, None]
        return self.out_proj(self.norm(y.reshape(bsz, length, self.d_inner), z))


class Mamba2Block(nn.Module):
    def __init__(self, d_model: int, **kw: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model)
        self.mixer = Mamba2Mixer(d_model, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))
