"""Shared by the plan tests: tiny random action world models (one for the pusher, one for the arm)."""

from __future__ import annotations

import pytest

from worldsmith.diffusion.dit import PRESETS, DiT
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.posttrain.action import ActionConfig, ActionDiT
from worldsmith.posttrain.world import save_action_world
from worldsmith.runs import seeded_init
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset


def tiny_action_world(path, action_dim: int):
    """A random tiny action world model: 9 frames at 32x32 (CV4x8x8 tokenizer, 3x4x4 latents)."""
    with seeded_init(0):
        dit = DiT(PRESETS["tiny"](depth=1, video2world=True, max_size=(4, 8, 8)))
        tok = CausalTokenizer(get_preset("tiny-cv4x8x8")).eval()
        net = ActionDiT(dit, ActionConfig(action_dim=action_dim, frames_per_latent=4))
    spec = WorldSpec(
        latent_mean=(0.0,) * 16, latent_std=(1.0,) * 16, latent_size=(3, 4, 4), text_encoder="none"
    )
    world = WorldModel(dit, spec, tok)
    world.save_pretrained(path / "base")
    save_action_world(world, net, path / "act", lora=None)
    return path / "base", path / "act"


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory):
    """(a plain base world model, a pusher action model (A = 2), an arm action model (A = 3))."""
    root = tmp_path_factory.mktemp("plan_models")
    base, act = tiny_action_world(root, 2)
    (root / "arm").mkdir()
    _, arm = tiny_action_world(root / "arm", 3)
    return base, act, arm
