"""`WorldModel.encode_frames` / `decode_frames`: uint8 clips <-> diffusion-space latents by the
formula (tokenizer latents, minus the spec's mean, over its std, times sigma_data), batched."""

from __future__ import annotations

import pytest
import torch

from worldsmith.diffusion.dit import PRESETS, DiT
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.errors import WorldsmithError
from worldsmith.runs import seeded_init
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset


@pytest.fixture(scope="module")
def world():
    with seeded_init(0):
        dit = DiT(PRESETS["tiny"](depth=1, video2world=True, max_size=(4, 8, 8)))
        tok = CausalTokenizer(get_preset("tiny-cv4x8x8")).eval()
    spec = WorldSpec(
        latent_mean=(0.5,) * 16, latent_std=(2.0,) * 16, latent_size=(3, 4, 4), text_encoder="none"
    )
    return WorldModel(dit, spec, tok)


def test_encode_frames_is_the_normalised_tokenizer_latent(world):
    frames = torch.randint(
        0, 256, (3, 9, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    z = world.encode_frames(frames, batch=2)  # two batches: 2 + 1 clips
    x = frames.permute(0, 4, 1, 2, 3).float() / 127.5 - 1  # [N, 3, F, H, W] in [-1, 1]
    with torch.no_grad():
        expected = (world.tokenizer.encode(x) - 0.5) / 2.0 * world.spec.noise.sigma_data
    assert z.shape == (3, 16, 3, 4, 4)
    torch.testing.assert_close(z, expected, atol=1e-5, rtol=1e-5)


def test_decode_frames_is_the_tokenizer_decode_in_uint8(world):
    z = torch.randn(2, 16, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    video = world.decode_frames(z)
    with torch.no_grad():
        pixels = world.tokenizer.decode(z / world.spec.noise.sigma_data * 2.0 + 0.5).clamp(-1, 1)
    expected = ((pixels + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1)
    assert video.shape == (2, 9, 32, 32, 3) and video.dtype == torch.uint8
    assert (video.int() - expected.int()).abs().max() <= 1  # rounding at .5


def test_a_world_without_tokenizer_says_how_to_give_one(world):
    bare = WorldModel(world.dit, world.spec)
    with pytest.raises(WorldsmithError, match="--tokenizer DIR"):
        bare.encode_frames(torch.zeros(1, 9, 32, 32, 3, dtype=torch.uint8))
