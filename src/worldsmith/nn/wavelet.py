"""Haar wavelet patching of videos (Cosmos tokenizer, arXiv 2501.03575, Sec. 3.1).

The tokenizer's first step is not a learned layer: each level of a 3D discrete wavelet transform
(DWT) with the Haar filter splits every 2x2x2 block of a video into 8 subbands (low/high along
time, height and width), halving T, H and W and multiplying the channels by 8. The transform is
orthogonal, so `haar_idwt` inverts `haar_dwt` exactly (up to float rounding).

Per axis, with ``a = 1/sqrt(2)``: ``low = a (x[2i] + x[2i+1])``, ``high = a (x[2i] - x[2i+1])``;
each 3D level is further scaled by ``1/sqrt(8)`` (so the ``lll`` band is the block mean).
Subband order along channels is ``[lll, llh, lhl, lhh, hll, hlh, hhl, hhh]`` (letters: time,
height, width), each band holding all input channels: channel ``band * C + c``. This is the
layout of NVIDIA's released tokenizer weights.

`haar_patch` repeats the first frame ``p_t - 1`` times before the transform so that a clip of
``1 + k p_t`` frames gives ``1 + k`` patched frames, the first of which sees only frame 0
(causality); `haar_unpatch` drops those frames again. With ``temporal=False`` (image tokenizers)
only height and width are transformed: 4 subbands per level ``[ll, lh, hl, hh]``.
"""

from __future__ import annotations

import math

import torch


def _split(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unscaled Haar analysis along `dim`: (even + odd, even - odd) at half length (scale = 1/a)."""
    even, odd = x.unflatten(dim, (-1, 2)).unbind(dim + 1)
    return even + odd, even - odd


def _merge(low: torch.Tensor, high: torch.Tensor, dim: int) -> torch.Tensor:
    """Unscaled Haar synthesis along `dim`: interleave (low + high, low - high) to double length."""
    return torch.stack([low + high, low - high], dim=dim + 1).flatten(dim, dim + 1)


def haar_dwt(x: torch.Tensor, *, temporal: bool = True) -> torch.Tensor:
    """One DWT level: ``[B, C, T, H, W] -> [B, 8C, T/2, H/2, W/2]`` (or ``[B, 4C, T, H/2, W/2]``)."""
    bands = [x]
    dims = (2, 3, 4) if temporal else (3, 4)
    for dim in dims:  # time, then height, then width: band order lll, llh, ..., hhh
        bands = [half for band in bands for half in _split(band, dim)]
    # the per-axis a = 1/sqrt(2) and the level's 1/sqrt(2^d), applied once: 1 / 2^d
    return torch.cat(bands, dim=1) * (1.0 / 2 ** len(dims))  # [B, 2^d C, ...]


def haar_idwt(x: torch.Tensor, *, temporal: bool = True) -> torch.Tensor:
    """Inverse of `haar_dwt`: ``[B, 8C, T, H, W] -> [B, C, 2T, 2H, 2W]``."""
    dims = (2, 3, 4) if temporal else (3, 4)
    # inverse level scale sqrt(2^d) times the per-axis a^d = 1: the unscaled merges are exact
    bands = list(x.chunk(2 ** len(dims), dim=1))
    for dim in reversed(dims):  # undo width, then height, then time
        bands = [_merge(bands[i], bands[i + 1], dim) for i in range(0, len(bands), 2)]
    return bands[0]


def haar_patch(
    x: torch.Tensor, patch_size: int, *, temporal: bool = True, first_chunk: bool = True
) -> torch.Tensor:
    """Wavelet patching: ``[B, C, T, H, W] -> [B, C p^3, T', H/p, W/p]`` with ``log2(p)`` DWT levels.

    For video (``temporal=True``) and the first chunk, the first frame is repeated ``p - 1`` times
    first, so ``T = 1 + k p`` gives ``T' = 1 + k``. Later chunks of a stream (``first_chunk=False``)
    hold ``k p`` frames and give ``k``.
    """
    levels = int(math.log2(patch_size))
    if temporal and first_chunk and patch_size > 1:
        x = torch.cat([x[:, :, :1].expand(-1, -1, patch_size - 1, -1, -1), x], dim=2)  # [B, C, T+p-1, H, W]
    for _ in range(levels):
        x = haar_dwt(x, temporal=temporal)
    return x


def haar_unpatch(
    x: torch.Tensor, patch_size: int, *, temporal: bool = True, first_chunk: bool = True
) -> torch.Tensor:
    """Inverse of `haar_patch`: ``[B, C p^3, T', h, w] -> [B, C, T, h p, w p]``."""
    for _ in range(int(math.log2(patch_size))):
        x = haar_idwt(x, temporal=temporal)
    if temporal and first_chunk:
        x = x[:, :, patch_size - 1 :]
    return x
