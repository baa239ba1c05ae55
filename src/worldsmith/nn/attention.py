"""Scaled dot-product attention, the one place every model's attention goes through.

Models call `attention(q, k, v, ...)` with ``[B, heads, L, head_dim]`` tensors. Keeping a single
entry point lets `worldsmith.distributed` swap in context-parallel attention (each rank holding a
slice of the sequence) without the models knowing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    attn_mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """softmax(q k^T * scale + mask) v for q ``[B, H, Lq, D]``, k/v ``[B, Hkv, Lk, D]``.

    Grouped-query attention: when k/v have fewer heads than q, each k/v head serves
    ``H // Hkv`` query heads. `attn_mask` is boolean (True = attend) or additive float.
    """
    if k.shape[1] != q.shape[1]:
        if q.shape[1] % k.shape[1]:
            raise ValueError(f"query heads {q.shape[1]} not a multiple of key/value heads {k.shape[1]}")
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)  # [B, H, Lk, D]
        v = v.repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal, scale=scale)
