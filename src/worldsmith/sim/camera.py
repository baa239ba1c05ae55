"""Cameras: exact pinhole intrinsics K and world-to-camera extrinsics, and free-camera paths.

Ground truth is read from the `mjvGLCamera` that MuJoCo actually rendered with (position, forward
and up vectors, frustum), so K and [R|t] are right for free, fixed and moving cameras alike.

Conventions (OpenCV / Hartley-Zisserman, "Multiple View Geometry", eq. 6.8):
- camera frame: x right, y down, z forward (along the optical axis);
- `world_to_cam` is the 4x4 matrix [R t; 0 1] with x_cam = R x_world + t;
- pixel (u, v) = (column, row) with pixel centres at integer coordinates, so a camera point
  projects to u = fx X/Z + cx, v = fy Y/Z + cy.

Free-camera paths (`static`, `orbit`, `pan`, `dolly`, `truck`, `crane`) give one `View` per
frame: MuJoCo's free-camera parameters (lookat, distance, azimuth, elevation in degrees), where the
camera sits at lookat - distance * forward and forward = (cos el cos az, cos el sin az, sin el).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from worldsmith.sim.errors import SimError

CAMERA_MODES = ("static", "orbit", "pan", "dolly", "truck", "crane")
# How a caption says it (episode captions end with it, as video captioners describe camera motion;
# a world model trained on mixed footage then knows from the prompt whether the camera moves)
CAMERA_PHRASES = {
    "static": "The camera is still.",
    "orbit": "The camera orbits the scene.",
    "pan": "The camera pans.",
    "dolly": "The camera moves in towards the scene.",
    "truck": "The camera moves sideways.",
    "crane": "The camera cranes up or down.",
}


def intrinsics(gl_camera, height: int, width: int) -> np.ndarray:
    """K [3, 3] of an `mjvGLCamera` rendered into a height x width viewport.

    The frustum at the near plane spans [center - halfwidth, center + halfwidth] horizontally
    (halfwidth from the viewport aspect when MuJoCo leaves `frustum_width` at 0) and
    [bottom, top] vertically, and maps onto pixel edges 0..W and H..0.
    """
    near = gl_camera.frustum_near
    top, bottom = gl_camera.frustum_top, gl_camera.frustum_bottom
    half = gl_camera.frustum_width or 0.5 * (width / height) * (top - bottom)
    left = gl_camera.frustum_center - half
    fx = near * width / (2 * half)
    fy = near * height / (top - bottom)
    cx = -left * width / (2 * half) - 0.5  # pixel centres at integers
    cy = top * height / (top - bottom) - 0.5
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def world_to_camera(gl_camera) -> np.ndarray:
    """[4, 4] world-to-camera matrix (OpenCV axes) of an `mjvGLCamera`."""
    pos = np.asarray(gl_camera.pos, np.float64)
    forward = np.asarray(gl_camera.forward, np.float64)
    up = np.asarray(gl_camera.up, np.float64)
    right = np.cross(forward, up)
    R = np.stack([right, -up, forward])  # rows: camera x, y, z axes in world coordinates
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ pos
    return T


def project(points: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> np.ndarray:
    """World points [N, 3] -> pixels [N, 2] (u, v) and depth [N] in one array [N, 3]."""
    homo = np.concatenate([points, np.ones((len(points), 1))], axis=1)  # [N, 4]
    cam = (world_to_cam @ homo.T).T[:, :3]  # [N, 3]
    uvw = (K @ cam.T).T  # [N, 3]
    return np.concatenate([uvw[:, :2] / uvw[:, 2:3], cam[:, 2:3]], axis=1)


@dataclass(frozen=True)
class View:
    """MuJoCo free-camera parameters (metres and degrees)."""

    lookat: tuple[float, float, float]
    distance: float
    azimuth: float
    elevation: float

    def forward(self) -> np.ndarray:
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])

    def position(self) -> np.ndarray:
        return np.asarray(self.lookat) - self.distance * self.forward()

    @staticmethod
    def looking(position: np.ndarray, target: np.ndarray) -> View:
        """The view from `position` towards `target`."""
        d = np.asarray(target, np.float64) - np.asarray(position, np.float64)
        dist = float(np.linalg.norm(d))
        f = d / dist
        azimuth = math.degrees(math.atan2(f[1], f[0]))
        elevation = math.degrees(math.asin(float(np.clip(f[2], -1, 1))))
        return View(tuple(float(x) for x in target), dist, azimuth, elevation)

    def mjv_camera(self, mujoco):
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = self.lookat
        cam.distance, cam.azimuth, cam.elevation = self.distance, self.azimuth, self.elevation
        return cam


def ring(base: View, count: int) -> list[View]:
    """`count` synchronised views around the base view's target, `min(360 / count, 40)` degrees
    apart in azimuth and centred on the base view (scenes have walls behind them)."""
    step = min(360.0 / count, 40.0)
    return [replace(base, azimuth=base.azimuth + step * (k - (count - 1) / 2)) for k in range(count)]


def path(
    base: View, mode: str, num_frames: int, rng: np.random.Generator, *, speed: float = 1.0
) -> list[View]:
    """Per-frame views of a free-camera move starting at `base`.

    orbit: the camera circles the target (azimuth sweep); pan: the camera stays put and turns;
    dolly: the camera moves along its optical axis towards the target; truck: the camera slides
    sideways (along its x axis) keeping its orientation; crane: it moves up (or down) keeping its
    orientation; static: no motion. `speed` scales the move drawn from `rng` (1 = the default range).
    """
    if mode not in CAMERA_MODES:
        raise SimError(f"unknown camera mode '{mode}'; choose one of {', '.join(CAMERA_MODES)}")
    if not speed > 0:
        raise SimError(f"camera speed must be positive, got {speed}")
    s = np.linspace(0.0, 1.0, num_frames) * speed
    sign = rng.choice([-1.0, 1.0])
    if mode == "static":
        return [base] * num_frames
    if mode == "orbit":
        sweep = sign * rng.uniform(40, 120)
        return [replace(base, azimuth=base.azimuth + sweep * x) for x in s]
    if mode == "dolly":
        end = rng.uniform(0.55, 0.75) * base.distance
        return [replace(base, distance=max(base.distance + (end - base.distance) * x, 0.05)) for x in s]
    if mode in ("truck", "crane"):  # translate the camera and its target together: orientation kept
        f = base.forward()
        right = np.cross(f, [0.0, 0.0, 1.0])
        right /= max(np.linalg.norm(right), 1e-9)
        axis = right if mode == "truck" else np.cross(right, f)  # camera x (right) or camera up
        shift = sign * rng.uniform(0.25, 0.45) * base.distance * axis
        return [replace(base, lookat=tuple(float(v) for v in np.add(base.lookat, shift * x))) for x in s]
    # pan: fixed position, the view direction turns by up to +-25 degrees
    position = base.position()
    turn = sign * rng.uniform(15, 25)
    views = []
    for x in s:
        az, el = math.radians(base.azimuth + turn * x), math.radians(base.elevation)
        forward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        views.append(View.looking(position, position + base.distance * forward))
    return views
