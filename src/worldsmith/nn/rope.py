"""Rotary position embeddings (RoPE; Su et al. 2021, "RoFormer", arXiv 2104.09864), 1D and 3D.

A position ``p`` rotates each pair of channels ``(x_i, x_{i + D/2})`` by the angle ``p * f_i`` (the
"rotate-half" pairing used by GPT-NeoX, Llama and the Cosmos DiT). For video the head dimension is
split into a time, a height and a width part, each with its own frequencies (Cosmos, arXiv 2501.03575,
Sec. 5.1: 3D RoPE). Per-axis ``scale`` stretches an axis' wavelengths by the NTK-aware rule
``theta' = theta * scale ** (d / (d - 2))`` so a model trained on short clips extrapolates.

Tables are ``(cos, sin)`` of shape ``[L, D]``; `apply_rope` takes ``x [B, H, L, D]``.
"""

from __future__ import annotations

import torch


def _inv_freq(dim: int, theta: float, device: torch.device | None) -> torch.Tensor:
    """Frequencies ``theta ** (-2i / dim)`` for ``i < dim // 2`` (RoFormer Eq. 15)."""
    return 1.0 / theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32)[: dim // 2] / dim)


def _ntk_theta(theta: float, scale: float, dim: int) -> float:
    return theta * scale ** (dim / (dim - 2)) if dim > 2 else theta


def rope_1d(
    head_dim: int, positions: torch.Tensor | int, *, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables ``[L, head_dim]`` for 1D positions (an int L means ``0..L-1``)."""
    if head_dim % 2:
        raise ValueError(f"RoPE head_dim must be even, got {head_dim}")
    pos = torch.arange(positions, dtype=torch.float32) if isinstance(positions, int) else positions.float()
    angles = torch.outer(pos, _inv_freq(head_dim, theta, pos.device))  # [L, D/2]
    angles = torch.cat([angles, angles], dim=-1)  # [L, D]
    return angles.cos(), angles.sin()


def split_3d(head_dim: int) -> tuple[int, int, int]:
    """Channels of a head given to (time, height, width): h = w = 2 * (D // 6), t gets the rest.

    For the 7B Cosmos DiT (D = 128) this is t = 44, h = w = 42.
    """
    dim_hw = head_dim // 6 * 2
    return head_dim - 2 * dim_hw, dim_hw, dim_hw


def rope_3d(
    head_dim: int,
    grid: tuple[int, int, int],
    *,
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
    theta: float = 10000.0,
    fps: float | None = None,
    base_fps: float = 24.0,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables ``[T*H*W, head_dim]`` for a ``(T, H, W)`` token grid, flattened t-major.

    With `fps`, time positions are measured in frames at `base_fps` (``t * base_fps / fps``) so
    clips at different frame rates share one clock.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE head_dim must be even, got {head_dim}")
    T, H, W = grid
    dims = split_3d(head_dim)
    freqs = [_inv_freq(d, _ntk_theta(theta, s, d), device) for d, s in zip(dims, scale, strict=True)]
    t = torch.arange(T, device=device, dtype=torch.float32)
    if fps is not None:
        t = t / fps * base_fps
    h = torch.arange(H, device=device, dtype=torch.float32)
    w = torch.arange(W, device=device, dtype=torch.float32)
    a_t = torch.outer(t, freqs[0])[:, None, None, :].expand(T, H, W, -1)  # [T, H, W, dt/2]
    a_h = torch.outer(h, freqs[1])[None, :, None, :].expand(T, H, W, -1)  # [T, H, W, dh/2]
    a_w = torch.outer(w, freqs[2])[None, None, :, :].expand(T, H, W, -1)  # [T, H, W, dw/2]
    angles = torch.cat([a_t, a_h, a_w], dim=-1).reshape(T * H * W, head_dim // 2)  # [L, D/2]
    angles = torch.cat([angles, angles], dim=-1)  # [L, D]
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x [B, H, L, D]`` by tables ``[L, D]`` (computed in float32, returned in x.dtype).

    ``rotate_half(x) * sin`` is computed as ``roll(x, D/2) * (-sin_1, sin_2)``: the same products,
    with one kernel over `x` instead of a negation and a concatenation (and the sign flip on the
    small table), then one fused multiply-add.
    """
    xf = x.float()
    half = sin.shape[-1] // 2
    sin_signed = torch.cat([-sin[..., :half], sin[..., half:]], dim=-1)  # [L, D]
    return torch.addcmul(xf * cos, xf.roll(half, dims=-1), sin_signed).to(x.dtype)
