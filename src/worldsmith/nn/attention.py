"""Scaled dot-product attention, the one place every model's attention goes through.

Models call `attention(q, k, v, ...)` with ``[B, heads, L, head_dim]`` tensors. Keeping a single
entry point lets `worldsmith.distributed` swap in context-parallel attention (each rank holding a
slice of the sequence) without the models knowing: `parallelize` installs a *sequence-parallel
hook* for the duration of each context-parallel block (see `distributed/context_parallel.py`).
Inside such a block, self-attention over the local slice is routed to the hook, which makes it
exact attention over the whole sequence (Ulysses all-to-all, or all-gathered keys/values); attention
whose keys are not the sharded sequence (cross-attention to text) stays local. A model may say so
explicitly with ``sequence_parallel=False`` (never routed) or ``True`` (always routed).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class SequenceParallelHook(Protocol):
    """What `distributed.context_parallel` installs: decides whether a call is over the sharded
    sequence, and computes it exactly across ranks."""

    def applies(self, q: torch.Tensor, k: torch.Tensor) -> bool: ...

    def __call__(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool,
        attn_mask: torch.Tensor | None, scale: float | None,
    ) -> torch.Tensor: ...  # fmt: skip


_hook: SequenceParallelHook | None = None


def set_sequence_parallel_hook(hook: SequenceParallelHook | None) -> SequenceParallelHook | None:
    """Install `hook` (None removes it); returns the previous one so callers can restore it."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    attn_mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """softmax(q k^T * scale + mask) v on this process's tensors, with grouped-query attention."""
    if k.shape[1] != q.shape[1]:
        if q.shape[1] % k.shape[1]:
            raise ValueError(f"query heads {q.shape[1]} not a multiple of key/value heads {k.shape[1]}")
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)  # [B, H, Lk, D]
        v = v.repeat_interleave(rep, dim=1)
    if _float32_backward(q, k, v) and _bf16_math_pays(q, k, causal):
        return _math_attention(q, k, v, attn_mask, scale)
    if _float32_backward(q, k, v):
        # CPU flash attention's backward in bfloat16/float16 runs 1.05-4x slower than in float32
        # (4x with 32 keys, cross-attention to text): under autocast training, attend in float32
        # (autocast would send scaled_dot_product_attention back to bfloat16: off for this call)
        mask = attn_mask if attn_mask is None or attn_mask.dtype == torch.bool else attn_mask.float()
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(
                q.float(), k.float(), v.float(), attn_mask=mask, is_causal=causal, scale=scale
            )
        return out.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal, scale=scale)


# Largest Lq * Lk for which bfloat16 training attention runs as plain matrix products (below).
# Measured on an AMD EPYC with AVX512_BF16, 1 thread, forward + backward, head_dim 32-64: 0.6x the
# time of the float32 flash kernel at 512 x 512, 0.8x at 1024 x 1024, 1.1x at 2048 x 2048.
BF16_MATH_MAX_SCORES = 1024 * 1024


def _bf16_math_pays(q: torch.Tensor, k: torch.Tensor, causal: bool) -> bool:
    """bfloat16 matmul attention beats float32 flash for short sequences, on CPUs whose oneDNN has
    native bfloat16 dot products (AVX512_BF16 / AMX); without them bfloat16 GEMMs are emulated."""
    return (
        q.dtype == torch.bfloat16
        and not causal
        and q.shape[-2] * k.shape[-2] <= BF16_MATH_MAX_SCORES
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def _math_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None, scale: float | None
) -> torch.Tensor:
    """softmax(q k^T * scale + mask) v as two bfloat16 GEMMs (float32 accumulation; the softmax
    accumulates in float32 and rounds P to bfloat16, as the flash kernel does before P v)."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    with torch.autocast(q.device.type, enabled=False):
        s = torch.matmul(q * scale, k.transpose(-1, -2))  # [B, H, Lq, Lk]
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            s = s.masked_fill(~attn_mask, torch.finfo(s.dtype).min)
        elif attn_mask is not None:
            s = s + attn_mask.to(s.dtype)
        return torch.matmul(torch.softmax(s, dim=-1), v)  # [B, H, Lq, Dh]


def _float32_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """Half-precision attention on CPU that autograd will differentiate."""
    return (
        q.device.type == "cpu"
        and q.dtype in (torch.bfloat16, torch.float16)
        and torch.is_grad_enabled()
        and (q.requires_grad or k.requires_grad or v.requires_grad)
    )


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    attn_mask: torch.Tensor | None = None,
    scale: float | None = None,
    sequence_parallel: bool | None = None,
) -> torch.Tensor:
    """softmax(q k^T * scale + mask) v for q ``[B, H, Lq, D]``, k/v ``[B, Hkv, Lk, D]``.

    Grouped-query attention: when k/v have fewer heads than q, each k/v head serves
    ``H // Hkv`` query heads. `attn_mask` is boolean (True = attend) or additive float.
    `sequence_parallel`: None routes self-attention to an installed context-parallel hook when the
    hook recognises the sharded sequence; False never routes; True always routes (error without hook).
    """
    hook = _hook
    if sequence_parallel is True and hook is None:
        raise RuntimeError("sequence_parallel=True but no context-parallel block is running")
    if hook is not None and sequence_parallel is not False and (sequence_parallel or hook.applies(q, k)):
        return hook(q, k, v, causal=causal, attn_mask=attn_mask, scale=scale)
    return local_attention(q, k, v, causal=causal, attn_mask=attn_mask, scale=scale)
