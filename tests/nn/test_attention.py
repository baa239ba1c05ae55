"""nn.attention: the formula, grouped-query heads, and routing to a context-parallel hook."""

from __future__ import annotations

import math

import pytest
import torch

from worldsmith.nn import attention as attn_lib
from worldsmith.nn.attention import attention


def reference(q, k, v, *, causal=False, mask=None, scale=None):
    """softmax(q k^T / sqrt(d) + mask) v written out, GQA by explicit head mapping."""
    H, Hkv = q.shape[1], k.shape[1]
    idx = torch.arange(H) // (H // Hkv)
    k, v = k[:, idx], v[:, idx]
    s = q @ k.transpose(-1, -2) * (scale or 1 / math.sqrt(q.shape[-1]))  # [B, H, Lq, Lk]
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool).triu(1), float("-inf"))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return s.softmax(-1) @ v


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_attention_matches_formula(causal, kv_heads):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 9, 8, generator=g)
    k, v = torch.randn(2, 2, kv_heads, 9, 8, generator=g)
    torch.testing.assert_close(attention(q, k, v, causal=causal), reference(q, k, v, causal=causal))
    mask = torch.rand(9, 9, generator=g) > 0.3
    mask[:, 0] = True
    torch.testing.assert_close(
        attention(q, k, v, attn_mask=mask, scale=0.2), reference(q, k, v, mask=mask, scale=0.2)
    )


@pytest.mark.parametrize("math_max", [0, attn_lib.BF16_MATH_MAX_SCORES])
@pytest.mark.parametrize("causal", [False, True])
def test_half_precision_training_attends_in_float32(causal, math_max, monkeypatch):
    """Under bfloat16 autocast with gradients, attention runs in float32 flash (faster backward on
    CPU) or, for short sequences on CPUs with native bfloat16 GEMMs, as bfloat16 matmuls: either way
    the output is the float32 formula to bfloat16 rounding, gradients flow in bfloat16."""
    monkeypatch.setattr(attn_lib, "BF16_MATH_MAX_SCORES", math_max)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, n, 16, generator=g).bfloat16().requires_grad_() for n in (24, 24, 24))
    mask = torch.rand(2, 1, 24, 24, generator=g) > 0.3
    mask[..., 0] = True  # no fully masked row
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attention(q, k, v, causal=causal, attn_mask=None if causal else mask)
    expected = reference(q.float(), k.float(), v.float(), causal=causal, mask=None if causal else mask)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected.bfloat16().float(), atol=1e-2, rtol=0)
    # flash in float32: rounded once; matmuls: P and the inputs of P v rounded too (a few ulp)
    ulps = 1 if math_max == 0 or causal else 4
    assert (out.float() - expected).abs().max() <= (expected.abs().max() * ulps * 2**-8).item() + 1e-6
    out.float().square().sum().backward()
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    reference(q32, k32, v32, causal=causal, mask=None if causal else mask).square().sum().backward()
    torch.testing.assert_close(q.grad.float(), q32.grad, atol=0.05 * q32.grad.abs().max().item(), rtol=0)
    assert q.grad.dtype == torch.bfloat16 and q.grad.abs().sum() > 0
    with torch.no_grad():  # inference keeps the half-precision kernel (its forward is the faster)
        assert not attn_lib._float32_backward(q, k, v)


def test_bad_head_counts():
    with pytest.raises(ValueError, match="multiple"):
        attention(torch.randn(1, 4, 3, 8), torch.randn(1, 3, 3, 8), torch.randn(1, 3, 3, 8))


class _Recorder:
    """A stand-in context-parallel hook that claims sequences of length 5."""

    def __init__(self):
        self.calls = 0

    def applies(self, q, k):
        return q.shape[2] == k.shape[2] == 5

    def __call__(self, q, k, v, *, causal, attn_mask, scale):
        self.calls += 1
        return torch.zeros_like(q)


def test_hook_routes_only_the_sharded_self_attention():
    hook = _Recorder()
    previous = attn_lib.set_sequence_parallel_hook(hook)
    try:
        x, text = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 3, 4)
        assert attention(x, x, x).abs().sum() == 0 and hook.calls == 1  # self-attention: routed
        attention(x, text, text)  # cross-attention to 3 text tokens: local
        attention(x, x, x, sequence_parallel=False)  # explicitly local
        assert hook.calls == 1
        attention(x, text, text, sequence_parallel=True)
        assert hook.calls == 2
    finally:
        attn_lib.set_sequence_parallel_hook(previous)
    with pytest.raises(RuntimeError, match="no context-parallel"):
        attention(x, x, x, sequence_parallel=True)
