"""The Wan 2.1 VAE behind the Tokenizer seam: diffusers' AutoencoderKLWan wrapped, with its latent
statistics, causal chunked encoding, our tiling, checkpoints and clear errors."""

from __future__ import annotations

import pytest
import torch

from worldsmith.tokenizers.config import TokenizerInputError
from worldsmith.tokenizers.wan import WanTokenizer, load_tokenizer

diffusers = pytest.importorskip("diffusers")

MEAN, STD = [0.1, -0.2, 0.3, 0.0], [1.5, 0.8, 1.2, 1.0]


@pytest.fixture(scope="module")
def tok() -> WanTokenizer:
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1, latents_mean=MEAN, latents_std=STD
    )
    return WanTokenizer(vae)


def video(T: int, H: int = 16, W: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, T, H, W, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_seam_shapes_and_compression(tok):
    assert (tok.config.temporal_compression, tok.config.spatial_compression) == (4, 8) and not tok.discrete
    z = tok.encode(video(9))
    assert z.shape == (1, 4, 3, 2, 3)  # 1 + 8/4 latent frames, 8x smaller in space
    torch.testing.assert_close(z, tok.vae.encode(video(9)).latent_dist.mode())  # diffusers' numbers
    assert tok.decode(z).shape == (1, 3, 9, 16, 24)


def test_encoding_is_causal_in_time(tok):
    """Chunks of 1, 4, 4 frames with a causal cache: changing frames 5..8 leaves latents 0..1 alone."""
    a, b = video(9), video(9, seed=2)
    b[:, :, :5] = a[:, :, :5]
    za, zb = tok.encode(a), tok.encode(b)
    torch.testing.assert_close(za[:, :, :2], zb[:, :, :2], atol=1e-6, rtol=0)
    assert (za[:, :, 2] - zb[:, :, 2]).abs().max() > 1e-3
    torch.testing.assert_close(tok.encode(a[:, :, :5]), za[:, :, :2], atol=1e-6, rtol=0)  # a prefix alone


def test_latent_normalisation_uses_the_published_statistics(tok):
    z = torch.randn(2, 4, 3, 2, 2)
    expect = (z - torch.tensor(MEAN).view(1, 4, 1, 1, 1)) / torch.tensor(STD).view(1, 4, 1, 1, 1)
    torch.testing.assert_close(tok.normalize(z), expect)
    torch.testing.assert_close(tok.denormalize(tok.normalize(z)), z)


def test_tiling_is_exact_for_one_tile_and_close_for_many(tok):
    x = video(5, 32, 48, seed=1)
    whole = tok.encode(x)
    torch.testing.assert_close(tok.encode_tiled(x, tile=64, overlap=16), whole)
    tiled = tok.encode_tiled(x, tile=24, overlap=8)  # 3 x 4 overlapping tiles, ramps over 8 px
    assert tiled.shape == whole.shape
    assert torch.corrcoef(torch.stack([tiled.flatten(), whole.flatten()]))[0, 1] > 0.9
    torch.testing.assert_close(tok.decode_tiled(whole, tile=8, overlap=2), tok.decode(whole))


def test_bad_input_names_the_rule(tok):
    with pytest.raises(TokenizerInputError, match=r"1 \+ 4k"):
        tok.encode(video(8))
    with pytest.raises(TokenizerInputError, match="multiples of 8"):
        tok.encode(video(5, 12, 16))
    with pytest.raises(TokenizerInputError, match="latents"):
        tok.decode(torch.zeros(1, 3, 2, 2, 2))


def test_checkpoint_round_trip_and_dispatch(tok, tmp_path):
    tok.save_pretrained(tmp_path / "wan")
    loaded = load_tokenizer(tmp_path / "wan")
    assert isinstance(loaded, WanTokenizer) and loaded.config == tok.config
    torch.testing.assert_close(loaded.encode(video(5)), tok.encode(video(5)))
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

    CausalTokenizer(get_preset("tiny-cv4x8x8")).save_pretrained(tmp_path / "cv")
    assert isinstance(load_tokenizer(tmp_path / "cv"), CausalTokenizer)
