"""The twin, tasks, costs and the MPC loop: re-simulation equals stepping, pixels unproject onto the
table, the segmented-prediction tracker recovers true positions, and MPC on the simulator beats
random actions on a reach task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsmith.errors import ConfigError
from worldsmith.plan.models import CENTROID_Z, CopyLastModel, SimulatorModel, track
from worldsmith.plan.mpc import EpisodeResult, MPCConfig, expand, run_episode
from worldsmith.plan.run import summarize
from worldsmith.plan.tasks import (
    GoalError,
    Rollout,
    Task,
    _clear_path,
    _object_positions,
    make_task,
    position_cost,
)
from worldsmith.plan.twin import Twin, unproject_to_plane
from worldsmith.sim import camera as cam


@pytest.fixture(scope="module")
def twin_and_truth():
    """One twin, its start observation and 6 frames under known actions (with true positions)."""
    actions = np.array([[0.3, 0.2]] * 3 + [[-0.2, 0.35]] * 3)
    with Twin(10_003, size=64) as twin:
        obs = twin.observe()
        frames, agents = [obs.frame], []
        for a in actions:
            twin.step(a)
            o = twin.observe()
            frames.append(o.frame)
            agents.append(o.agent)
        yield twin, obs, actions, np.stack(frames), np.stack(agents)


def test_unproject_inverts_the_camera_projection(twin_and_truth):
    twin = twin_and_truth[0]
    pts = np.array([[0.1, 0.2, CENTROID_Z], [-0.3, -0.1, CENTROID_Z], [0.25, 0.3, CENTROID_Z]])
    uv = cam.project(pts, twin.K, twin.world_to_cam)[:, :2]
    np.testing.assert_allclose(
        unproject_to_plane(uv, twin.K, twin.world_to_cam, CENTROID_Z), pts[:, :2], atol=1e-6
    )  # fmt: skip  (MuJoCo's camera frame is float32)


def test_resimulation_from_a_snapshot_equals_stepping(twin_and_truth):
    twin, obs, actions, _, agents = twin_and_truth
    agent, objects = twin.simulate(obs.snapshot, actions[None].repeat(2, 0))
    np.testing.assert_array_equal(agent[0], agents)  # the same physics, bit for bit
    np.testing.assert_array_equal(agent[1], agents)
    moved = SimulatorModel(twin).rollout(obs, torch.from_numpy(actions[None]))
    assert moved.agent.shape == (1, 6, 2) and moved.objects.shape == (1, 6, len(obs.objects), 2)


def test_tracking_a_video_by_known_appearance_recovers_positions(twin_and_truth):
    """The world model's positions come from this tracker: on the twin's own frames it must land
    within 2 cm of the true robot positions (64 px frames, ~2.5 cm per pixel)."""
    twin, obs, _, frames, agents = twin_and_truth
    agent, objects = track(twin, obs, frames[None])
    assert agent.shape == (1, 6, 2) and objects.shape == (1, 6, len(obs.objects), 2)
    err = np.linalg.norm(agent[0].numpy() - agents, axis=-1)
    assert err.max() < 0.02, err
    assert np.linalg.norm(agents[-1] - obs.agent) > 0.15  # it did move


def test_tasks_goals_and_costs():
    a, b = make_task("push", 10_000), make_task("push", 10_000)
    assert a == b and a.target is not None and a.steps == 40
    for seed in range(10_000, 10_004):  # reach goals are free: no object on them to push there
        goal, objects = make_task("reach", seed).goal, _object_positions(seed)
        assert np.linalg.norm(objects - np.asarray(goal), axis=1).min() > 0.12
    assert not _clear_path(np.zeros(2), np.array([0.4, 0.0]), np.array([[0.2, 0.05]]))
    assert _clear_path(np.zeros(2), np.array([0.4, 0.0]), np.array([[0.2, 0.1]]))
    with pytest.raises(GoalError, match="outside the workspace"):
        Task(kind="reach", seed=1, goal=(0.9, 0.0))
    with pytest.raises(ConfigError, match="target"):
        Task(kind="push", seed=1, goal=(0.0, 0.0))
    task = Task(kind="reach", seed=1, goal=(0.0, 0.0))
    agent = torch.tensor([[[0.0, 0.3], [0.0, 0.0]]], dtype=torch.float64)  # [1, 2, 2]
    roll = Rollout(agent=agent, objects=torch.zeros(1, 2, 1, 2))
    # weights 1/3, 2/3 on distances 0.3 and 0
    torch.testing.assert_close(position_cost(task, roll), torch.tensor([0.1], dtype=torch.float64))
    push = Task(kind="push", seed=1, goal=(0.1, 0.0), target=0)
    # the robot right behind the object on the push line: only the object's 0.1 m to go counts
    behind = Rollout(agent=torch.tensor([[[-0.07, 0.0]]]), objects=torch.tensor([[[[0.0, 0.0]]]]))
    torch.testing.assert_close(position_cost(push, behind), torch.tensor([0.1], dtype=torch.float64))


def test_expand_holds_each_knot():
    knots = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert expand(knots, 2).tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    with pytest.raises(ConfigError, match="multiple of hold"):
        MPCConfig(horizon=10, hold=4)


def test_mpc_with_the_simulator_reaches_and_random_does_not():
    task = Task(kind="reach", seed=10_001, goal=(0.2, 0.0), steps=8)  # 0.28 m away, 0.32 m reachable
    cfg = MPCConfig(iters=2, samples=16, elites=3, horizon=8, hold=4, execute=4)
    with Twin(task.seed, size=32) as twin:
        sim = run_episode(task, SimulatorModel(twin, 8), cfg, twin=twin, record=True)
    with Twin(task.seed, size=32) as twin:
        rnd = run_episode(task, None, cfg, twin=twin)
    with Twin(task.seed, size=32) as twin:
        copy = run_episode(task, CopyLastModel(8), cfg, twin=twin)
    assert sim.success and sim.final_distance < 0.05 < rnd.final_distance
    assert not copy.success  # every plan looks the same to a model in which nothing moves
    assert sim.executed.shape == sim.imagined.shape == (9, 32, 32, 3)
    assert len(sim.plan_seconds) == 2 and sim.rollouts == 2 * 2 * 16


def test_summary_counts_planning_time_per_executed_action():
    task = Task(kind="reach", seed=1, goal=(0.0, 0.0), steps=8)
    a = EpisodeResult(task=task, planner="m", success=True, start_distance=0.3, final_distance=0.01,
                      plan_seconds=[2.0, 4.0], rollout_seconds=3.0, rollouts=60)  # fmt: skip
    b = EpisodeResult(task=task, planner="m", success=False, start_distance=0.3, final_distance=0.2,
                      plan_seconds=[2.0, 2.0], rollout_seconds=1.0, rollouts=20)  # fmt: skip
    s = summarize([a, b])
    assert s["success_rate"] == 0.5 and s["final_distance_mean"] == pytest.approx(0.105)
    assert s["plan_seconds_per_action_median"] == 0.5  # 2 s plans that each execute 4 of the 8 actions
    assert s["plan_seconds_per_action_p90"] == pytest.approx(0.85)  # np.quantile of [.5, 1, .5, .5]
    assert s["rollouts_per_second"] == 20.0
