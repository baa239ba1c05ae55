"""Normalisation layers for video tensors ``[B, C, T, H, W]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith.nn.causal_conv3d import as_frames, from_frames, is_channels_last


class FrameGroupNorm(nn.Module):
    """GroupNorm applied to each frame on its own, so it never mixes time (causal).

    With ``num_groups=1`` (Cosmos tokenizer) the statistics run over (C, H, W) of each frame:
    a layer norm per frame with a per-channel affine. Computed on the ``[B, C, T, H, W]`` layout,
    with no transposes. Parameters ``weight [C]``, ``bias [C]``.
    """

    def __init__(self, channels: int, num_groups: int = 1, eps: float = 1e-6):
        super().__init__()
        if channels % num_groups:
            raise ValueError(f"channels {channels} not divisible by num_groups {num_groups}")
        self.num_groups, self.eps = num_groups, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, *, silu: bool = False) -> torch.Tensor:
        """Normalise ``x [B, C, T, H, W]``; with ``silu=True`` return ``SiLU(GN(x))`` (in place when
        no gradient is recorded, saving one full-size tensor)."""
        B, C, T, H, W = x.shape
        g, S = self.num_groups, H * W
        if is_channels_last(x):
            return self._forward_channels_last(x, silu)
        xs = x.reshape(B, g, C // g, T, S)
        # Two-pass statistics from fast contiguous reductions over H*W (torch.var_mean over the
        # strided (C, H, W) dims is ~10x slower on CPU): per (channel, frame) mean m_c, then the
        # group's variance by the law of total variance, mean_c(var_c + (m_c - mean)^2).
        m_c = xs.mean(-1, keepdim=True)  # [B, g, C/g, T, 1]
        d = xs - m_c  # [B, g, C/g, T, S]
        var_c = torch.linalg.vecdot(d, d).unsqueeze(-1) / S  # [B, g, C/g, T, 1]
        mean = m_c.mean(2, keepdim=True)  # [B, g, 1, T, 1]
        var = (var_c + (m_c - mean).square()).mean(2, keepdim=True)
        a = torch.rsqrt(var + self.eps) * self.weight.view(1, g, C // g, 1, 1)  # [B, g, C/g, T, 1]
        shift = self.bias.view(1, g, C // g, 1, 1) + (m_c - mean) * a
        # y = (x - mean) a + b = (x - m_c) a + (b + (m_c - mean) a): one multiply-add over d
        if torch.is_grad_enabled() and (d.requires_grad or a.requires_grad):
            y = torch.addcmul(shift, d, a)
            return (F.silu(y) if silu else y).view(B, C, T, H, W)
        y = torch.addcmul(shift, d, a, out=d)
        return (F.silu(y, inplace=True) if silu else y).view(B, C, T, H, W)

    def _forward_channels_last(self, x: torch.Tensor, silu: bool) -> torch.Tensor:
        """The same on a channels-last input (``[B, T, H, W, C]`` in memory): PyTorch's fused group
        norm over the frames as a 2D channels-last batch ``[B*T, C, H, W]`` (each frame is one
        sample, so statistics never mix time; about 2x faster than our two-pass reductions here).
        The output is channels-last too."""
        y = F.group_norm(as_frames(x), self.num_groups, self.weight, self.bias, self.eps)
        if silu:
            y = F.silu(y) if torch.is_grad_enabled() and y.requires_grad else F.silu(y, inplace=True)
        return from_frames(y, x.shape[0])
