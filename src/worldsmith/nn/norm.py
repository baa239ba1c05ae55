"""Normalisation layers for video tensors ``[B, C, T, H, W]``."""

from __future__ import annotations

import torch
from torch import nn


class FrameGroupNorm(nn.Module):
    """GroupNorm applied to each frame on its own, so it never mixes time (causal).

    With ``num_groups=1`` (Cosmos tokenizer) the statistics run over (C, H, W) of each frame:
    a layer norm per frame with a per-channel affine. Computed in place on the
    ``[B, C, T, H, W]`` layout, with no transposes. Parameters ``weight [C]``, ``bias [C]``.
    """

    def __init__(self, channels: int, num_groups: int = 1, eps: float = 1e-6):
        super().__init__()
        if channels % num_groups:
            raise ValueError(f"channels {channels} not divisible by num_groups {num_groups}")
        self.num_groups, self.eps = num_groups, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        g = self.num_groups
        xg = x.view(B, g, C // g, T, H, W)
        var, mean = torch.var_mean(xg, dim=(2, 4, 5), keepdim=True, correction=0)  # [B, g, 1, T, 1, 1]
        scale = torch.rsqrt(var + self.eps)
        w = self.weight.view(1, g, C // g, 1, 1, 1)
        b = self.bias.view(1, g, C // g, 1, 1, 1)
        # y = (x - mean) * scale * w + b, folded into one multiply-add over the big tensor
        a = scale * w  # [B, g, C/g, T, 1, 1]
        return torch.addcmul(b - mean * a, xg, a).view(B, C, T, H, W)
