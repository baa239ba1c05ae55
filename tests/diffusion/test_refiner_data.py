"""The refiner's training pairs: `decoded_predictions` makes the world model's predictions as
`generate video2world` makes them, batched."""

from __future__ import annotations

import torch

from worldsmith.diffusion.dit import PRESETS, DiT
from worldsmith.diffusion.pipeline import generate_world
from worldsmith.diffusion.refiner_data import decoded_predictions
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.runs import seeded_init
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset
from worldsmith.video.transforms import to_model


def _world() -> WorldModel:
    with seeded_init(0):
        dit = DiT(PRESETS["tiny"](depth=1, video2world=True, max_size=(4, 8, 8))).eval()
        tok = CausalTokenizer(get_preset("tiny-cv4x8x8")).eval()
    spec = WorldSpec(
        latent_mean=(0.1,) * 16, latent_std=(1.5,) * 16, latent_size=(3, 4, 4), text_encoder="none"
    )
    return WorldModel(dit, spec, tok)


def test_batch_of_one_is_generate_video2world_and_batches_keep_the_given_frames():
    world = _world()
    g = torch.Generator().manual_seed(3)
    videos = [torch.randint(0, 256, (9, 40, 36, 3), dtype=torch.uint8, generator=g) for _ in range(3)]
    one = decoded_predictions(world, videos, 5, steps=2, sampler="euler", seed=7, batch=1)
    for i, video in enumerate(videos):
        gen = generate_world(world, "", video=video, cond_frames=5, steps=2, sampler="euler", seed=7 + i)
        assert torch.equal(one[i], to_model(gen.frames))
    two = decoded_predictions(world, videos, 5, steps=2, sampler="euler", seed=7, batch=2)
    assert two.shape == one.shape == (3, 3, 9, 32, 32)
    # the first batch's noise differs from the per-video seeds, so only what is determined matches:
    # the given latent frames decode alike (the first one exactly: causal, and given exactly)
    assert torch.equal(two[:, :, :1], one[:, :, :1])
    assert not torch.equal(two[:2], one[:2])  # the sampled futures do differ
