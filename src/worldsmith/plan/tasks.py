"""Tasks on the pusher twin and their costs: reach a point; push object X into region Y.

A task is drawn from a seed: the scene (`build_scene("pusher", seed)`), the object and the goal.
Held-out tasks use seeds the world model never saw (its training episodes come from
`sim.dataset.episode_seed(0, i)`; tasks use plain integers from 10_000 up).

Costs score predicted trajectories (`Rollout`: robot ``[N, H, 2]``, objects ``[N, H, M, 2]``, metres
on the table), lower is better; the goal-image cost scores predicted latents against the goal's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from worldsmith.config import check
from worldsmith.errors import WorldsmithError
from worldsmith.sim.catalogue import build_scene
from worldsmith.sim.explore import PUCK_START
from worldsmith.sim.render import import_mujoco

# Where goals may lie: the part of the table the camera sees and the puck can reach (x, y in m).
WORKSPACE = (np.array([-0.4, -0.3]), np.array([0.4, 0.35]))
TASKS = ("reach", "push")


class GoalError(WorldsmithError):
    """A goal the robot cannot reach or the camera cannot see."""


@dataclass(frozen=True, kw_only=True)
class Task:
    kind: str  # "reach": the robot to `goal`; "push": object `target` into the disk (`goal`, `radius`)
    seed: int  # the scene
    goal: tuple[float, float]
    target: int | None = None  # object index (push)
    radius: float = 0.05  # success: final distance below this (m)
    steps: int = 24  # actions per episode

    def __post_init__(self) -> None:
        check(self.kind in TASKS, "kind", self.kind, f"must be one of {', '.join(TASKS)}")
        check(
            self.radius > 0 and self.steps >= 1, "radius/steps", (self.radius, self.steps), "must be positive"
        )
        check((self.kind == "push") == (self.target is not None), "target", self.target,
              "an object index for push tasks, None for reach")  # fmt: skip
        check_goal(self.goal)


def check_goal(goal) -> None:
    lo, hi = WORKSPACE
    g = np.asarray(goal, np.float64)
    if g.shape != (2,) or not np.isfinite(g).all() or (g < lo).any() or (g > hi).any():
        raise GoalError(
            f"goal {tuple(np.round(g, 3).tolist()) if g.size else goal} is outside the workspace x in "
            f"[{lo[0]}, {hi[0]}], y in [{lo[1]}, {hi[1]}] m; give a goal on the visible, reachable table"
        )


def make_task(kind: str, seed: int, *, steps: int | None = None, goal=None) -> Task:
    """A random task of `kind` in the scene of `seed` (goal drawn with the same seed unless given)."""
    check(kind in TASKS, "task", kind, f"must be one of {', '.join(TASKS)}")
    if goal is not None:
        check_goal(goal)
    rng = np.random.default_rng([seed, 25])
    lo, hi = WORKSPACE
    if kind == "reach":
        start, objects = np.asarray(PUCK_START), _object_positions(seed)
        while True:
            angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.35)
            g = start + dist * np.array([np.cos(angle), np.sin(angle)])
            # a free goal: an object on it (or on the way) would be pushed there and block the robot
            free = np.linalg.norm(objects - g, axis=1).min() > 0.12 and _clear_path(start, g, objects)
            if goal is not None or ((g > lo + 0.02).all() and (g < hi - 0.02).all() and free):
                return Task(
                    kind="reach", seed=seed, goal=tuple(goal if goal is not None else g), steps=steps or 24
                )
    objects = _object_positions(seed)
    target = int(rng.integers(len(objects)))
    while True:
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.16)
        g = objects[target] + dist * np.array([np.cos(angle), np.sin(angle)])
        if goal is not None or ((g > lo + 0.02).all() and (g < hi - 0.02).all()):
            g = g if goal is None else goal
            return Task(kind="push", seed=seed, goal=tuple(g), target=target, steps=steps or 40)


def _clear_path(a: np.ndarray, b: np.ndarray, objects: np.ndarray, clearance: float = 0.09) -> bool:
    """No object centre within `clearance` of the segment a-b."""
    d = b - a
    t = np.clip(((objects - a) @ d) / (d @ d), 0, 1)  # [M] closest points along the segment
    return bool((np.linalg.norm(a + t[:, None] * d - objects, axis=1) > clearance).all())


def _object_positions(seed: int) -> np.ndarray:
    scene = build_scene("pusher", seed)
    # free bodies are placed in the MJCF: read their initial positions without simulating
    mj = import_mujoco()
    model = mj.MjModel.from_xml_string(scene.xml)
    data = mj.MjData(model)
    mj.mj_forward(model, data)
    return np.stack([data.body(name).xpos[:2] for name in scene.objects])


@dataclass
class Rollout:
    """Predicted trajectories of N action sequences (positions after each of the H actions)."""

    agent: torch.Tensor  # [N, H, 2]
    objects: torch.Tensor  # [N, H, M, 2]
    frames: np.ndarray | None = None  # [N, H + 1, h, w, 3] uint8 imagined video, when the model has one
    latents: torch.Tensor | None = None  # [N, C, T, h, w] normalised latents, when the model has them


def _time_weights(H: int) -> torch.Tensor:
    """Later steps count more: ``w_t = (t + 1) / sum``, so a plan that gets there and stays wins."""
    w = torch.arange(1, H + 1, dtype=torch.float64)
    return w / w.sum()


def position_cost(task: Task, rollout: Rollout) -> torch.Tensor:
    """``[N]`` costs: reach: weighted distance of the robot to the goal over the horizon; push: of
    the object to the goal, plus a shaping term pulling the robot behind the object (push line)."""
    g = torch.tensor(task.goal, dtype=torch.float64)
    w = _time_weights(rollout.agent.shape[1])
    agent = rollout.agent.double()
    if task.kind == "reach":
        return ((agent - g).norm(dim=-1) * w).sum(-1)
    obj = rollout.objects[:, :, task.target].double()  # [N, H, 2]
    to_goal = g - obj
    behind = obj - 0.07 * to_goal / to_goal.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return ((to_goal.norm(dim=-1) + 0.3 * (agent - behind).norm(dim=-1)) * w).sum(-1)


def latent_goal_cost(goal_latent: torch.Tensor, rollout: Rollout) -> torch.Tensor:
    """``[N]``: mean squared distance of each rollout's last latent frame to the goal's
    ``[C, h, w]`` (the tokenizer's normalised latent space, V-JEPA 2-AC's L1 in its embedding)."""
    if rollout.latents is None:
        raise WorldsmithError("a goal-image cost needs a model that predicts latents (the world model)")
    last = rollout.latents[:, :, -1]  # [N, C, h, w]
    return ((last - goal_latent) ** 2).flatten(1).mean(1).double()


def distance(task: Task, agent: np.ndarray, objects: np.ndarray) -> float:
    """How far the task is from done in a state: the robot's or the target's distance to the goal."""
    pos = agent if task.kind == "reach" else objects[task.target]
    return float(np.linalg.norm(np.asarray(pos) - np.asarray(task.goal)))
