"""The scenario catalogue: name -> (one-line description, builder `rng -> Scene`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worldsmith.sim import drive, explore, robot, scenes
from worldsmith.sim.errors import SimError
from worldsmith.sim.scenes import Scene


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build: Callable[[np.random.Generator], Scene]
    physics_alignment: bool = False


def _entry(fn: Callable[[np.random.Generator], Scene], physics: bool = False) -> Scenario:
    return Scenario(fn.__name__, (fn.__doc__ or "").strip().splitlines()[0], fn, physics)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        _entry(scenes.free_fall, True),
        _entry(scenes.projectile, True),
        _entry(scenes.collision, True),
        _entry(scenes.ramp, True),
        _entry(scenes.dominoes, True),
        _entry(scenes.tower, True),
        _entry(scenes.slide, True),
        _entry(scenes.pendulum, True),
        _entry(robot.push),
        _entry(robot.instruct),
        _entry(explore.push_noisy),
        _entry(explore.explore_ou),
        _entry(explore.explore_waypoints),
        _entry(explore.pusher),
        _entry(explore.push_large),
        _entry(explore.push_noisy_large),
        _entry(explore.explore_ou_large),
        _entry(explore.explore_waypoints_large),
        _entry(drive.drive),
    ]
}

PHYSICS_ALIGNMENT = [s.name for s in SCENARIOS.values() if s.physics_alignment]


def get(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise SimError(
            f"unknown scenario '{name}'; choose one of {', '.join(SCENARIOS)} (worldsmith sim list)"
        )
    return SCENARIOS[name]


def build_scene(name: str, seed: int) -> Scene:
    """The scene of scenario `name` drawn with `seed` (same seed, same scene)."""
    return get(name).build(np.random.default_rng(seed))
