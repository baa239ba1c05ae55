"""FSQ (Mentzer et al. 2023): grid round trip, codebook size, straight-through gradient, parity."""

from __future__ import annotations

import math

import pytest
import torch

from worldsmith.errors import ConfigError
from worldsmith.tokenizers.fsq import FSQ

LEVELS = (8, 8, 8, 5, 5, 5)


def test_codebook_size_and_indices_codes_round_trip():
    fsq = FSQ(LEVELS)
    assert fsq.codebook_size == math.prod(LEVELS) == 64_000
    idx = torch.arange(fsq.codebook_size).view(1, -1)
    codes = fsq.indices_to_codes(idx)  # [1, 6, N]
    assert codes.shape == (1, 6, 64_000)
    assert codes.min() >= -1 and codes.max() <= 1
    assert torch.equal(fsq.codes_to_indices(codes), idx)  # indices -> codes -> indices
    assert torch.unique(codes, dim=2).shape[2] == 64_000  # all codes distinct


def test_codes_indices_codes_round_trip_on_quantized_input():
    fsq = FSQ(LEVELS)
    z = torch.randn(2, 6, 3, 4, 4) * 3
    codes, idx = fsq(z)
    assert idx.shape == (2, 3, 4, 4) and idx.dtype == torch.int64
    torch.testing.assert_close(fsq.indices_to_codes(idx), codes)
    for i, n in enumerate(LEVELS):  # each channel takes at most n values
        assert torch.unique(codes[:, i]).numel() <= n


def test_straight_through_gradient():
    fsq = FSQ(LEVELS)
    z = torch.randn(1, 6, 5, requires_grad=True)
    fsq.quantize(z).sum().backward()
    # d/dz of round_ste(bound(z)) / half_width = bound'(z) / half_width (rounding is skipped)
    lv = torch.tensor(LEVELS, dtype=torch.float32).view(1, 6, 1)
    half_l = (lv - 1) * (1 + 1e-3) / 2
    shift = torch.atanh((lv.remainder(2) == 0).float() * 0.5 / half_l)
    expected = (1 - torch.tanh(z.detach() + shift) ** 2) * half_l / torch.floor(lv / 2)
    torch.testing.assert_close(z.grad, expected)


def test_parity_with_vector_quantize_pytorch():
    vq = pytest.importorskip("vector_quantize_pytorch")
    ref = vq.FSQ(levels=list(LEVELS))
    ours = FSQ(LEVELS)
    z = torch.randn(2, 6, 3, 4, 5) * 2  # [B, d, T, H, W]
    ref_out, ref_idx = ref(z)
    codes, idx = ours(z)
    torch.testing.assert_close(codes, ref_out)
    assert torch.equal(idx, ref_idx.long())
    torch.testing.assert_close(ours.indices_to_codes(idx), ref.indices_to_codes(ref_idx))


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="levels"):
        FSQ((8, 2))
    fsq = FSQ(LEVELS)
    with pytest.raises(ValueError, match=r"\[0, 64000\)"):
        fsq.indices_to_codes(torch.tensor([[64_000]]))
    with pytest.raises(ValueError, match="6 channels"):
        fsq.quantize(torch.randn(1, 4, 2))
