"""What a planner can use as its model: one small protocol, three implementations.

* `WorldModelPlanner`: an action-conditioned world model (``worldsmith posttrain action``). Each
  batch of action sequences is one batched Video2World sampling from the observed frame, in the
  tokenizer's latent space (`Rollout.latents`, for goal-image costs); positions come from the
  decoded prediction, segmented by the known appearance of each instance in the observed frame
  (`eval.physics.segment`): the centroid displacements from the given frame, unprojected onto the
  table, are added to the observed positions.
* `SimulatorModel`: the MuJoCo twin itself, re-simulated from the observed physics state: planning
  without model error, the upper bound.
* `CopyLastModel`: nothing moves (copy-last-frame as a model): every plan looks the same to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.eval.physics import appearance_models, background_plate, segment
from worldsmith.plan.tasks import Rollout
from worldsmith.plan.twin import ACTION_DIM, ROBOT, Observation, Twin, unproject_to_plane
from worldsmith.posttrain.ar_action import ActionGPT
from worldsmith.posttrain.recipes import clip_geometry, decode_latents, sample_action_latents
from worldsmith.posttrain.world import load_action_world
from worldsmith.sim.robot import TABLE_Z

CENTROID_Z = TABLE_Z + 0.04  # the plane segmented centroids are unprojected onto (object mid-height)


class PlanModel(Protocol):
    """Predicts where things go under a batch of action sequences from an observation."""

    name: str
    horizon: int  # the longest action sequence one rollout takes

    def rollout(self, obs: Observation, actions: torch.Tensor) -> Rollout:
        """``actions [N, H, A]`` -> the `Rollout` (positions after each action)."""
        ...


def _repeat(obs: Observation, N: int, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    agent = torch.from_numpy(obs.agent).expand(N, H, 2).clone()  # [N, H, 2]
    objects = torch.from_numpy(obs.objects).expand(N, H, *obs.objects.shape).clone()  # [N, H, M, 2]
    return agent, objects


class CopyLastModel:
    name = "copy-last-frame"

    def __init__(self, horizon: int = 16):
        self.horizon = horizon

    def rollout(self, obs: Observation, actions: torch.Tensor) -> Rollout:
        N, H, _ = actions.shape
        agent, objects = _repeat(obs, N, H)
        frames = np.broadcast_to(obs.frame, (N, H + 1, *obs.frame.shape))
        return Rollout(agent=agent, objects=objects, frames=frames)


class SimulatorModel:
    name = "simulator"

    def __init__(self, twin: Twin, horizon: int = 16):
        self.twin, self.horizon = twin, horizon

    def rollout(self, obs: Observation, actions: torch.Tensor) -> Rollout:
        agent, objects = self.twin.simulate(obs.snapshot, actions.double().numpy())
        return Rollout(agent=torch.from_numpy(agent), objects=torch.from_numpy(objects))


def load_planner_world(ckpt: str | Path):
    """An action world model for planning on the pusher: (world, net), checked against the robot."""
    try:
        world, net = load_action_world(ckpt)
    except CheckpointError as err:
        raise CheckpointError(
            f"--ckpt '{ckpt}' has no action conditioning to plan with ({str(err).split(';')[0]}); "
            "give the model/ folder of `worldsmith posttrain action --data <pusher episodes>`"
        ) from None
    if isinstance(net, ActionGPT):
        raise WorldsmithError(
            f"--ckpt '{ckpt}' is an AR action world model; the planner rolls out diffusion ones: give the "
            "model/ folder of `worldsmith posttrain action --init <diffusion world model>`"
        )
    if net.action_cfg.action_dim != ACTION_DIM:
        raise WorldsmithError(
            f"--ckpt '{ckpt}' takes {net.action_cfg.action_dim}-D actions but the task's robot "
            f"('{ROBOT}', [vx, vy]) has {ACTION_DIM}; post-train on `worldsmith sim run {ROBOT}` episodes"
        )
    return world, net


class WorldModelPlanner:
    """Roll batches of action sequences out in an action world model (see the module docstring)."""

    name = "world model"

    def __init__(self, world, net, twin: Twin, *, steps: int = 4, sampler: str = "euler", seed: int = 0):
        self.world, self.net, self.twin = world, net, twin
        frames, size, self.k = clip_geometry(world)
        if size != (twin.renderer.height, twin.renderer.width):
            raise WorldsmithError(
                f"the world model works at {size}, the twin renders {twin.renderer.height} px"
            )
        self.horizon = frames - 1
        self.steps, self.sampler, self.seed = steps, sampler, seed
        self.calls = 0

    def _pad(self, actions: torch.Tensor) -> torch.Tensor:
        N, H, A = actions.shape
        if self.horizon < H:
            raise WorldsmithError(f"plan horizon {H} is longer than the world model's {self.horizon} actions")
        return torch.cat([actions, actions.new_zeros(N, self.horizon - H, A)], 1).float()  # [N, F-1, A]

    @torch.no_grad()
    def sample(self, given: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Given frames ``[N, 1, h, w, 3]`` + actions ``[N, H, A]`` -> (latents ``[N, C, T, h', w']``,
        video ``[N, F, h, w, 3]``): one batched Video2World sampling."""
        latents = sample_action_latents(self.world, self.net, given, self._pad(actions), steps=self.steps,
                                        sampler=self.sampler, seed=self.seed + self.calls)  # fmt: skip
        self.calls += 1
        return latents, decode_latents(self.world, latents, given).numpy()

    @torch.no_grad()
    def goal_latent(self, image: np.ndarray) -> torch.Tensor:
        """A goal image ``[h, w, 3]`` -> its latent ``[C, h', w']``: the last latent frame of a still
        clip of it (latent frames after the first summarise k frames; the first, one)."""
        frames, _, _ = clip_geometry(self.world)
        clip = torch.from_numpy(image).expand(1, frames, *image.shape)  # [1, F, h, w, 3]
        return self.world.encode_frames(clip)[0, :, -1]

    def predict(self, given: torch.Tensor, actions: torch.Tensor) -> np.ndarray:
        return self.sample(given, actions)[1]

    def rollout(self, obs: Observation, actions: torch.Tensor) -> Rollout:
        N, H, _ = actions.shape
        given = torch.from_numpy(obs.frame).expand(N, 1, *obs.frame.shape).contiguous()  # [N, 1, h, w, 3]
        latents, video = self.sample(given, actions)
        agent, objects = track(self.twin, obs, video[:, : H + 1])
        return Rollout(agent=agent, objects=objects, frames=video[:, : H + 1], latents=latents)


def track(twin: Twin, obs: Observation, video: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions ``[N, H, 2]`` (robot) and ``[N, H, M, 2]`` from predicted clips ``[N, H + 1, h, w, 3]``."""
    N, T = video.shape[:2]
    models = appearance_models(obs.frame[None], obs.masks[None])
    plate = background_plate(obs.frame[None], obs.masks[None])
    seg = segment(video.reshape(N * T, *video.shape[2:]), models, plate).reshape(N, T, *video.shape[2:4])
    ids = [*range(1, len(obs.objects) + 1), twin.agent_instance]
    now = np.concatenate([obs.objects, obs.agent[None]])  # [M + 1, 2] observed positions
    out = np.empty((N, T - 1, len(ids), 2))
    for n in range(N):
        for j, inst in enumerate(ids):
            out[n, :, j] = _displaced(twin, seg[n] == inst, now[j])
    return torch.from_numpy(out[:, :, -1]), torch.from_numpy(out[:, :, :-1])


def _displaced(twin: Twin, masks: np.ndarray, now: np.ndarray) -> np.ndarray:
    """``[T, h, w]`` masks of one instance -> its positions ``[T - 1, 2]`` after frame 0: the
    observed position plus the unprojected centroid displacement (held where it is lost)."""
    T = len(masks)
    points, last = np.empty((T, 2)), None
    for t in range(T):
        ys, xs = np.nonzero(masks[t])
        if len(xs):
            uv = np.array([xs.mean(), ys.mean()])
            last = unproject_to_plane(uv, twin.K, twin.world_to_cam, CENTROID_Z)
        points[t] = np.nan if last is None else last
    if np.isnan(points[0]).any():  # not found in the given frame: no displacement to measure
        return np.broadcast_to(now, (T - 1, 2))
    return now + np.nan_to_num(points[1:] - points[0])
