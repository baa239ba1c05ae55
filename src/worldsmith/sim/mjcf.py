"""MJCF written in code: textured floor and walls, lights, and free rigid bodies, from parameters.

Every scene is an MJCF document assembled from these helpers with values drawn from a seeded
`numpy.random.Generator`, so a (scenario, seed) pair always gives the same XML. Floors and walls
carry checker and random-dot textures so that feature matching (3D-consistency evaluation) has
texture to hold on to.
"""

from __future__ import annotations

import numpy as np

# Named colours: instructions and captions refer to objects by these names.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.15, 0.12),
    "green": (0.15, 0.7, 0.2),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "orange": (0.95, 0.5, 0.05),
    "purple": (0.55, 0.2, 0.75),
    "cyan": (0.1, 0.8, 0.85),
    "white": (0.92, 0.92, 0.92),
}


def _rgb(c) -> str:
    return " ".join(f"{x:.3f}" for x in c)


def vec(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


def pick_colours(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct colour names (cycling when n exceeds the palette)."""
    names = list(rng.permutation(list(COLOURS)))
    return [names[i % len(names)] for i in range(n)]


def rgba(name: str, alpha: float = 1.0) -> str:
    return f"{_rgb(COLOURS[name])} {alpha:g}"


def textures(rng: np.random.Generator, *, ground_repeat: float = 8.0) -> str:
    """Assets: a checker ground with random dots and a dotted wall texture, colours randomised."""
    base = rng.uniform(0.25, 0.6, size=3)
    other = np.clip(base * rng.uniform(0.5, 0.8), 0, 1)
    wall = rng.uniform(0.45, 0.8, size=3)
    marks = rng.uniform(0.0, 1.0, size=3)
    return f"""
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.62 0.75 0.9" rgb2="0.25 0.35 0.5"
      width="64" height="64"/>
    <texture name="ground" type="2d" builtin="checker" rgb1="{_rgb(base)}" rgb2="{_rgb(other)}"
      mark="random" markrgb="{_rgb(marks)}" random="0.02" width="512" height="512"/>
    <material name="ground" texture="ground" texrepeat="{ground_repeat:g} {ground_repeat:g}"/>
    <texture name="wall" type="2d" builtin="checker" rgb1="{_rgb(wall)}" rgb2="{_rgb(wall * 0.8)}"
      mark="random" markrgb="{_rgb(1 - wall)}" random="0.05" width="256" height="256"/>
    <material name="wall" texture="wall" texrepeat="6 3"/>"""


def plain_textures(xml: str) -> str:
    """`xml` with its checker textures made flat (their first colour) and their random dots removed:
    floor and walls without 1-px texture edges, for benchmarks that score the objects' structure."""
    return xml.replace('builtin="checker"', 'builtin="flat"').replace('mark="random"', 'mark="none"')


def floor(size: float = 6.0, friction: float = 1.0) -> str:
    return (
        f'<geom name="floor" type="plane" size="{size:g} {size:g} {size / 20:g}" material="ground" '
        f'friction="{friction:g} 0.005 0.0001"/>'
    )


def walls(half: float = 4.0, height: float = 2.5) -> str:
    """Three textured walls (back, left, right) around the origin."""
    t = 0.05
    return f"""
    <geom name="wall_back" type="box" pos="0 {half:g} {height / 2:g}" size="{half:g} {t} {height / 2:g}"
      material="wall"/>
    <geom name="wall_left" type="box" pos="{-half:g} 0 {height / 2:g}" size="{t} {half:g} {height / 2:g}"
      material="wall"/>
    <geom name="wall_right" type="box" pos="{half:g} 0 {height / 2:g}" size="{t} {half:g} {height / 2:g}"
      material="wall"/>"""


def light(rng: np.random.Generator, height: float = 5.0) -> str:
    """One shadow-casting directional-ish spot light with a random direction and strength."""
    x, y = rng.uniform(-2, 2, size=2)
    d = rng.uniform(0.55, 0.9)
    return (
        f'<light name="sun" pos="{x:.3f} {y:.3f} {height:g}" dir="{-x / height:.3f} {-y / height:.3f} -1" '
        f'diffuse="{d:.3f} {d:.3f} {d:.3f}" specular="0.2 0.2 0.2" castshadow="true"/>'
    )


def document(
    rng: np.random.Generator,
    worldbody: str,
    *,
    model: str,
    gravity: float = 9.81,
    assets: str = "",
    actuators: str = "",
    extra: str = "",
    ground_repeat: float = 8.0,
) -> str:
    """A full MJCF document with randomised ambient light and textures."""
    ambient = rng.uniform(0.25, 0.45)
    return f"""<mujoco model="{model}">
  <compiler angle="radian"/>
  <option gravity="0 0 {-gravity:g}" integrator="RK4"/>
  <visual>
    <headlight ambient="{ambient:.3f} {ambient:.3f} {ambient:.3f}" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
    <map znear="0.01" zfar="100"/>
  </visual>
  <asset>{textures(rng, ground_repeat=ground_repeat)}{assets}
  </asset>
  <worldbody>
    {worldbody}
  </worldbody>
  {actuators}
  {extra}
</mujoco>"""


def free_body(
    name: str,
    shape: str,
    size,
    pos,
    colour: str,
    *,
    mass: float = 0.5,
    friction: float = 0.8,
    euler=(0.0, 0.0, 0.0),
) -> str:
    """A rigid body with a free joint named `name` (its joint is `name`_free)."""
    return f"""
    <body name="{name}" pos="{vec(pos)}" euler="{vec(euler)}">
      <freejoint name="{name}_free"/>
      <geom name="{name}" type="{shape}" size="{vec(size)}" rgba="{rgba(colour)}" mass="{mass:.4g}"
        friction="{friction:.3g} 0.005 0.0001"/>
    </body>"""


def random_shape(rng: np.random.Generator, scale: float = 1.0) -> tuple[str, list[float], float]:
    """(shape, size, radius-like half height) of a sphere, box or cylinder."""
    shape = str(rng.choice(["sphere", "box", "cylinder"]))
    if shape == "sphere":
        r = rng.uniform(0.08, 0.16) * scale
        return shape, [r], r
    if shape == "box":
        h = rng.uniform(0.07, 0.14, size=3) * scale
        return shape, list(h), float(h[2])
    r, h = rng.uniform(0.07, 0.13) * scale, rng.uniform(0.07, 0.14) * scale
    return shape, [r, h], h
