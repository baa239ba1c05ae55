"""Embeddings of scalars: sinusoidal features of a (continuous) timestep or noise level.

Vaswani et al. 2017 (Sec. 3.5) positional features, used for diffusion timesteps since DDPM
(Ho et al. 2020); EDM feeds ``c_noise = ln(sigma) / 4`` through them (Karras et al. 2022, Table 1).
"""

from __future__ import annotations

import math

import torch


def sinusoidal_embedding(
    t: torch.Tensor, dim: int, *, max_period: float = 10000.0, cos_first: bool = True
) -> torch.Tensor:
    """Features ``[cos(t f_i), sin(t f_i)]`` with ``f_i = max_period ** (-i / (dim / 2))``.

    Args:
        t: ``[N]`` float timesteps (fractional values welcome).
        dim: even output width.
        cos_first: order ``[cos, sin]`` (the DiT/Cosmos convention) instead of ``[sin, cos]``.

    Returns:
        ``[N, dim]`` float32 features.
    """
    if t.ndim != 1:
        raise ValueError(
            f"sinusoidal_embedding expects a 1-D tensor of timesteps, got shape {tuple(t.shape)}"
        )
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # [N, dim/2]
    parts = [torch.cos(args), torch.sin(args)] if cos_first else [torch.sin(args), torch.cos(args)]
    return torch.cat(parts, dim=-1)  # [N, dim]
