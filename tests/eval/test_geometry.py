from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _scene import H, K, W, render_corner, rot_y, wobble  # noqa: E402

from worldsmith.eval import geometry


def test_sampson_matches_opencv():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(3, 3))
    p1, p2 = rng.uniform(0, 300, (50, 2)), rng.uniform(0, 300, (50, 2))
    ours = geometry.sampson_distance(F, p1, p2)
    ref = [
        cv2.sampsonDistance(np.array([*a, 1.0]).reshape(3, 1), np.array([*b, 1.0]).reshape(3, 1), F)
        for a, b in zip(p1, p2, strict=True)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_sampson_zero_for_exact_epipolar_points():
    rng = np.random.default_rng(1)
    X = rng.uniform([-2, -2, 4], [2, 2, 8], (40, 3))
    R, t = rot_y(4.0), np.array([0.4, 0.05, 0.0])
    x1 = (K @ X.T).T
    x2 = (K @ (X @ R.T + t).T).T
    p1, p2 = x1[:, :2] / x1[:, 2:], x2[:, :2] / x2[:, 2:]
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    Kinv = np.linalg.inv(K)
    F = Kinv.T @ tx @ R @ Kinv
    assert geometry.sampson_distance(F, p1, p2).max() < 1e-12


def test_known_relative_pose_recovered_on_rendered_scene():
    R1, t1 = np.eye(3), np.zeros(3)
    R2, t2 = rot_y(6.0), np.array([-1.0, 0.0, 0.2])
    img1, img2 = render_corner(R1, t1), render_corner(R2, t2)
    res = geometry.pair_consistency(img1, img2, K)
    assert res.inliers > 50 and res.sampson < 1.0 and res.pose_ok
    w2c1, w2c2 = np.eye(4), np.eye(4)
    w2c2[:3, :3], w2c2[:3, 3] = R2, t2
    R_true, t_true = geometry.relative_pose(w2c1, w2c2)
    assert geometry.rotation_angle_deg(res.R, R_true) < 1.5
    assert geometry.direction_angle_deg(res.t, t_true) < 5.0


def test_inconsistent_video_scores_worse():
    imgs = [render_corner(rot_y(0.8 * i), np.array([-0.08 * i, 0, 0])) for i in range(6)]
    good = geometry.video_consistency(np.stack(imgs), K, gap=2)
    bad = geometry.video_consistency(np.stack([wobble(im, i) for i, im in enumerate(imgs)]), K, gap=2)
    assert good["pose_success"] == 1.0
    assert good["sampson_px"] < 0.6
    assert bad["sampson_px"] > 1.5 * good["sampson_px"]


def test_upscale_matches_small_frames_and_reports_original_pixels():
    imgs = [render_corner(rot_y(0.8 * i), np.array([-0.08 * i, 0, 0])) for i in range(6)]
    small = np.stack([cv2.resize(im, (W // 4, H // 4), interpolation=cv2.INTER_AREA) for im in imgs])
    # the same camera at 1/4 size: x_small = (x + 0.5) / 4 - 0.5
    K_small = np.diag([0.25, 0.25, 1.0]) @ K - np.array([[0, 0, 0.375]] * 2 + [[0, 0, 0]])
    plain = geometry.video_consistency(small, K_small, gap=2)
    up = geometry.video_consistency(small, K_small, gap=2, upscale=4)
    full = geometry.video_consistency(np.stack(imgs), K, gap=2)
    assert up["mean_inliers"] > 2 * plain["mean_inliers"]
    assert up["pose_success"] >= 0.75
    # in pixels of the small frames: about a quarter of the full-size error, never the upscaled one
    assert up["sampson_px"] < full["sampson_px"]


def test_lower_contrast_threshold_matches_faint_frames():
    """A faint (low-contrast) small video: OpenCV's default SIFT threshold keeps few keypoints; a
    lower one matches more of them, and the epipolar error stays that of a rigid scene."""
    imgs = [render_corner(rot_y(0.8 * i), np.array([-0.08 * i, 0, 0])) for i in range(6)]
    faint = [(128 + (im.astype(np.float32) - 128) * 0.25).round().astype(np.uint8) for im in imgs]
    small = np.stack([cv2.resize(im, (W // 4, H // 4), interpolation=cv2.INTER_AREA) for im in faint])
    K_small = np.diag([0.25, 0.25, 1.0]) @ K - np.array([[0, 0, 0.375]] * 2 + [[0, 0, 0]])
    default = geometry.video_consistency(small, K_small, gap=2, upscale=4)
    low = geometry.video_consistency(small, K_small, gap=2, upscale=4, contrast_threshold=0.01)
    assert low["mean_inliers"] > 1.5 * default["mean_inliers"]
    assert low["sampson_px"] < 0.5


def test_ego_motion_from_the_front_camera_of_the_drive_twin():
    """Direct alignment with the twin's depth of frame 0 recovers the ego path of exact rendered frames
    (metric scale: the first 0.84 m within 0.3 m; 0.26 measured since the near plane stopped hiding the
    road below the camera, 0.25 before) and tells them from a frozen video."""
    from worldsmith.posttrain.rig_data import ego_trajectory
    from worldsmith.sim.episode import make_episode

    ep = make_episode("drive", 1005, frames=3, size=64, cameras=1, masks=True, depth=True)
    s = ep.states
    c, sn = np.cos(s["ego_yaw"][0]), np.sin(s["ego_yaw"][0])
    ego_to_world = np.eye(4)
    ego_to_world[:3, :3], ego_to_world[:3, 3] = [[c, -sn, 0], [sn, c, 0], [0, 0, 1]], s["ego_pos"][0]
    cars = [int(k) for k, name in ep.meta["instances"].items() if name.startswith("car")]
    truth = dict(depth0=ep.depth[0, 0], K=s["K"][0, 0], ego_to_cam=s["world_to_cam"][0, 0] @ ego_to_world,
                 static0=~np.isin(ep.masks[0, 0], cars))  # fmt: skip
    path = ego_trajectory(s["ego_pos"], s["ego_yaw"], 10.0, 0, 2, 0.1)
    est = geometry.ego_motion_direct(ep.frames[0], **truth)
    assert np.abs(est[0] - path[0, :2]).max() < 0.3, (est, path)
    frozen = geometry.ego_motion_direct(ep.frames[0][[0] * 3], **truth)
    ate, ate_frozen = geometry.trajectory_error(est, path), geometry.trajectory_error(frozen, path)
    assert ate < 0.5 * ate_frozen, (ate, ate_frozen)  # measured 0.59 vs 1.33 m
    assert geometry.trajectory_error(path[:, :2] + [0.3, 0.4], path) == pytest.approx(0.5)
