"""Geometry is right: saved K and world-to-camera extrinsics project known 3D points onto the
pixels where they were rendered; masks and depth agree with the states."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.sim import make_episode
from worldsmith.sim.camera import View, intrinsics, project, world_to_camera


def _spheres(ep) -> list[int]:
    return [i for i, s in enumerate(ep.meta["params"]["shapes"]) if s.endswith("sphere")]


@pytest.mark.parametrize(
    ("seed", "size", "mode", "cameras"),
    [(0, 64, "static", 1), (2, (48, 80), "orbit", 2), (3, (96, 80), "dolly", 1), (2, 64, "pan", 1)],
)
def test_sphere_centre_projects_onto_its_rendered_mask_centroid(seed, size, mode, cameras):
    """Within 0.4 px (measured max 0.3 px), so a half-pixel convention slip fails."""
    ep = make_episode(
        "free_fall", seed, frames=6, size=size, fps=10, cameras=cameras, camera_mode=mode, depth=True
    )
    spheres = _spheres(ep)
    assert spheres, "pick a seed whose free_fall scene has a sphere"
    V, T, H, W = ep.masks.shape
    checked = 0
    for v in range(V):
        for t in range(T):
            K, E = ep.states["K"][v, t], ep.states["world_to_cam"][v, t]
            centres = ep.states["obj_pos"][t]
            uvz = project(centres, K, E)
            for i in spheres:
                ys, xs = np.nonzero(ep.masks[v, t] == i + 1)
                if len(xs) < 8 or xs.min() == 0 or ys.min() == 0 or xs.max() == W - 1 or ys.max() == H - 1:
                    continue  # too small or cut by the border: the centroid is not the centre
                u, w_ = uvz[i, :2]
                assert abs(xs.mean() - u) < 0.4 and abs(ys.mean() - w_) < 0.4, (
                    v,
                    t,
                    i,
                    xs.mean(),
                    ys.mean(),
                    u,
                    w_,
                )
                # depth at the centre pixel: the sphere's front surface, z - r cos(theta) ~ z - r
                radius = np.sqrt(len(xs) / np.pi) * uvz[i, 2] / K[0, 0]
                d = ep.depth[v, t, int(round(w_)), int(round(u))]
                assert abs(d - (uvz[i, 2] - radius)) < 0.02 * uvz[i, 2]
                checked += 1
    assert checked >= T


def test_mask_covers_projected_centre_of_every_object():
    for scenario, seed in [("free_fall", 1), ("collision", 2), ("slide", 0)]:
        ep = make_episode(scenario, seed, frames=5, size=64, depth=False)
        inside = 0
        for t in range(5):
            uvz = project(ep.states["obj_pos"][t], ep.states["K"][0, t], ep.states["world_to_cam"][0, t])
            for i, (u, v, z) in enumerate(uvz):
                if z > 0 and 0 <= round(u) < 64 and 0 <= round(v) < 64:
                    assert ep.masks[0, t, round(v), round(u)] == i + 1, (scenario, t, i)
                    inside += 1
        assert inside >= 5


def test_intrinsics_match_the_pinhole_formula():
    """For a free camera MuJoCo uses fovy = 45 degrees: fy = H / 2 / tan(22.5 deg), square pixels."""
    ep = make_episode("pendulum", 0, frames=2, size=(40, 60), masks=False, depth=False)
    K = ep.states["K"][0, 0]
    f = 40 / 2 / np.tan(np.radians(45 / 2))
    np.testing.assert_allclose(K, [[f, 0, 29.5], [0, f, 19.5], [0, 0, 1]], atol=1e-6)


def test_extrinsics_are_rigid_and_place_the_camera_where_the_view_says():
    class GL:  # the three vectors MuJoCo's mjvGLCamera carries
        pass

    view = View(lookat=(0.3, -0.2, 0.5), distance=3.0, azimuth=70.0, elevation=-20.0)
    gl = GL()
    gl.pos, gl.forward = view.position(), view.forward()
    right = np.cross(gl.forward, [0, 0, 1])
    gl.up = np.cross(right / np.linalg.norm(right), gl.forward)
    E = world_to_camera(gl)
    R = E[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    # the target lies on the optical axis at the view distance
    np.testing.assert_allclose((E @ [*view.lookat, 1.0])[:3], [0, 0, 3.0], atol=1e-9)
    assert View.looking(view.position(), view.lookat).azimuth == pytest.approx(70.0)
    # intrinsics of a symmetric frustum centre the principal point
    gl.frustum_near, gl.frustum_top, gl.frustum_bottom, gl.frustum_width, gl.frustum_center = (
        0.1,
        0.05,
        -0.05,
        0,
        0,
    )
    K = intrinsics(gl, 30, 50)
    assert (
        K[0, 2] == pytest.approx(24.5)
        and K[1, 2] == pytest.approx(14.5)
        and K[0, 0] == pytest.approx(K[1, 1])
    )


def test_rig_cameras_are_synchronised_with_the_moving_ego_car():
    """drive: the ego moves ~1 m per frame, so a camera rendered at another physics step than its
    saved extrinsics would miss the static cones. Every rig camera sees each cone where projected."""
    ep = make_episode("drive", 3, frames=6, size=64, cameras=4, depth=False)
    names = ep.meta["objects"]
    cones = [i for i, n in enumerate(names) if n.startswith("cone")]
    hits = 0
    for v in range(4):
        for t in range(6):
            centre = ep.states["obj_pos"][t, cones] + [0, 0, 0.35]
            uvz = project(centre, ep.states["K"][v, t], ep.states["world_to_cam"][v, t])
            for i, (u, y, z) in zip(cones, uvz, strict=True):
                if 2 < z < 25 and 0 <= round(u) < 64 and 0 <= round(y) < 64:
                    assert ep.masks[v, t, round(y), round(u)] == i + 1
                    hits += 1
    assert hits >= 3
    np.testing.assert_allclose(
        np.diff(ep.states["ego_pos"][:, 0]), ep.meta["params"]["ego_speed"] / 10, rtol=1e-6
    )


def test_multi_camera_frames_show_the_same_physics_step():
    """projectile: the ball moves ~0.3 m per frame; every camera's mask has it at the position of the
    same saved state."""
    ep = make_episode("projectile", 1, frames=8, size=64, cameras=3, depth=False)
    hits = 0
    for v in range(3):
        for t in range(8):
            u, y, z = project(ep.states["obj_pos"][t], ep.states["K"][v, t], ep.states["world_to_cam"][v, t])[
                0
            ]
            if 0 <= round(u) < 64 and 0 <= round(y) < 64:
                assert ep.masks[v, t, round(y), round(u)] == 1, (v, t)
                hits += 1
    assert hits >= 12


def test_free_cameras_follow_the_ego_car_in_drive():
    """drive in a moving camera mode: free cameras orbit the moving ego car; it stays where the
    saved extrinsics project it, although it drives ~1 m per frame."""
    ep = make_episode("drive", 2, frames=8, size=64, camera_mode="orbit", cameras=2, depth=False)
    assert ep.meta["camera_mode"] == "orbit" and ep.meta["cameras"] == ["cam0", "cam1"]
    ego = next(int(k) for k, name in ep.meta["instances"].items() if name == "ego")
    for v in range(2):
        for t in range(8):
            centre = ep.states["ego_pos"][t : t + 1] + [0, 0, 0.7]
            u, y, _ = project(centre, ep.states["K"][v, t], ep.states["world_to_cam"][v, t])[0]
            assert ep.masks[v, t, round(y), round(u)] == ego, (v, t)


def test_drive_front_camera_sees_the_road_just_below_it():
    """The bottom row of the front camera sees the road ~1.7 m ahead: depth along the optical axis =
    (camera height - road top) / tan(angle of the row's centre). MuJoCo's near plane scales with the
    scene (0.01 x a 460 m road = 4.6 m), which clipped that road away until `MAX_NEAR_M`."""
    from worldsmith.sim.drive import RIG

    H = 64
    ep = make_episode("drive", 0, frames=1, size=H, cameras=1, masks=False, depth=True)
    height = RIG["front"][0][2] - 0.01  # the road box's top is at z = 0.01
    tan_row = (H / 2 - 0.5) / (H / 2) * np.tan(np.radians(75 / 2))  # fovy 75 degrees
    np.testing.assert_allclose(ep.depth[0, 0, -1, H // 2], height / tan_row, rtol=0.01)
