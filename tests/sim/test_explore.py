"""Exploratory robot episodes: actions per frame, a second action space, counterfactual futures."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.sim import make_episode
from worldsmith.sim.dataset import scenario_list
from worldsmith.sim.explore import EXPLORATION, counterfactual

KW = dict(frames=12, size=32, depth=False)


@pytest.mark.parametrize("scenario", ["push_noisy", "explore_ou", "explore_waypoints", "pusher"])
def test_actions_poses_and_determinism(scenario):
    a, b = make_episode(scenario, 5, **KW), make_episode(scenario, 5, **KW)
    dim = 2 if scenario == "pusher" else 3  # the puck takes velocities, the arm joint targets
    assert a.states["actions"].shape == (12, dim) and np.isfinite(a.states["actions"]).all()
    assert a.states["tip_pos"].shape == (12, 3)  # end-effector track
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.states["actions"], b.states["actions"])
    agent = len(a.meta["objects"]) + 1  # the robot's instance id in the masks
    assert (a.masks == agent).any()
    assert np.abs(np.diff(a.states["tip_pos"][:, :2], axis=0)).sum() > 0.05  # the robot moves


def test_counterfactuals_share_the_start_and_differ_after():
    eps = [make_episode("explore_waypoints", 7, controller=counterfactual(k), **KW) for k in range(3)]
    assert all(np.array_equal(e.frames[:, 0], eps[0].frames[:, 0]) for e in eps)
    assert all(np.array_equal(e.states["obj_pos"][0], eps[0].states["obj_pos"][0]) for e in eps)
    for i in range(3):
        for j in range(i):
            assert not np.allclose(eps[i].states["actions"], eps[j].states["actions"])
            assert np.linalg.norm(eps[i].states["tip_pos"][-1] - eps[j].states["tip_pos"][-1]) > 0.01
    with pytest.raises(ValueError, match="no exploratory controller"):
        make_episode("push", 7, controller=counterfactual(0), **KW)


def test_robot_scenario_list():
    assert scenario_list("robot") == tuple(EXPLORATION)
