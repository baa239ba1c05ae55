"""Causal conv: equals Conv3d on a replicate-left-padded clip, ignores the future, streams exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from worldsmith.nn.causal_conv3d import CausalCache, CausalConv3d


def _reference(conv: CausalConv3d, x: torch.Tensor) -> torch.Tensor:
    pad = conv.time_pad
    xp = torch.cat([x[:, :, :1].repeat(1, 1, pad, 1, 1), x], dim=2)  # [B, C, pad+T, H, W]
    p = conv.padding
    return F.conv3d(F.pad(xp, (p, p, p, p)), conv.weight, conv.bias, stride=conv.stride)


@pytest.mark.parametrize(
    "kernel,stride,padding",
    [((3, 1, 1), 1, 0), ((1, 3, 3), 1, 1), ((3, 3, 3), 1, 1), ((1, 1, 1), 1, 0), ((3, 1, 1), (2, 1, 1), 0)],
)
def test_matches_padded_conv3d_and_is_causal(kernel, stride, padding):
    torch.manual_seed(0)
    conv = CausalConv3d(4, 5, kernel, stride=stride, padding=padding)
    x = torch.randn(2, 4, 7, 6, 5)
    y = conv(x)
    torch.testing.assert_close(y, _reference(conv, x))
    x2 = x.clone()
    x2[:, :, 4:] = torch.randn_like(x2[:, :, 4:])  # change frames >= 4
    y2 = conv(x2)
    st = conv.stride[0]
    keep = (4 - 1) // st + 1 if st > 1 else 4  # outputs whose window ends before frame 4
    torch.testing.assert_close(y2[:, :, :keep], y[:, :, :keep])
    assert not torch.allclose(y2, y)


@pytest.mark.parametrize("stride", [1, 2])
def test_chunked_equals_whole(stride):
    torch.manual_seed(0)
    conv = CausalConv3d(3, 3, (3, 1, 1), stride=(stride, 1, 1))
    conv.cache_key = "c"
    x = torch.randn(1, 3, 11, 4, 4)
    whole = conv(x)
    cache, outs = CausalCache(), []
    for sl in (slice(0, 3), slice(3, 7), slice(7, 11)):  # odd first chunk, then even ones
        step = cache.step()
        outs.append(conv(x[:, :, sl], step))
        cache = step.finish()
    assert cache.chunks == 3
    torch.testing.assert_close(torch.cat(outs, dim=2), whole)


def test_rejects_even_spatial_kernel():
    with pytest.raises(ValueError, match="odd"):
        CausalConv3d(1, 1, (1, 2, 2))


@pytest.mark.parametrize("kt,frames", [(3, 1), (3, 2), (4, 2), (2, 5), (5, 3)])
def test_temporal_matmul_path_equals_padded_conv_values_and_gradients(kt, frames):
    # whole-clip (kt, 1, 1) convs run as time-shifted GEMMs; fewer frames than taps included
    torch.manual_seed(0)
    conv = CausalConv3d(4, 5, (kt, 1, 1)).double()
    x = torch.randn(2, 4, frames, 3, 2, dtype=torch.float64, requires_grad=True)
    y, ref = conv(x), _reference(conv, x)
    torch.testing.assert_close(y, ref)
    g = torch.randn_like(y)
    for a, b in zip(
        torch.autograd.grad(y, [x, conv.weight, conv.bias], g),
        torch.autograd.grad(ref, [x, conv.weight, conv.bias], g),
        strict=True,
    ):
        torch.testing.assert_close(a, b)
    with torch.inference_mode():
        torch.testing.assert_close(conv(x.detach()), ref.detach())


def test_temporal_conv_under_autocast():
    # the in-place GEMM path is skipped under autocast (in-place ops are not autocast)
    torch.manual_seed(0)
    conv = CausalConv3d(4, 5, (3, 1, 1))
    x = torch.randn(2, 4, 5, 3, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
        ref = F.conv3d(torch.cat([x[:, :, :1], x[:, :, :1], x], 2), conv.weight, conv.bias)
    assert y.dtype == ref.dtype
    torch.testing.assert_close(y.float(), ref.float())
    y.float().sum().backward()
    assert x.grad is not None
