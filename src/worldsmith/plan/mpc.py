"""Model-predictive control in the twin: plan with a model, execute the first action(s), replan.

The search space is piecewise constant: ``horizon / hold`` knots of ``[vx, vy]``, each held for
`hold` frames (one latent frame of the world model when ``hold`` is its temporal compression), so
a 16-action plan is 8 numbers. Each replan warm-starts from the previous plan, shifted by what was
executed (PlaNet / V-JEPA 2-AC do the same).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from worldsmith.config import check
from worldsmith.errors import WorldsmithError
from worldsmith.plan.models import PlanModel
from worldsmith.plan.samplers import SEARCHES, Search, cem, mppi
from worldsmith.plan.tasks import Task, distance, latent_goal_cost, position_cost
from worldsmith.plan.twin import ACTION_DIM, MAX_SPEED, Observation, Twin


@dataclass(frozen=True, kw_only=True)
class MPCConfig:
    search: str = "cem"  # cem | mppi
    iters: int = 3
    samples: int = 32
    elites: int = 4  # CEM
    temperature: float = 0.02  # MPPI's lambda, in cost units (metres)
    horizon: int = 16  # actions per plan
    hold: int = 4  # frames each planned action is held
    execute: int = 4  # actions executed before replanning
    init_std: float = 0.25  # m/s

    def __post_init__(self) -> None:
        check(self.search in SEARCHES, "search", self.search, f"must be one of {', '.join(SEARCHES)}")
        check(
            self.horizon % self.hold == 0,
            "horizon",
            self.horizon,
            f"must be a multiple of hold ({self.hold})",
        )
        check(1 <= self.execute <= self.horizon, "execute", self.execute, "must be in 1..horizon")
        check(
            self.execute % self.hold == 0,
            "execute",
            self.execute,
            f"must be a multiple of hold ({self.hold})",
        )


@dataclass
class EpisodeResult:
    task: Task
    planner: str
    success: bool
    start_distance: float
    final_distance: float
    plan_seconds: list[float] = field(default_factory=list)  # per replan
    rollout_seconds: float = 0.0  # inside the model
    rollouts: int = 0  # action sequences the model scored
    executed: np.ndarray | None = None  # [T + 1, h, w, 3] the twin's frames
    imagined: np.ndarray | None = None  # [T + 1, h, w, 3] what the planner expected, plan by plan

    def row(self) -> dict:
        return {
            "planner": self.planner,
            "task": self.task.kind,
            "seed": self.task.seed,
            "success": self.success,
            "start_distance": round(self.start_distance, 4),
            "final_distance": round(self.final_distance, 4),
            "plans": len(self.plan_seconds),
            "rollouts": self.rollouts,
        }


def expand(knots: torch.Tensor, hold: int) -> torch.Tensor:
    """``[..., K, A]`` knots -> ``[..., K hold, A]`` actions, each knot held for `hold` frames."""
    return knots.repeat_interleave(hold, dim=-2)


def plan(model: PlanModel, task: Task, obs: Observation, cfg: MPCConfig, mean: torch.Tensor,
         generator: torch.Generator, goal_latent: torch.Tensor | None = None,
         ) -> tuple[Search, float]:  # fmt: skip
    """One search from `obs` (knots ``mean [K, A]`` as the start): the `Search` and model seconds.
    With `goal_latent` the cost is the latent distance to a goal image, else the task's positions."""
    spent = [0.0]

    def cost(knots: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        rollout = model.rollout(obs, expand(knots, cfg.hold))
        spent[0] += time.perf_counter() - t0
        return position_cost(task, rollout) if goal_latent is None else latent_goal_cost(goal_latent, rollout)

    std = torch.full_like(mean, cfg.init_std)
    bounds = dict(
        lower=-MAX_SPEED, upper=MAX_SPEED, generator=generator, iters=cfg.iters, samples=cfg.samples
    )
    if cfg.search == "cem":
        found = cem(cost, mean, std, elites=cfg.elites, **bounds)
    else:
        found = mppi(cost, mean, std, temperature=cfg.temperature, **bounds)
    return found, spent[0]


def run_episode(task: Task, model: PlanModel | None, cfg: MPCConfig, *, twin: Twin, seed: int = 0,
                record: bool = False, name: str | None = None, goal_image: bool = False,
                ) -> EpisodeResult:  # fmt: skip
    """Run `task` in `twin` (fresh, the task's scene) with MPC on `model` (None: random actions,
    uniform in the bounds and held like the plans). `goal_image`: plan towards the twin's frame
    with the robot at the goal (reach; models with latents) instead of the goal position."""
    goal_latent = None
    if goal_image and model is not None:
        if task.kind != "reach" or not hasattr(model, "goal_latent"):
            raise WorldsmithError(
                f"a goal image needs a reach task and a model with latents (the world model), got "
                f"{task.kind} with '{model.name}'; plan towards the goal position instead"
            )
        goal_latent = model.goal_latent(twin.render_goal(task.goal))
    g = torch.Generator().manual_seed(seed)
    K = cfg.horizon // cfg.hold
    mean = torch.zeros(K, ACTION_DIM, dtype=torch.float64)
    obs = twin.observe()
    start = distance(task, obs.agent, obs.objects)
    result = EpisodeResult(task=task, planner=name or (model.name if model else "random"), success=False,
                           start_distance=start, final_distance=float("nan"))  # fmt: skip
    executed, imagined = [obs.frame], [obs.frame]
    steps = 0
    while steps < task.steps:
        t0 = time.perf_counter()
        if model is None:
            knots = (torch.rand(K, ACTION_DIM, generator=g, dtype=torch.float64) * 2 - 1) * MAX_SPEED
        else:
            found, spent = plan(model, task, obs, cfg, mean, g, goal_latent)
            # execute the cheapest sequence scored: with a few dozen samples the elite mean is a blend
            knots, result.rollout_seconds = found.best, result.rollout_seconds + spent
            result.rollouts += found.evaluations
        result.plan_seconds.append(time.perf_counter() - t0)
        actions = expand(knots, cfg.hold)[: min(cfg.execute, task.steps - steps)]  # [E, A]
        if record and model is not None:
            frames = model.rollout(obs, expand(knots, cfg.hold)[None]).frames
            if frames is not None:
                imagined.extend(frames[0, 1 : len(actions) + 1])
        for a in actions.numpy():
            twin.step(a)
            steps += 1
            if record:
                executed.append(twin.observe().frame)
        obs = twin.observe()
        shift = cfg.execute // cfg.hold
        mean = torch.cat([knots[shift:], knots.new_zeros(shift, ACTION_DIM)])  # warm start
        if len(imagined) < len(executed):  # models without video: show the observed frames held
            imagined.extend([imagined[-1]] * (len(executed) - len(imagined)))
    result.final_distance = distance(task, obs.agent, obs.objects)
    result.success = result.final_distance < task.radius
    if record:
        result.executed, result.imagined = np.stack(executed), np.stack(imagined[: len(executed)])
    return result
