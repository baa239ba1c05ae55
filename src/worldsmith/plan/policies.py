"""Policy evaluation inside a world model (the Cosmos paper's first use of a world model; Cosmos
Policy and 1X's world-model evaluations): run each policy from the same initial states inside the
world model and inside the twin, and see whether the model ranks the policies as the twin does.

Policies are closed-loop on a state estimate ``(robot [2], objects [M, 2])``: in the twin the true
state, in the world model the positions tracked in its own prediction (`models.track`). They act
once per chunk of `hold` frames (one latent frame), and each chunk of the world model is one
batched Video2World call from its own last predicted frame, all policies of one start together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from worldsmith.plan.models import WorldModelPlanner, track
from worldsmith.plan.tasks import Task, distance
from worldsmith.plan.twin import MAX_SPEED, Observation, Twin


@dataclass(frozen=True)
class ScriptedPusher:
    """Go behind the target object on its line to the goal, then push through: velocity
    ``gain * (waypoint - robot)`` clipped to the bounds, plus Gaussian noise of std `noise` (m/s)."""

    name: str
    gain: float = 4.0
    noise: float = 0.0

    def __call__(self, task: Task, agent: np.ndarray, objects: np.ndarray, rng: np.random.Generator):
        obj, goal = objects[task.target], np.asarray(task.goal)
        line = (goal - obj) / max(float(np.linalg.norm(goal - obj)), 1e-6)
        rel = agent - obj
        along, across = float(rel @ line), abs(float(rel[0] * line[1] - rel[1] * line[0]))
        if along < -0.03 and across < 0.03:  # behind the object on the push line: push through
            waypoint = goal - 0.07 * line  # the object sits ~7 cm ahead of the puck
        elif along > -0.03 and across < 0.08:  # in front or beside: go around, wide of the object
            side = np.array([-line[1], line[0]]) * (1 if rel @ np.array([-line[1], line[0]]) >= 0 else -1)
            waypoint = obj + 0.11 * side - 0.06 * line
        else:
            waypoint = obj - 0.08 * line
        v = self.gain * (waypoint - agent) + self.noise * rng.standard_normal(2)
        return np.clip(v, -MAX_SPEED, MAX_SPEED)


@dataclass(frozen=True)
class RandomPolicy:
    name: str = "random"

    def __call__(self, task, agent, objects, rng):
        return rng.uniform(-MAX_SPEED, MAX_SPEED, 2)


POLICIES = (
    ScriptedPusher("scripted gain 4", 4.0, 0.0),
    ScriptedPusher("scripted gain 2, noise 0.1", 2.0, 0.1),
    ScriptedPusher("scripted gain 4, noise 0.3", 4.0, 0.3),
    ScriptedPusher("scripted gain 0.7", 0.7, 0.0),
    RandomPolicy(),
)


def run_in_twin(policy, task: Task, twin: Twin, *, hold: int, seed: int) -> float:
    """Final distance to the goal of `policy` run in `twin` (fresh, the task's scene)."""
    rng = np.random.default_rng([seed, 1])
    for step in range(task.steps):
        if step % hold == 0:
            action = policy(task, *twin.positions(), rng)
        twin.step(action)
    return distance(task, *twin.positions())


@torch.no_grad()
def run_in_world_model(policies, task: Task, planner: WorldModelPlanner, *, seed: int) -> list[float]:
    """Final distance to the goal of each policy run in the world model from the twin's state:
    chunk by chunk, a batched prediction of all policies from their own last predicted frames."""
    obs = planner.twin.observe()
    hold, P = planner.k, len(policies)
    rngs = [np.random.default_rng([seed, 1]) for _ in policies]
    frames = np.broadcast_to(obs.frame, (P, *obs.frame.shape)).copy()  # [P, h, w, 3] current frames
    agent = np.broadcast_to(obs.agent, (P, 2)).copy()
    objects = np.broadcast_to(obs.objects, (P, *obs.objects.shape)).copy()
    for start in range(0, task.steps, hold):
        n = min(hold, task.steps - start)
        acts = np.stack([p(task, agent[i], objects[i], rngs[i]) for i, p in enumerate(policies)])  # [P, 2]
        chunk = torch.from_numpy(acts)[:, None].expand(P, n, 2)  # [P, n, 2]
        given = torch.from_numpy(frames)[:, None]  # [P, 1, h, w, 3]
        video = planner.predict(given, chunk)[:, : n + 1]  # [P, n + 1, h, w, 3]
        for i in range(P):
            # appearance from the true first frame (the known appearance), positions from the estimate
            est = Observation(obs.frame, obs.masks, agent[i], objects[i], obs.snapshot)
            a, o = track(planner.twin, est, video[i : i + 1])
            agent[i], objects[i] = a[0, -1].numpy(), o[0, -1].numpy()
        frames = video[:, -1].copy()
    return [distance(task, agent[i], objects[i]) for i in range(P)]


def spearman(x, y) -> float:
    """Spearman's rank correlation: Pearson's r of the average ranks (ties share their mean rank);
    NaN when either side is constant."""
    rx, ry = _ranks(np.asarray(x, np.float64)), _ranks(np.asarray(y, np.float64))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):  # ties: the mean of their ranks
        tie = v == value
        ranks[tie] = ranks[tie].mean()
    return ranks
