"""Causal tokenizer: shapes per preset, causality, chunked == whole, checkpoints, clear errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from worldsmith.errors import CheckpointError, ConfigError
from worldsmith.tokenizers.model import CausalTokenizer, TokenizerConfig, TokenizerInputError
from worldsmith.tokenizers.presets import PRESETS, get_preset


def _small(name: str) -> TokenizerConfig:
    c = get_preset(name)
    return replace(
        c,
        encoder_channels=(8, 16, 16, 16),
        decoder_channels=(8, 16, 16, 16),
        latent_channels=16 if c.kind == "continuous" else 8,
        num_res_blocks=1,
    )


def _tdim(tokens: torch.Tensor) -> int:
    return 1 if not tokens.dtype.is_floating_point else 2  # indices [B, T', h, w]; latents [B, C, T', h, w]


def test_presets_are_complete_and_valid():
    names = {
        "CV4x8x8",
        "CV8x8x8",
        "CV8x16x16",
        "DV4x8x8",
        "DV8x8x8",
        "DV8x16x16",
        "CI8x8",
        "CI16x16",
        "DI8x8",
        "DI16x16",
    }
    assert names | {f"tiny-{n.lower()}" for n in names} == set(PRESETS)
    cv = get_preset("CV8x8x8")
    assert cv.encoder_channels == (128, 256, 512, 512) and cv.latent_channels == 16
    dv = get_preset("dv8x16x16")
    assert dv.kind == "discrete" and dv.latent_channels == 256 and dv.fsq_levels == (8, 8, 8, 5, 5, 5)
    with pytest.raises(ConfigError, match="unknown tokenizer preset 'CV3x3x3'"):
        get_preset("CV3x3x3")


@pytest.mark.parametrize(
    "name", ["tiny-cv4x8x8", "tiny-cv8x16x16", "tiny-dv8x8x8", "tiny-ci16x16", "tiny-di8x8"]
)
def test_shapes_causality_and_chunked_equals_whole(name):
    torch.manual_seed(0)
    c = _small(name)
    model = CausalTokenizer(c).eval()
    st, s = c.temporal_compression, c.spatial_compression
    frames = 1 + 2 * st if st > 1 else 3
    x = torch.rand(1, 3, frames, 2 * s, 3 * s) * 2 - 1  # any aspect ratio
    with torch.no_grad():
        tokens = model.encode(x)
        t_lat = 1 + (frames - 1) // st if st > 1 else frames
        if model.discrete:
            assert tokens.shape == (1, t_lat, 2, 3) and tokens.dtype == torch.int64
            assert int(tokens.min()) >= 0 and int(tokens.max()) < 64_000
        else:
            assert tokens.shape == (1, 16, t_lat, 2, 3)
        video = model.decode(tokens)
        assert video.shape == x.shape
        # streaming: chunked encode/decode equal whole-clip encode/decode
        chunked = model.encode_chunked(x, chunk_frames=st if st > 1 else 1)
        torch.testing.assert_close(chunked.float(), tokens.float(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.decode_chunked(tokens, chunk_latents=1), video, atol=1e-5, rtol=1e-5)
        # causality: changing frame k leaves the latents of earlier frames unchanged
        k = 1 + st if st > 1 else 2
        x2 = x.clone()
        x2[:, :, k:] = torch.rand_like(x2[:, :, k:])
        keep = -(-k // st) if st > 1 else k  # latents j with s_t * j < k
        z, z2 = model._encode(x, None), model._encode(x2, None)  # before quantization: [B, C, T', h, w]
        torch.testing.assert_close(z2[:, :, :keep], z[:, :, :keep], atol=1e-6, rtol=0)
        assert (z2[:, :, keep:] - z[:, :, keep:]).abs().max() > 1e-4
        d = _tdim(tokens)
        assert (
            torch.equal(model.encode(x2).narrow(d, 0, keep), tokens.narrow(d, 0, keep)) or not model.discrete
        )


def test_image_is_the_one_frame_case():
    torch.manual_seed(0)
    model = CausalTokenizer(_small("tiny-cv4x8x8")).eval()
    x = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x[:, :, :1]), model.encode(x)[:, :, :1], atol=1e-6, rtol=0)


def test_save_and_load_pretrained(tmp_path):
    torch.manual_seed(0)
    model = CausalTokenizer(_small("tiny-dv4x8x8")).eval()
    path = model.save_pretrained(tmp_path / "tok")
    assert {p.name for p in path.iterdir()} == {"config.json", "model.safetensors"}
    back = CausalTokenizer.from_pretrained(path)
    assert back.config == model.config
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(back.encode(x), model.encode(x))
    with pytest.raises(CheckpointError, match="no config.json"):
        CausalTokenizer.from_pretrained(tmp_path / "missing")
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        CausalTokenizer.from_pretrained(path)


def test_bad_inputs_name_the_fix():
    model = CausalTokenizer(_small("tiny-cv4x8x8"))
    with pytest.raises(TokenizerInputError, match="1 \\+ k\\*4 frames.*use 5 frames"):
        model.encode(torch.zeros(1, 3, 6, 16, 16))
    with pytest.raises(TokenizerInputError, match="multiple of the spatial compression 8"):
        model.encode(torch.zeros(1, 3, 5, 12, 16))
    with pytest.raises(TokenizerInputError, match=r"\[B, 3, T, H, W\]"):
        model.encode(torch.zeros(3, 5, 16, 16))
    with pytest.raises(ConfigError, match="add widths"):
        TokenizerConfig(encoder_channels=(8, 8, 8), decoder_channels=(8, 8, 8), spatial_compression=16)
    with pytest.raises(ConfigError, match="power of two"):
        TokenizerConfig(spatial_compression=12)


@pytest.mark.parametrize("name", ["tiny-cv4x8x8", "tiny-dv8x8x8", "tiny-ci8x8"])
def test_lowpass_shortcut_is_a_block_mean_codec_plus_residual(name):
    from worldsmith.tokenizers.model import causal_block_mean, causal_block_upsample

    torch.manual_seed(0)
    c = replace(_small(name), lowpass_shortcut=True)
    model = CausalTokenizer(c).eval()
    st, s = c.temporal_compression, c.spatial_compression
    frames = 1 + 2 * st if st > 1 else 1
    x = torch.rand(1, 3, frames, 2 * s, 3 * s) * 2 - 1
    # the formula: frame 0 is a block of its own, then blocks of st frames, s x s pixels
    mean = causal_block_mean(x, st, s)
    assert mean.shape == (1, 3, 1 + (frames - 1) // st, 2, 3)
    torch.testing.assert_close(mean[0, :, 0, 1, 2], x[0, :, 0, s : 2 * s, 2 * s :].mean((-1, -2)))
    if st > 1:
        block = x[0, :, 1 + st : 1 + 2 * st, :s, s : 2 * s]
        torch.testing.assert_close(mean[0, :, 2, 0, 1], block.mean((1, 2, 3)))
    up = causal_block_upsample(mean, st, s)
    assert up.shape == x.shape
    if st > 1:  # each later latent frame covers st frames
        assert torch.equal(up[:, :, 1 : 1 + st], up[:, :, 1:2].expand(-1, -1, st, -1, -1))
    with torch.no_grad():
        # chunked == whole with the shortcut
        tokens = model.encode(x)
        chunked = model.encode_chunked(x, chunk_frames=st if st > 1 else 1)
        torch.testing.assert_close(chunked.float(), tokens.float(), atol=1e-5, rtol=1e-5)
        whole = model.decode(tokens)
        torch.testing.assert_close(model.decode_chunked(tokens, 1), whole, atol=1e-5, rtol=1e-5)
        # at initialisation (learned paths zeroed where they meet the shortcut) it is the block-mean codec
        z = model._encode(x, None)
        torch.testing.assert_close(z[:, :3], mean, atol=1e-6, rtol=0)
        if not model.discrete:
            torch.testing.assert_close(model.decode(model.encode(x)), up, atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="lowpass_shortcut"):
        replace(c, kind="continuous", latent_channels=2)
    if c.kind == "continuous" and c.video:  # diffusers' AutoencoderKLCosmos has no such path
        from worldsmith.tokenizers.convert import config_to_diffusers

        with pytest.raises(CheckpointError, match="no diffusers layout"):
            config_to_diffusers(c)


def test_bfloat16_autocast_matches_float32_and_feeds_attention_contiguous():
    """Under bfloat16 autocast the attention blocks hand `nn.Linear` a contiguous half-precision
    input (a strided one makes it materialise its weight per position); outputs stay near float32."""
    from worldsmith.tokenizers import blocks

    h = torch.randn(1, 8, 3, 4, 4).permute(0, 3, 4, 2, 1).reshape(16, 3, 8)  # strided, like the blocks
    assert blocks._autocast_contiguous(h) is h  # float32: no copy
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for x in (h, h.bfloat16()):
            assert not x.is_contiguous()
            y = blocks._autocast_contiguous(x)
            assert y.is_contiguous() and y.dtype == torch.bfloat16
            assert torch.equal(y.float(), x.bfloat16().float())
    torch.manual_seed(0)
    model = CausalTokenizer(_small("CV4x8x8")).eval()
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = model.decode(model.encode(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model.decode(model.encode(x))
    assert (half.float() - ref).abs().mean() < 0.02 * ref.abs().mean() + 1e-3
