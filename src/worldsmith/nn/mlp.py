"""Transformer feed-forward blocks: the GELU MLP (Vaswani et al. 2017; DiT, Cosmos) and SwiGLU
(Shazeer 2020, "GLU Variants Improve Transformer"; Llama)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """``fc2(gelu(fc1(x)))`` with hidden width ``ratio * dim`` (exact erf GELU)."""

    def __init__(self, dim: int, hidden: int, *, bias: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    """``w2(silu(w1 x) * w3 x)`` (Shazeer 2020, Eq. 6)."""

    def __init__(self, dim: int, hidden: int, *, bias: bool = False):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=bias)
        self.w3 = nn.Linear(dim, hidden, bias=bias)
        self.w2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))
