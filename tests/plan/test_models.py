"""The world model as a planning model: batched rollouts with latents and tracked positions, and
the bad checkpoints of the issue (no action conditioning, another robot's action dimension)."""

from __future__ import annotations

import pytest
import torch

from worldsmith.diffusion.dit import PRESETS, DiT
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.plan.models import WorldModelPlanner, load_planner_world
from worldsmith.plan.twin import Twin
from worldsmith.posttrain.action import ActionConfig, ActionDiT
from worldsmith.posttrain.world import save_action_world
from worldsmith.runs import seeded_init


def tiny_action_world(path, action_dim: int):
    """A random tiny action world model: 9 frames at 32x32 (CV4x8x8 tokenizer, 3x4x4 latents)."""
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

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


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan_models")
    base, act = tiny_action_world(root, 2)
    (root / "arm").mkdir()
    _, arm = tiny_action_world(root / "arm", 3)
    return base, act, arm


def test_world_model_rollouts_are_batched_with_latents_and_positions(ckpts):
    world, net = load_planner_world(ckpts[1])
    with Twin(10_000, size=32) as twin:
        planner = WorldModelPlanner(world, net, twin, steps=2)
        assert planner.horizon == 8
        obs = twin.observe()
        roll = planner.rollout(obs, torch.zeros(3, 4, 2))
    M = len(obs.objects)
    assert roll.agent.shape == (3, 4, 2) and roll.objects.shape == (3, 4, M, 2)
    assert roll.latents.shape == (3, 16, 3, 4, 4) and roll.frames.shape == (3, 5, 32, 32, 3)
    assert torch.isfinite(roll.agent).all() and torch.isfinite(roll.objects).all()
    with pytest.raises(WorldsmithError, match="longer than the world model"):
        planner.rollout(obs, torch.zeros(1, 12, 2))


def test_bad_checkpoints_name_the_fix(ckpts):
    base, _, arm = ckpts
    with pytest.raises(CheckpointError, match="no action conditioning.*posttrain action"):
        load_planner_world(base)
    with pytest.raises(WorldsmithError, match="3-D actions but the task's robot .* has 2"):
        load_planner_world(arm)
