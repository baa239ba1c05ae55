"""The world model as a planning model: batched rollouts with latents and tracked positions, and
the bad checkpoints of the issue (no action conditioning, another robot's action dimension)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.plan.models import SimulatorModel, WorldModelPlanner, load_planner_world
from worldsmith.plan.mpc import MPCConfig, run_episode
from worldsmith.plan.tasks import Task, latent_goal_cost
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


def test_goal_image_latent_and_cost(ckpts):
    world, net = load_planner_world(ckpts[1])
    task = Task(kind="reach", seed=10_000, goal=(0.15, 0.0), steps=4)
    with Twin(task.seed, size=32) as twin:
        before = twin.snapshot()
        image = twin.render_goal(task.goal)
        np.testing.assert_array_equal(twin.snapshot(), before)  # the twin's state is restored
        obs = twin.observe()
        assert (image != obs.frame).any()  # the robot moved in the goal image
        planner = WorldModelPlanner(world, net, twin, steps=1)
        goal = planner.goal_latent(image)
        assert goal.shape == (16, 4, 4)
        roll = planner.rollout(obs, torch.zeros(2, 4, 2))
        expect = ((roll.latents[:, :, -1] - goal) ** 2).flatten(1).mean(1).double()
        torch.testing.assert_close(latent_goal_cost(goal, roll), expect)
        cfg = MPCConfig(iters=1, samples=3, elites=2, horizon=8, hold=4, execute=4)
        result = run_episode(task, planner, cfg, twin=twin, goal_image=True)
        assert result.rollouts == 3 and np.isfinite(result.final_distance)
        with pytest.raises(WorldsmithError, match="goal image needs a reach task"):
            run_episode(task, SimulatorModel(twin, 8), cfg, twin=twin, goal_image=True)
