"""The physics-alignment scenarios, after the Cosmos paper's evaluation set (arXiv 2501.03575,
Sec. 5.2.2: rigid-body scenes rendered from a fixed camera).

Each scenario is a function `rng -> Scene` that draws sizes, colours, masses, frictions, initial
velocities and lighting from the generator and writes the MJCF in code. The robot (`push`,
`instruct`) and driving (`drive`) scenarios live in `robot.py` and `drive.py`; `catalogue.py`
names them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from worldsmith.sim import mjcf
from worldsmith.sim.camera import View


class Controller(Protocol):
    """Chooses the per-frame action of an agent (push/instruct); sets `data.ctrl`, returns it."""

    def act(self, model, data, frame: int, dt: float) -> np.ndarray: ...


class Kinematics(Protocol):
    """Scripted motion (drive): sets qpos and qvel of every moving body for time t (seconds)."""

    def pose(self, model, data, t: float) -> None: ...


@dataclass
class Scene:
    """One concrete scene: MJCF plus what the episode needs to know about it.

    `objects` are body names; an object's instance id in the masks is its index + 1 (0 is the
    background: floor, walls, static props). `init_qpos`/`init_qvel` map joint names to values.
    """

    scenario: str
    xml: str
    objects: list[str]
    view: View
    caption: str
    params: dict[str, Any] = field(default_factory=dict)
    init_qpos: dict[str, list[float]] = field(default_factory=dict)
    init_qvel: dict[str, list[float]] = field(default_factory=dict)
    controller: Controller | None = None
    kinematics: Kinematics | None = None
    rig: list[str] = field(default_factory=list)  # fixed camera names (drive)
    instruction: str | None = None
    agent: str | None = None  # body name of the robot's root: one instance id for all its links
    follow: str | None = None  # body that free cameras move with (the ego car)


def _side_view(rng: np.random.Generator, lookat, distance: float, elevation=(-25, -12)) -> View:
    return View(
        lookat=tuple(float(x) for x in lookat),
        distance=distance * rng.uniform(0.95, 1.1),
        azimuth=90.0 + rng.uniform(-15, 15),
        elevation=rng.uniform(*elevation),
    )


def _scene_xml(
    rng, name: str, bodies: str, *, floor_friction: float = 1.0, extra_world: str = "", extra: str = ""
) -> str:
    world = mjcf.light(rng) + mjcf.floor(friction=floor_friction) + mjcf.walls() + extra_world + bodies
    return mjcf.document(rng, world, model=name, extra=extra)


def _words(n: int) -> str:
    return ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"][n]


def free_fall(rng: np.random.Generator) -> Scene:
    """3-5 objects of random shape released from rest at different heights."""
    n = int(rng.integers(3, 6))
    colours = mjcf.pick_colours(rng, n)
    xs = (np.arange(n) - (n - 1) / 2) * rng.uniform(0.45, 0.6)
    bodies, heights, shapes = "", [], []
    for i in range(n):
        shape, size, _ = mjcf.random_shape(rng)
        z = float(rng.uniform(0.6, 1.8))
        euler = rng.uniform(-0.6, 0.6, size=3) if shape != "sphere" else (0, 0, 0)
        bodies += mjcf.free_body(
            f"obj{i}", shape, size, (xs[i], 0, z), colours[i], mass=rng.uniform(0.2, 2), euler=euler
        )
        heights.append(z)
        shapes.append(f"{colours[i]} {shape}")
    return Scene(
        scenario="free_fall",
        xml=_scene_xml(rng, "free_fall", bodies),
        objects=[f"obj{i}" for i in range(n)],
        view=_side_view(rng, (0, 0, 0.8), 3.6),
        caption=f"{_words(n).capitalize()} objects ({', '.join(shapes)}) fall from rest onto a checkered "
        "floor.",
        params={"heights": heights, "shapes": shapes},
    )


def projectile(rng: np.random.Generator) -> Scene:
    """A ball thrown up and forward; it flies a parabola and bounces."""
    r = float(rng.uniform(0.1, 0.15))
    colour = mjcf.pick_colours(rng, 1)[0]
    v = [float(rng.uniform(2.0, 3.2)), 0.0, float(rng.uniform(3.0, 4.2))]
    start = (-2.2, 0.0, r + 0.3)
    body = mjcf.free_body("ball", "sphere", [r], start, colour, mass=rng.uniform(0.1, 0.5))
    return Scene(
        scenario="projectile",
        xml=_scene_xml(rng, "projectile", body),
        objects=["ball"],
        view=_side_view(rng, (0, 0, 0.9), 4.4, elevation=(-12, -5)),
        caption=f"A {colour} ball is thrown forward and upward, flies along a parabola and bounces on the "
        "floor.",
        params={"radius": r, "v0": v, "start": start},
        init_qvel={"ball_free": v + [0.0, 0.0, 0.0]},
    )


def collision(rng: np.random.Generator) -> Scene:
    """Two balls of different masses roll towards each other and collide."""
    r = np.full(2, rng.uniform(0.09, 0.13))  # equal radii: the contact normal stays horizontal
    m = rng.uniform(0.3, 2.0, size=2)
    colours = mjcf.pick_colours(rng, 2)
    v = [float(rng.uniform(1.2, 2.5)), -float(rng.uniform(1.2, 2.5))]
    y_off = float(rng.uniform(-0.5, 0.5)) * min(r)
    # A billiard-like cloth (friction 0.1): the balls roll, and sliding after the impact is gentle.
    bodies = mjcf.free_body("ball0", "sphere", [r[0]], (-1.0, 0, r[0]), colours[0], mass=m[0], friction=0.1)
    bodies += mjcf.free_body(
        "ball1", "sphere", [r[1]], (1.0, y_off, r[1]), colours[1], mass=m[1], friction=0.1
    )
    # Ball-on-ball: nearly frictionless, stiff and bouncy (damping ratio 0.2), like billiard balls.
    pair = """<contact><pair geom1="ball0" geom2="ball1" condim="3" friction="0.02 0.02 0.005 0.0001 0.0001"
      solref="0.008 0.2"/></contact>"""
    # Rolling without slipping: angular velocity about y equals v / r.
    return Scene(
        scenario="collision",
        xml=_scene_xml(rng, "collision", bodies, floor_friction=0.1, extra=pair),
        objects=["ball0", "ball1"],
        view=_side_view(rng, (0, 0, 0.2), 3.2, elevation=(-30, -15)),
        caption=f"A {colours[0]} ball and a {colours[1]} ball roll towards each other and collide.",
        params={"radius": r.tolist(), "mass": m.tolist(), "v0": v, "y_offset": y_off},
        init_qvel={
            "ball0_free": [v[0], 0, 0, 0, v[0] / r[0], 0],
            "ball1_free": [v[1], 0, 0, 0, v[1] / r[1], 0],
        },
    )


def ramp(rng: np.random.Generator) -> Scene:
    """A ball and a cylinder roll down an inclined plane onto the floor."""
    theta = float(rng.uniform(math.radians(12), math.radians(25)))
    L, w, t = 1.0, 0.45, 0.04
    h = L * math.sin(theta) + t * math.cos(theta)
    axis_x = np.array([math.cos(theta), 0, -math.sin(theta)])
    normal = np.array([math.sin(theta), 0, math.cos(theta)])
    centre = np.array([0.0, 0.0, h])
    ramp_geom = (
        f'<geom name="ramp" type="box" pos="{mjcf.vec(centre)}" euler="0 {theta:.5f} 0" '
        f'size="{L} {w} {t}" material="wall"/>'
    )
    colours = mjcf.pick_colours(rng, 2)
    r_ball, r_cyl = float(rng.uniform(0.07, 0.11)), float(rng.uniform(0.06, 0.1))
    top = centre + t * normal
    p_ball = top - 0.8 * L * axis_x + r_ball * normal + np.array([0, -0.2, 0])
    p_cyl = top - 0.6 * L * axis_x + r_cyl * normal + np.array([0, 0.2, 0])
    bodies = mjcf.free_body("ball", "sphere", [r_ball], p_ball, colours[0], mass=rng.uniform(0.2, 1))
    bodies += mjcf.free_body(
        "cylinder",
        "cylinder",
        [r_cyl, 0.08],
        p_cyl,
        colours[1],
        mass=rng.uniform(0.2, 1),
        euler=(math.pi / 2, 0, 0),
    )
    return Scene(
        scenario="ramp",
        xml=_scene_xml(rng, "ramp", bodies, extra_world=ramp_geom),
        objects=["ball", "cylinder"],
        view=_side_view(rng, (0.3, 0, 0.3), 3.2),
        caption=f"A {colours[0]} ball and a {colours[1]} cylinder roll down a {math.degrees(theta):.0f} "
        "degree ramp.",
        params={"angle_deg": math.degrees(theta)},
    )


def dominoes(rng: np.random.Generator) -> Scene:
    """A row of dominoes; the first is tipped and the rest topple in turn."""
    n = int(rng.integers(6, 11))
    half = (0.02, float(rng.uniform(0.08, 0.12)), float(rng.uniform(0.16, 0.2)))
    spacing = float(rng.uniform(0.55, 0.75)) * 2 * half[2]
    x0 = -spacing * (n - 1) / 2
    # Tip the first domino about its front bottom edge: v = omega x (com - edge) = omega (h, 0, w).
    omega = float(rng.uniform(1.5, 2.5))
    colours = mjcf.pick_colours(rng, n)
    bodies = "".join(
        mjcf.free_body(
            f"domino{i}", "box", half, (x0 + i * spacing, 0, half[2]), colours[i], mass=0.1, friction=0.6
        )
        for i in range(n)
    )
    return Scene(
        scenario="dominoes",
        xml=_scene_xml(rng, "dominoes", bodies),
        objects=[f"domino{i}" for i in range(n)],
        view=_side_view(rng, (0, 0, 0.15), max(2.5, n * spacing * 1.6), elevation=(-30, -15)),
        caption=f"A row of {_words(n)} dominoes topples one after another.",
        params={"count": n, "spacing": spacing, "half_size": half},
        init_qvel={"domino0_free": [omega * half[2], 0, omega * half[0], 0, omega, 0]},
    )


def tower(rng: np.random.Generator) -> Scene:
    """A leaning tower of boxes that falls over under gravity."""
    n = int(rng.integers(4, 8))
    half = float(rng.uniform(0.08, 0.12))
    # With a constant offset d per level, the n - 1 boxes above the bottom one have their centre of
    # mass d n / 2 from its centre: the tower tips once d > 2 half / n. Lean 20-60% past that.
    lean = float(rng.uniform(1.2, 1.6)) * 2 * half / n * rng.choice([-1, 1])
    mass = float(rng.uniform(0.2, 1.0))
    colours = mjcf.pick_colours(rng, n)
    bodies = ""
    for i in range(n):
        pos = (i * lean, float(rng.uniform(-0.1, 0.1)) * half, half + 2 * half * i)
        bodies += mjcf.free_body(f"box{i}", "box", [half] * 3, pos, colours[i], mass=mass)
    return Scene(
        scenario="tower",
        xml=_scene_xml(rng, "tower", bodies),
        objects=[f"box{i}" for i in range(n)],
        view=_side_view(rng, (0, 0, n * half), 3.0 + 0.2 * n),
        caption=f"A leaning tower of {_words(n)} boxes falls over.",
        params={"count": n, "half_size": half, "lean": lean},
    )


def slide(rng: np.random.Generator) -> Scene:
    """Boxes pushed across the floor slow down and stop under sliding friction."""
    n = int(rng.integers(2, 5))
    colours = mjcf.pick_colours(rng, n)
    mu = rng.uniform(0.15, 0.6, size=n)
    v = rng.uniform(1.0, 2.5, size=n)
    bodies = ""
    for i in range(n):
        half = rng.uniform(0.06, 0.1, size=3)
        half[2] = min(half[2], half[0])
        y = (i - (n - 1) / 2) * 0.45
        bodies += mjcf.free_body(
            f"box{i}", "box", half, (-1.5, y, half[2]), colours[i], mass=1.0, friction=mu[i]
        )
    return Scene(
        scenario="slide",
        xml=_scene_xml(rng, "slide", bodies, floor_friction=0.05),
        objects=[f"box{i}" for i in range(n)],
        view=_side_view(rng, (-0.5, 0, 0.1), 3.4, elevation=(-40, -25)),
        caption=f"{_words(n).capitalize()} boxes slide across the floor and come to rest under friction.",
        params={"friction": mu.tolist(), "v0": v.tolist()},
        init_qvel={f"box{i}_free": [float(v[i]), 0, 0, 0, 0, 0] for i in range(n)},
    )


def pendulum(rng: np.random.Generator) -> Scene:
    """A simple pendulum (a small heavy bob on a light rod) swinging at small amplitude."""
    L = float(rng.uniform(0.5, 1.2))
    r = 0.07
    pivot = L + r + 0.25
    amplitude = float(rng.uniform(math.radians(5), math.radians(15))) * rng.choice([-1, 1])
    colour = mjcf.pick_colours(rng, 1)[0]
    body = f"""
    <geom name="post" type="box" pos="0 0.3 {pivot / 2:.4f}" size="0.03 0.03 {pivot / 2:.4f}"
      material="wall"/>
    <geom name="beam" type="capsule" fromto="0 0.3 {pivot:.4f} 0 0 {pivot:.4f}" size="0.02" material="wall"/>
    <body name="bob" pos="0 0 {pivot:.4f}">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0"/>
      <geom name="rod" type="capsule" fromto="0 0 0 0 0 {-L + r:.4f}" size="0.008" mass="1e-6"
        contype="0" conaffinity="0" rgba="0.2 0.2 0.2 1"/>
      <geom name="bob" type="sphere" pos="0 0 {-L:.4f}" size="{r}" mass="1" rgba="{mjcf.rgba(colour)}"/>
    </body>"""
    return Scene(
        scenario="pendulum",
        xml=_scene_xml(rng, "pendulum", body),
        objects=["bob"],
        view=_side_view(rng, (0, 0, pivot - L / 2), 1.4 + L),
        caption=f"A {colour} pendulum bob of length {L:.2f} m swings back and forth.",
        params={"length": L, "amplitude_rad": amplitude, "pivot_height": pivot},
        init_qpos={"hinge": [amplitude]},
    )
