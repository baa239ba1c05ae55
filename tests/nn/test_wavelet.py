"""Haar patching: exact inverse, block-mean low band, and the released-weights layout (diffusers)."""

from __future__ import annotations

import pytest
import torch

from worldsmith.nn.wavelet import haar_dwt, haar_idwt, haar_patch, haar_unpatch


@pytest.mark.parametrize("temporal", [True, False])
def test_dwt_is_exactly_invertible(temporal):
    x = torch.randn(2, 3, 4, 8, 6, dtype=torch.float64)
    y = haar_dwt(x, temporal=temporal)
    assert y.shape == ((2, 24, 2, 4, 3) if temporal else (2, 12, 4, 4, 3))
    torch.testing.assert_close(haar_idwt(y, temporal=temporal), x, atol=1e-12, rtol=0)
    # orthogonal: energy is preserved up to the 1/sqrt(2^d) level scaling
    d = 3 if temporal else 2
    torch.testing.assert_close(y.pow(2).sum() * 2**d, x.pow(2).sum())


def test_low_band_is_block_mean():
    x = torch.randn(1, 3, 2, 4, 4)
    lll = haar_dwt(x)[:, :3]  # band 0 holds all input channels
    torch.testing.assert_close(
        lll, x.unflatten(2, (1, 2)).unflatten(4, (2, 2)).unflatten(6, (2, 2)).mean((3, 5, 7))
    )


@pytest.mark.parametrize("frames", [1, 5, 9])
def test_patch_unpatch_round_trip_and_first_frame_alone(frames):
    x = torch.randn(1, 3, frames, 16, 8, dtype=torch.float64)
    p = haar_patch(x, 4)
    assert p.shape == (1, 192, 1 + (frames - 1) // 4, 4, 2)
    torch.testing.assert_close(haar_unpatch(p, 4), x, atol=1e-12, rtol=0)
    x2 = x.clone()
    x2[:, :, 1:] += 1.0  # later frames never reach patched frame 0
    torch.testing.assert_close(haar_patch(x2, 4)[:, :, :1], p[:, :, :1])


def test_matches_diffusers_patcher():
    ae = pytest.importorskip("diffusers.models.autoencoders.autoencoder_kl_cosmos")
    x = torch.randn(1, 3, 9, 16, 16)
    ref = ae.CosmosPatchEmbed3d(4, "haar")(x)
    torch.testing.assert_close(haar_patch(x, 4), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        haar_unpatch(ref, 4), ae.CosmosUnpatcher3d(4, "haar")(ref), atol=1e-5, rtol=1e-5
    )
