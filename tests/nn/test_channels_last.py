"""Channels-last execution: every layer gives the plain layout's result and keeps the layout.

The tokenizer runs its encoder and decoder channels-last (convolutions as 2D oneDNN convolutions
over views); a layer that silently returned the plain layout would still be correct but would
send every later convolution down the slow path, so the layout itself is checked too.
"""

from __future__ import annotations

import pytest
import torch

from worldsmith.nn.causal_conv3d import CausalCache, CausalConv3d, is_channels_last
from worldsmith.nn.norm import FrameGroupNorm
from worldsmith.tokenizers.blocks import (
    CausalTemporalAttention,
    SpatialAttention,
    _avg_pool,
    _repeat_time,
    _upsample_hw,
)
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset

CL = torch.channels_last_3d


def _cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=CL)


@pytest.mark.parametrize(
    "kernel,stride,padding",
    [
        ((3, 1, 1), 1, 0),
        ((1, 3, 3), 1, 1),
        ((1, 1, 1), 1, 0),
        ((3, 1, 1), (2, 1, 1), 0),
        ((1, 3, 3), (1, 2, 2), 0),
        ((3, 3, 3), 1, 1),  # the general kernel: a 3D convolution, re-laid-out
    ],
)
@pytest.mark.parametrize("batch", [1, 2])
def test_conv_channels_last_equals_plain(kernel, stride, padding, batch):
    torch.manual_seed(0)
    conv = CausalConv3d(6, 5, kernel, stride=stride, padding=padding)
    x = torch.randn(batch, 6, 7, 8, 9)
    y = conv(_cl(x))
    assert is_channels_last(y)
    torch.testing.assert_close(y, conv(x), atol=1e-5, rtol=1e-5)
    # gradients agree too (the tokenizer trains channels-last)
    xa, xb = x.clone().requires_grad_(), _cl(x).requires_grad_()
    conv(xa).square().sum().backward()
    ga = (xa.grad.clone(), conv.weight.grad.clone())
    conv.zero_grad()
    conv(xb).square().sum().backward()
    torch.testing.assert_close(xb.grad, ga[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(conv.weight.grad, ga[1], atol=1e-4, rtol=1e-4)


def test_conv_channels_last_streams_exactly():
    torch.manual_seed(0)
    conv = CausalConv3d(4, 4, (3, 1, 1))
    conv.cache_key = "c"
    x = _cl(torch.randn(1, 4, 9, 5, 5))
    cache, outs = CausalCache(), []
    for chunk in (x[:, :, :1], x[:, :, 1:5], x[:, :, 5:]):
        step = cache.step()
        outs.append(conv(_cl(chunk), step))
        cache = step.finish()
    torch.testing.assert_close(torch.cat(outs, 2), conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("silu", [False, True])
def test_group_norm_channels_last_equals_plain(groups, silu):
    torch.manual_seed(0)
    norm = FrameGroupNorm(8, num_groups=groups)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 8, 3, 5, 6) * 3 + 2
    with torch.no_grad():
        y = norm(_cl(x), silu=silu)
    assert is_channels_last(y)
    torch.testing.assert_close(y, norm(x, silu=silu).detach(), atol=1e-5, rtol=1e-5)
    # the autograd branch: same values and gradients as the plain layout
    xa, xb = x.clone().requires_grad_(), _cl(x).requires_grad_()
    ya, yb = norm(xa, silu=silu), norm(xb, silu=silu)
    torch.testing.assert_close(yb, ya, atol=1e-5, rtol=1e-5)
    (ya * torch.arange(ya.numel()).view_as(ya).sin()).sum().backward()
    (yb * torch.arange(yb.numel()).view_as(yb).sin()).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("module", [SpatialAttention, CausalTemporalAttention])
@pytest.mark.parametrize("batch", [1, 2])
def test_attention_channels_last_equals_plain(module, batch):
    """The channels-last path runs the projections as 1x1 convolutions: same values and gradients,
    layout kept."""
    torch.manual_seed(0)
    attn = module(8)
    x = torch.randn(batch, 8, 5, 3, 4)
    with torch.no_grad():
        y = attn(_cl(x))
    assert is_channels_last(y)
    torch.testing.assert_close(y, attn(x).detach(), atol=1e-5, rtol=1e-5)
    xa, xb = x.clone().requires_grad_(), _cl(x).requires_grad_()
    attn(xa).square().sum().backward()
    grads = [xa.grad.clone()] + [p.grad.clone() for p in attn.parameters()]
    attn.zero_grad()
    attn(xb).square().sum().backward()
    for got, want in zip([xb.grad] + [p.grad for p in attn.parameters()], grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_temporal_attention_channels_last_streams_exactly():
    torch.manual_seed(0)
    attn = CausalTemporalAttention(8)
    attn.cache_key = "a"
    x = torch.randn(2, 8, 9, 3, 4)
    cache, outs = CausalCache(), []
    with torch.no_grad():
        for chunk in (x[:, :, :1], x[:, :, 1:5], x[:, :, 5:]):
            step = cache.step()
            outs.append(attn(_cl(chunk), step))
            cache = step.finish()
        torch.testing.assert_close(torch.cat(outs, 2), attn(x), atol=1e-5, rtol=1e-5)


def test_resampling_helpers_keep_layout_and_values():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 8, 10)
    for fn in (
        lambda t: _avg_pool(t, (1, 2, 2)),
        lambda t: _avg_pool(t, (2, 1, 1)),
        _repeat_time,
        _upsample_hw,
    ):
        y = fn(_cl(x))
        assert is_channels_last(y)
        torch.testing.assert_close(y, fn(x))


def test_tokenizer_runs_channels_last_inside():
    """Every convolution inside the encoder and decoder receives a channels-last input, and the
    latents come back plainly contiguous and the reconstruction in the plain layout."""
    torch.manual_seed(0)
    tok = CausalTokenizer(get_preset("tiny-CV4x8x8")).eval()
    plain: list[str] = []

    def hook(name):
        def check(module, args):
            if not is_channels_last(args[0]):
                plain.append(name)

        return check

    for name, module in tok.named_modules():
        if isinstance(module, CausalConv3d) and name.startswith(("encoder.", "decoder.")):
            module.register_forward_pre_hook(hook(name))
    with torch.no_grad():
        z = tok.encode(torch.randn(1, 3, 9, 32, 32))
        video = tok.decode(z)
    assert plain == []
    assert z.is_contiguous() and not is_channels_last(video)
