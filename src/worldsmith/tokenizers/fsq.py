"""Finite Scalar Quantization (Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple",
arXiv 2309.15505), the quantizer of the Cosmos discrete tokenizers (levels (8, 8, 8, 5, 5, 5)).

Each of the d channels is squashed into a bounded range and rounded to one of ``L_i`` values;
the implicit codebook is the grid of all combinations, ``prod(L_i)`` codes, with no codebook
to learn and no commitment loss. Gradients pass the rounding straight through (Sec. 3, Eq. 1):

    f(z)   = tanh(z + shift) * half_l - offset       (bound; offset 0.5 for even L)
    z_hat  = round_ste(f(z)) / (L // 2)               (codes in [-1, 1])
    index  = sum_i (z_hat_i * (L_i // 2) + L_i // 2) * basis_i,  basis = cumprod([1, L_0, ...])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from worldsmith.errors import ConfigError


def round_ste(z: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass (straight-through estimator)."""
    return z + (z.round() - z).detach()


class FSQ(nn.Module):
    """Quantize the channel dim of ``[B, d, ...]`` to the FSQ grid; ``len(levels) == d``."""

    def __init__(self, levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5), eps: float = 1e-3):
        super().__init__()
        if not levels or any(int(n) < 3 for n in levels):
            raise ConfigError(f"FSQ levels {levels!r} must be a non-empty list of integers >= 3")
        self.levels = tuple(int(n) for n in levels)
        self.eps = eps
        lv = torch.tensor(self.levels, dtype=torch.float64)
        basis = torch.cumprod(torch.tensor((1, *self.levels[:-1]), dtype=torch.int64), dim=0)
        self.register_buffer("_levels", lv.float(), persistent=False)
        self.register_buffer("_basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def _view(self, t: torch.Tensor, ndim: int) -> torch.Tensor:
        return t.view(1, -1, *([1] * (ndim - 2)))  # broadcast over channel dim 1

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash z into ``(-L/2, L/2)`` shifted so that rounding gives exactly L values."""
        lv = self._view(self._levels, z.ndim)
        half_l = (lv - 1) * (1 + self.eps) / 2
        offset = (lv.remainder(2) == 0).to(z.dtype) * 0.5
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, d, ...]`` float -> codes on the grid, in [-1, 1], straight-through gradient."""
        if z.shape[1] != self.dim:
            raise ValueError(f"FSQ expects {self.dim} channels, got {z.shape[1]}")
        half_width = self._view(torch.floor(self._levels / 2), z.ndim)
        return round_ste(self.bound(z.float())).to(z.dtype) / half_width

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """``[B, d, ...]`` codes -> ``[B, ...]`` int64 indices in ``[0, prod(levels))``."""
        half_width = self._view(torch.floor(self._levels / 2), codes.ndim)
        digits = (codes * half_width + half_width).round().long()  # [B, d, ...] in [0, L_i)
        return (digits * self._view(self._basis, codes.ndim)).sum(dim=1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """``[B, ...]`` int indices -> ``[B, d, ...]`` float codes."""
        if indices.dtype.is_floating_point:
            raise TypeError("FSQ indices must be an integer tensor")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            raise ValueError(f"FSQ indices must lie in [0, {self.codebook_size})")
        idx = indices.long().unsqueeze(1)  # [B, 1, ...]
        digits = (idx // self._view(self._basis, idx.ndim)) % self._view(self._levels.long(), idx.ndim)
        half_width = self._view(torch.floor(self._levels / 2), idx.ndim)
        return (digits.float() - half_width) / half_width  # [B, d, ...]

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (codes ``[B, d, ...]`` with straight-through gradient, indices ``[B, ...]``)."""
        codes = self.quantize(z)
        return codes, self.codes_to_indices(codes.detach())
