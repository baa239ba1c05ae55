"""Spatial tiling: blending weights sum to one; one tile equals the whole; many tiles stay close."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset
from worldsmith.tokenizers.tiling import _tiled, decode_tiled, encode_tiled


def test_blending_reproduces_pointwise_maps():
    x = torch.randn(1, 2, 3, 40, 56)
    torch.testing.assert_close(_tiled(lambda t: t * 2, x, 16, 8, 8, 1.0), x * 2)
    pooled = _tiled(lambda t: F.avg_pool3d(t, (1, 8, 8)), x, 16, 8, 8, 1 / 8)  # tiles aligned to 8 px
    torch.testing.assert_close(pooled, F.avg_pool3d(x, (1, 8, 8)))


def test_tiled_matches_whole():
    torch.manual_seed(0)
    widths = (8, 16, 16, 16)
    c = replace(
        get_preset("tiny-cv4x8x8"), encoder_channels=widths, decoder_channels=widths, num_res_blocks=1
    )
    model = CausalTokenizer(c).eval()
    x = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        torch.testing.assert_close(encode_tiled(model, x, tile=64, chunk_frames=4), z, atol=1e-5, rtol=0)
        x_hat = decode_tiled(model, z, tile=8, chunk_latents=1)
        torch.testing.assert_close(x_hat, model.decode(z), atol=1e-5, rtol=0)
        zt = encode_tiled(model, x, tile=24, overlap=8, chunk_frames=4)  # 2 x 3 tiles
        assert zt.shape == z.shape
        assert (zt - z).abs().mean() < 0.5 * z.abs().mean()  # an approximation near tile borders
