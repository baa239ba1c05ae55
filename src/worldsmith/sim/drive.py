"""`drive`: an ego car on a three-lane road among other vehicles and roadside obstacles, seen by a
rig of synchronised cameras fixed to the ego car (front, back, left, right, front-left,
front-right).

Vehicles are kinematic: their planar pose (x, y, yaw) is a scripted function of time written into
qpos and qvel, so the saved ego trajectory and velocities are exact. The ego keeps the middle lane
or makes one smooth lane change (a logistic lateral profile).
"""

from __future__ import annotations

import math

import numpy as np

from worldsmith.sim import mjcf
from worldsmith.sim.camera import View
from worldsmith.sim.scenes import Scene

LANE = 3.5  # lane width, metres; lanes centred at y = -LANE, 0, +LANE
ROAD = (-60.0, 400.0)  # road extent along x
RIG = {  # name: (position on the car, heading offset in degrees)
    "front": ((2.35, 0.0, 1.3), 0.0),
    "back": ((-2.35, 0.0, 1.3), 180.0),
    "left": ((0.0, 0.95, 1.5), 90.0),
    "right": ((0.0, -0.95, 1.5), -90.0),
    "front_left": ((2.0, 0.85, 1.4), 50.0),
    "front_right": ((2.0, -0.85, 1.4), -50.0),
}


def _camera_xml(name: str, pos, heading_deg: float) -> str:
    """A camera looking horizontally at `heading_deg` from the car's +x axis (MJCF cameras look
    along their -z axis with +y up, so x-axis = right, y-axis = world up)."""
    a = math.radians(heading_deg)
    right = (math.sin(a), -math.cos(a), 0.0)
    return f'<camera name="{name}" pos="{mjcf.vec(pos)}" xyaxes="{mjcf.vec(right)} 0 0 1" fovy="75"/>'


def _vehicle_xml(name: str, colour: str, rig: bool = False) -> str:
    cams = "".join(_camera_xml(n, p, h) for n, (p, h) in RIG.items()) if rig else ""
    return f"""
    <body name="{name}">
      <joint name="{name}_x" type="slide" axis="1 0 0"/>
      <joint name="{name}_y" type="slide" axis="0 1 0"/>
      <joint name="{name}_yaw" type="hinge" axis="0 0 1"/>
      <geom name="{name}_body" type="box" pos="0 0 0.7" size="2.2 0.9 0.45" rgba="{mjcf.rgba(colour)}"/>
      <geom name="{name}_cabin" type="box" pos="-0.3 0 1.4" size="1.2 0.82 0.3" rgba="0.15 0.17 0.2 1"/>
      {cams}
    </body>"""


class DriveKinematics:
    """Planar poses of the ego car and the other vehicles as functions of time."""

    def __init__(self, ego_speed, lane_change, vehicles):
        self.ego_speed = ego_speed
        self.lane_change = lane_change  # (from_y, to_y, t_centre, tau) or None
        self.vehicles = vehicles  # list of (name, x0, y, speed)

    def ego(self, t: float) -> tuple[float, float]:
        x = self.ego_speed * t
        if self.lane_change is None:
            return x, 0.0
        y0, y1, tc, tau = self.lane_change
        return x, y0 + (y1 - y0) / (1 + math.exp(-(t - tc) / tau))

    def _velocity(self, t: float, eps: float = 1e-4) -> tuple[float, float]:
        (xa, ya), (xb, yb) = self.ego(t - eps), self.ego(t + eps)
        return (xb - xa) / (2 * eps), (yb - ya) / (2 * eps)

    def _ego_pose(self, t: float, eps: float = 1e-4) -> tuple[float, float, float, float, float, float]:
        """x, y, heading (along the velocity), vx, vy, heading rate (central differences)."""
        x, y = self.ego(t)
        vx, vy = self._velocity(t)
        heading = lambda s: math.atan2(*self._velocity(s)[::-1])  # noqa: E731
        yaw_rate = (heading(t + eps) - heading(t - eps)) / (2 * eps)
        return x, y, heading(t), vx, vy, yaw_rate

    def pose(self, model, data, t: float) -> None:
        x, y, yaw, vx, vy, w = self._ego_pose(t)
        self._set(data, "ego", (x, y, yaw), (vx, vy, w))
        for name, x0, lane_y, speed in self.vehicles:
            self._set(data, name, (x0 + speed * t, lane_y, 0.0), (speed, 0.0, 0.0))

    @staticmethod
    def _set(data, name: str, q, qd) -> None:
        for suffix, value, rate in zip(("_x", "_y", "_yaw"), q, qd, strict=True):
            joint = data.joint(name + suffix)
            joint.qpos[0], joint.qvel[0] = value, rate

    def record(self, model, data) -> dict[str, np.ndarray]:
        x, y, yaw, vx, vy, w = self._ego_pose(float(data.time))
        return {
            "ego_pos": data.body("ego").xpos.copy(),
            "ego_yaw": np.array(yaw),
            "ego_vel": np.array([vx, vy, 0.0]),
            "ego_yaw_rate": np.array(w),
        }


def _road_xml(rng: np.random.Generator) -> str:
    x0, x1 = ROAD
    cx, half = (x0 + x1) / 2, (x1 - x0) / 2
    parts = [
        f'<geom name="road" type="box" pos="{cx} 0 0.005" size="{half} {1.5 * LANE} 0.005" '
        'material="asphalt"/>',
    ]
    for side in (-1.5, 1.5):
        parts.append(
            f'<geom name="edge{side:+.0f}" type="box" pos="{cx} {side * LANE:.2f} 0.012" '
            f'size="{half} 0.08 0.002" rgba="0.95 0.95 0.95 1"/>'
        )
    for k, x in enumerate(np.arange(x0, x1, 9.0)):
        for side in (-0.5, 0.5):
            parts.append(
                f'<geom name="dash{k}_{side:+.1f}" type="box" pos="{x:.1f} {side * LANE:.2f} 0.012" '
                'size="1.5 0.07 0.002" rgba="0.95 0.95 0.95 1"/>'
            )
    for k, x in enumerate(np.arange(x0, x1, 14.0)):
        for side in (-1, 1):
            if rng.random() < 0.25:
                continue
            w, d, h = rng.uniform(3, 6), rng.uniform(2, 4), rng.uniform(3, 9)
            y = side * (1.5 * LANE + 5 + d)
            x_b = x + rng.uniform(-2, 2)
            parts.append(
                f'<geom name="building{k}_{side:+d}" type="box" pos="{x_b:.2f} {y:.2f} {h:.2f}" '
                f'size="{w:.2f} {d:.2f} {h:.2f}" material="wall"/>'
            )
    return "\n    ".join(parts)


def drive(rng: np.random.Generator) -> Scene:
    """An ego car drives along a road with traffic, filmed by a rig of cameras on the car."""
    speed = float(rng.uniform(8, 13))
    change = rng.random() < 0.5
    target = float(rng.choice([-LANE, LANE]))
    lane_change = (0.0, target, float(rng.uniform(1.5, 3.0)), 0.45) if change else None
    colours = mjcf.pick_colours(rng, 8)
    vehicles, xml = [], ""
    free_lanes = [y for y in (-LANE, 0.0, LANE) if not (change and y == target)]
    for i in range(int(rng.integers(3, 7))):
        lane = float(rng.choice(free_lanes))
        ahead = lane == 0.0 or rng.random() < 0.7
        x0 = float(rng.uniform(18, 60)) if ahead else -float(rng.uniform(15, 35))
        v = speed + float(rng.uniform(-0.8, 0.8)) if lane == 0.0 else float(rng.uniform(6, 14))
        name = f"car{i}"
        vehicles.append((name, x0, lane, v))
        xml += _vehicle_xml(name, colours[i % len(colours)])
    obstacles = ""
    for j in range(int(rng.integers(4, 9))):
        x = float(rng.uniform(5, 120))
        y = float(rng.choice([-1, 1])) * (1.5 * LANE + rng.uniform(0.6, 2.5))
        obstacles += f"""
    <body name="cone{j}" pos="{x:.2f} {y:.2f} 0">
      <geom name="cone{j}" type="cylinder" pos="0 0 0.35" size="0.22 0.35" rgba="0.98 0.45 0.05 1"/>
    </body>"""
    world = mjcf.light(rng, height=30) + mjcf.floor(size=500) + _road_xml(rng)
    world += _vehicle_xml("ego", "white", rig=True) + xml + obstacles
    assets = """
    <texture name="asphalt" type="2d" builtin="flat" rgb1="0.22 0.22 0.24" mark="random" markrgb="0.5 0.5 0.5"
      random="0.08" width="256" height="256"/>
    <material name="asphalt" texture="asphalt" texrepeat="200 4"/>"""
    xml_doc = mjcf.document(rng, world, model="drive", gravity=0.0, assets=assets, ground_repeat=400)
    kin = DriveKinematics(speed, lane_change, vehicles)
    n = len(vehicles)
    side = "left" if target > 0 else "right"
    move = f" and changes to the {side} lane" if change else " and keeps its lane"
    names = [v[0] for v in vehicles] + [f"cone{j}" for j in range(obstacles.count("<body"))]
    return Scene(
        scenario="drive",
        xml=xml_doc,
        objects=names,
        # chase view for the free-camera modes: behind and above the ego car, moving with it
        view=View(
            lookat=(1.0, 0.0, 1.0), distance=12.0, azimuth=float(rng.uniform(-20, 20)), elevation=-18.0
        ),
        caption=f"An ego car drives along a three-lane road at {speed:.0f} m/s{move}, among {n} other "
        "vehicles with traffic cones on the roadside.",
        params={"ego_speed": speed, "lane_change": lane_change, "vehicles": vehicles},
        kinematics=kin,
        rig=list(RIG),
        agent="ego",
        follow="ego",
    )
