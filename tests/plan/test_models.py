"""The world model as a planning model: batched rollouts with latents and tracked positions, and
the bad checkpoints of the issue (no action conditioning, another robot's action dimension)."""

from __future__ import annotations

import pytest
import torch

from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.plan.models import WorldModelPlanner, load_planner_world
from worldsmith.plan.twin import Twin


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
