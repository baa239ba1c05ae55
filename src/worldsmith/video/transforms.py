"""Video tensor transforms.

I/O layout: uint8 ``[T, H, W, 3]``. Model layout: float ``[C, T, H, W]`` in [-1, 1] (batched:
``[B, C, T, H, W]``). Resizing keeps the aspect ratio; cropping is centred.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def to_model(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> float32 ``[3, T, H, W]`` in [-1, 1]."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 [T, H, W, 3], got {frames.dtype} {tuple(frames.shape)}")
    x = frames.permute(3, 0, 1, 2).float()  # [C, T, H, W]
    return x / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float ``[3, T, H, W]`` in [-1, 1] -> uint8 ``[T, H, W, 3]`` (clamped, rounded)."""
    if x.ndim != 4 or x.shape[0] != 3:
        raise ValueError(f"expected [3, T, H, W], got {tuple(x.shape)}")
    y = ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return y.permute(1, 2, 3, 0).contiguous()  # [T, H, W, C]


def resize(frames: torch.Tensor, size: tuple[int, int], *, antialias: bool = True) -> torch.Tensor:
    """Resize uint8 ``[T, H, W, 3]`` to exactly (height, width) (bilinear, antialiased)."""
    h, w = size
    x = frames.permute(0, 3, 1, 2).float()  # [T, 3, H, W]
    x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=antialias, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()  # [T, H, W, 3]


def resize_short_side(frames: torch.Tensor, short: int) -> torch.Tensor:
    """Resize so that the shorter side is `short`, keeping the aspect ratio."""
    _, h, w, _ = frames.shape
    scale = short / min(h, w)
    return resize(frames, (max(1, round(h * scale)), max(1, round(w * scale))))


def center_crop(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the centre (height, width) of ``[T, H, W, 3]``."""
    _, h, w, _ = frames.shape
    ch, cw = size
    if ch > h or cw > w:
        raise ValueError(f"crop {size} is larger than the frames ({h}, {w})")
    top, left = (h - ch) // 2, (w - cw) // 2
    return frames[:, top : top + ch, left : left + cw]


def resize_center_crop(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Scale to cover (height, width) keeping the aspect ratio, then crop the centre."""
    _, h, w, _ = frames.shape
    ch, cw = size
    scale = max(ch / h, cw / w)
    nh, nw = max(ch, math.ceil(h * scale - 1e-6)), max(cw, math.ceil(w * scale - 1e-6))
    return center_crop(resize(frames, (nh, nw)), size)
