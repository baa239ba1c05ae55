"""A table-top robot that pushes objects: `push` (scripted random policy) and `instruct`
(follows "push the red cube to the left").

The robot is a gripper-less 3-DoF arm: shoulder and elbow hinges about the vertical axis move a
vertical pusher over the table, and a prismatic joint lifts or lowers it. Position actuators track
per-frame joint targets; those targets are the saved **actions** (action t is applied from frame t
to frame t + 1). The policy plans in Cartesian space (approach behind an object, lower, push
through, lift) and converts tip targets to joint targets with the closed-form two-link inverse
kinematics (law of cosines).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worldsmith.sim import mjcf
from worldsmith.sim.camera import View
from worldsmith.sim.scenes import Scene

TABLE_Z = 0.4  # table top height
BASE = np.array([0.0, 0.62])  # shoulder position in the table plane
L1 = L2 = 0.5  # link lengths
LINK_Z = TABLE_Z + 0.17
LIFT_UP, LIFT_DOWN = 0.07, -0.02  # pusher bottom 11 cm / 2 cm above the table (objects: 6-9 cm)
SPEED = 0.35  # m/s of the tip target


@dataclass(frozen=True)
class ArmLook:
    """How the arm scenes look (physics and policies are the same for every look, geometry aside)."""

    link_radius: tuple[float, float] = (0.025, 0.022)  # upper arm, forearm capsules (m)
    pusher_radius: float = 0.022
    colours: tuple[str, str, str] = ("0.85 0.85 0.88 1", "0.2 0.45 0.8 1", "0.15 0.15 0.15 1")
    table: str = 'material="wall"'  # the checker texture; or a plain rgba
    distance: tuple[float, float] = (1.6, 1.9)  # camera distance range (m)
    elevation: tuple[float, float] = (-50.0, -35.0)  # degrees


# `large`: the arm seen from closer and more from above, with 2x thicker links in saturated colours
# over a plain table: ~6 px links and ~2 px/frame tip motion at 64x64 (the default's thin arm, 2-3 px,
# is blurred away by 8x-compressing tokenizers). Links stay above the tallest object (9 cm).
ARM_LOOKS = {
    "default": ArmLook(),
    "large": ArmLook(link_radius=(0.05, 0.045), pusher_radius=0.04,
                     colours=("0.95 0.55 0.1 1", "0.85 0.1 0.55 1", "0.08 0.08 0.08 1"),
                     table='rgba="0.42 0.44 0.47 1"', distance=(1.3, 1.45), elevation=(-72.0, -62.0)),
}  # fmt: skip

# Directions as seen from the default camera (on the -y side, looking +y): image left is -x.
DIRECTIONS = {
    "to the left": (-1.0, 0.0),
    "to the right": (1.0, 0.0),
    "away from the camera": (0.0, 1.0),
    "towards the camera": (0.0, -1.0),
}


def inverse_kinematics(xy: np.ndarray) -> tuple[float, float]:
    """Shoulder and elbow angles that put the pusher at table point `xy` (elbow-left branch)."""
    p = np.asarray(xy, np.float64) - BASE
    r = float(np.clip(np.linalg.norm(p), 0.05, 0.98 * (L1 + L2)))
    c2 = (r * r - L1 * L1 - L2 * L2) / (2 * L1 * L2)
    q2 = math.acos(float(np.clip(c2, -1.0, 1.0)))
    q1 = math.atan2(p[1], p[0]) - math.atan2(L2 * math.sin(q2), L1 + L2 * math.cos(q2))
    return q1, q2


def forward_kinematics(q1: float, q2: float) -> np.ndarray:
    return BASE + np.array(
        [L1 * math.cos(q1) + L2 * math.cos(q1 + q2), L1 * math.sin(q1) + L2 * math.sin(q1 + q2)]
    )


def _robot_xml(look: ArmLook) -> str:
    (r1, r2), c = look.link_radius, look.colours
    return f"""
    <geom name="table" type="box" pos="0 0 {TABLE_Z / 2}" size="0.7 0.5 {TABLE_Z / 2}" {look.table}/>
    <geom name="pillar" type="cylinder" pos="{BASE[0]} {BASE[1]} {LINK_Z / 2}" size="0.05 {LINK_Z / 2}"
      rgba="0.3 0.3 0.32 1"/>
    <body name="robot" pos="{BASE[0]} {BASE[1]} {LINK_Z}">
      <joint name="shoulder" type="hinge" axis="0 0 1" damping="1"/>
      <geom name="link1" type="capsule" fromto="0 0 0 {L1} 0 0" size="{r1:g}" mass="0.3" rgba="{c[0]}"/>
      <body name="forearm" pos="{L1} 0 0">
        <joint name="elbow" type="hinge" axis="0 0 1" damping="0.5"/>
        <geom name="link2" type="capsule" fromto="0 0 0 {L2} 0 0" size="{r2:g}" mass="0.2" rgba="{c[1]}"/>
        <body name="pusher" pos="{L2} 0 0">
          <joint name="lift" type="slide" axis="0 0 1" range="-0.08 0.08" damping="5"/>
          <geom name="pusher" type="capsule" fromto="0 0 0 0 0 -0.11" size="{look.pusher_radius:g}"
            mass="0.1" rgba="{c[2]}"/>
          <site name="tip" pos="0 0 -0.133" size="0.005"/>
        </body>
      </body>
    </body>"""


_ACTUATORS = """
  <actuator>
    <position name="shoulder" joint="shoulder" kp="40" kv="4"/>
    <position name="elbow" joint="elbow" kp="25" kv="2"/>
    <position name="lift" joint="lift" kp="400" kv="20"/>
  </actuator>"""


class PushPolicy:
    """Scripted pushes: for each (object, direction, distance), approach behind the object with the
    pusher raised, lower it, push through, lift. Tip targets move at `SPEED`."""

    def __init__(self, objects: list[str], pushes: list[tuple[int, tuple[float, float], float]]):
        self.objects = objects
        self.pushes = list(pushes)
        self.phase = "approach" if self.pushes else "rest"
        self.target = np.array([0.0, 0.05, LIFT_UP])  # tip target: x, y, lift
        self.waypoint = None
        self._push_end = None

    def start(self) -> np.ndarray:
        return self.target.copy()

    def _object_xy(self, data, k: int) -> np.ndarray:
        return data.body(self.objects[k]).xpos[:2].copy()

    def _plan(self, data) -> np.ndarray:
        if not self.pushes:
            return self.target
        k, d, dist = self.pushes[0]
        d = np.asarray(d)
        if self.phase == "approach":
            pre = self._object_xy(data, k) - 0.11 * d
            return np.array([*pre, LIFT_UP])
        if self.phase == "lower":
            return np.array([*self.target[:2], LIFT_DOWN])
        if self.phase == "push":
            return np.array([*self._push_end, LIFT_DOWN])
        return np.array([*self.target[:2], LIFT_UP])  # lift

    def act(self, model, data, frame: int, dt: float) -> np.ndarray:
        step = SPEED * dt
        goal = self._plan(data)
        delta = goal - self.target
        xy_dist = float(np.linalg.norm(delta[:2]))
        if xy_dist > step:
            delta[:2] *= step / xy_dist
        self.target = self.target + delta
        if np.linalg.norm(goal - self.target) < 1e-6:
            self._next_phase(data)
        q1, q2 = inverse_kinematics(self.target[:2])
        action = np.array([q1, q2, self.target[2]])
        data.ctrl[:] = action
        return action

    def _next_phase(self, data) -> None:
        if not self.pushes:
            return
        k, d, dist = self.pushes[0]
        if self.phase == "approach":
            self.phase = "lower"
        elif self.phase == "lower":
            self.phase = "push"
            self._push_end = self.target[:2] + np.asarray(d) * (0.11 + dist)
        elif self.phase == "push":
            self.phase = "lift"
        elif self.phase == "lift":
            self.pushes.pop(0)
            self.phase = "approach" if self.pushes else "rest"

    def record(self, model, data) -> dict[str, np.ndarray]:
        return {"tip_pos": data.site("tip").xpos.copy(), "tip_target": self.target.copy()}


def _table_objects(rng: np.random.Generator, n: int) -> tuple[str, list[str], list[str]]:
    colours = mjcf.pick_colours(rng, n)
    placed: list[np.ndarray] = []
    while len(placed) < n:
        p = rng.uniform([-0.3, -0.15], [0.3, 0.2])
        if all(np.linalg.norm(p - q) > 0.16 for q in placed):
            placed.append(p)
    xml, names, labels = "", [], []
    for i in range(n):
        shape = str(rng.choice(["box", "cylinder"]))
        h = float(rng.uniform(0.03, 0.045))
        size = [h, h, h] if shape == "box" else [h, h]
        xml += mjcf.free_body(
            f"obj{i}",
            shape,
            size,
            (*placed[i], TABLE_Z + h),
            colours[i],
            mass=rng.uniform(0.1, 0.3),
            friction=0.5,
        )
        names.append(f"obj{i}")
        labels.append(f"{colours[i]} {'cube' if shape == 'box' else 'cylinder'}")
    return xml, names, labels


def _build(rng, scenario: str, n: int, choose_pushes, make_policy=PushPolicy, look: str = "default") -> Scene:
    """`make_policy(object_names, pushes)`: the controller (scripted pushes by default); `look`: a key
    of `ARM_LOOKS` (the random draws are the same for every look)."""
    style = ARM_LOOKS[look]
    objects_xml, names, labels = _table_objects(rng, n)
    pushes, caption, instruction = choose_pushes(rng, labels)
    policy = make_policy(names, pushes)
    q1, q2 = inverse_kinematics(policy.start()[:2])
    world = mjcf.light(rng) + mjcf.floor() + mjcf.walls() + _robot_xml(style) + objects_xml
    xml = mjcf.document(rng, world, model=scenario, actuators=_ACTUATORS)
    view = View(
        lookat=(0.0, 0.05, TABLE_Z),
        distance=float(rng.uniform(*style.distance)),
        azimuth=90.0 + float(rng.uniform(-8, 8)),
        elevation=float(rng.uniform(*style.elevation)),
    )
    return Scene(
        scenario=scenario,
        xml=xml,
        objects=names,
        view=view,
        caption=caption,
        params={"objects": labels, "pushes": [[k, list(d), dist] for k, d, dist in pushes]},
        init_qpos={"shoulder": [q1], "elbow": [q2], "lift": [LIFT_UP]},
        controller=policy,
        instruction=instruction,
        agent="robot",
    )


def push(rng: np.random.Generator) -> Scene:
    """A 3-DoF arm pushes objects on a table in random directions (actions saved per frame)."""

    def choose(rng, labels):
        pushes = []
        for _ in range(6):
            k = int(rng.integers(len(labels)))
            angle = rng.uniform(0, 2 * math.pi)
            pushes.append((k, (math.cos(angle), math.sin(angle)), float(rng.uniform(0.08, 0.2))))
        return pushes, "A robot arm pushes the objects on a table around.", None

    return _build(rng, "push", int(rng.integers(2, 5)), choose)


def instruct(rng: np.random.Generator) -> Scene:
    """The arm follows one instruction, e.g. "push the red cube to the left" (the caption)."""

    def choose(rng, labels):
        k = int(rng.integers(len(labels)))
        phrase = str(rng.choice(list(DIRECTIONS)))
        distance = float(rng.uniform(0.12, 0.22))
        instruction = f"push the {labels[k]} {phrase}"
        return [(k, DIRECTIONS[phrase], distance)], instruction.capitalize() + ".", instruction

    return _build(rng, "instruct", int(rng.integers(2, 4)), choose)
