"""Released-weights compatibility: identical outputs to diffusers' AutoencoderKLCosmos (float32)."""

from __future__ import annotations

import pytest
import torch

from worldsmith.tokenizers.convert import (
    config_to_diffusers,
    from_diffusers_state_dict,
    to_diffusers_state_dict,
)
from worldsmith.tokenizers.model import CausalTokenizer, TokenizerConfig

diffusers = pytest.importorskip("diffusers")

# Tiny, but with attention in the down/up levels too (resolution 64 -> attention at 16, 8 and 4).
TINY = TokenizerConfig(
    encoder_channels=(8, 16, 16, 16),
    decoder_channels=(8, 16, 16, 16),
    latent_channels=4,
    num_res_blocks=1,
    resolution=64,
    attention_resolutions=(16, 8, 4),
    temporal_compression=8,
    spatial_compression=16,
)


def _reference(config: TokenizerConfig):
    return diffusers.AutoencoderKLCosmos(
        **config_to_diffusers(config), latents_mean=None, latents_std=None
    ).eval()


def test_parity_with_diffusers_from_their_weights():
    torch.manual_seed(0)
    ref = _reference(TINY)
    ours = CausalTokenizer(TINY).eval()
    ours.load_state_dict(from_diffusers_state_dict(ref.state_dict()))  # strict: every key maps
    assert any(".attentions." in k for k in ours.state_dict() if k.startswith("encoder.down_blocks"))
    x = torch.rand(1, 3, 17, 32, 48) * 2 - 1
    with torch.no_grad():
        z_ref = ref.encode(x).latent_dist.mode()
        z = ours.encode(x)
        torch.testing.assert_close(z, z_ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.decode(z_ref), ref.decode(z_ref).sample, atol=1e-5, rtol=0)


def test_state_dict_round_trip():
    torch.manual_seed(0)
    ours = CausalTokenizer(TINY)
    sd = to_diffusers_state_dict(ours.state_dict())
    assert set(sd) == set(_reference(TINY).state_dict())
    back = from_diffusers_state_dict(sd)
    assert set(back) == set(ours.state_dict())
    assert all(torch.equal(back[k], v) for k, v in ours.state_dict().items())


def test_from_pretrained_reads_a_diffusers_folder(tmp_path):
    torch.manual_seed(0)
    ref = _reference(TINY)
    ref.save_pretrained(tmp_path / "vae", safe_serialization=True)
    ours = CausalTokenizer.from_pretrained(tmp_path / "vae")
    assert ours.config == TINY
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours.encode(x), ref.encode(x).latent_dist.mode(), atol=1e-5, rtol=0)
