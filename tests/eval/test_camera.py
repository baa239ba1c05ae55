"""Camera following on rendered videos of a known path: the right path scores near zero error, a wrong
one does not, a frozen video has no motion, and recovered centres line up with the requested ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _scene import K, render_corner, rot_y  # noqa: E402

from worldsmith.eval.camera import camera_following, frame_pairs, recovered_path, summarize


def _path(deg_per_frame: float, shift: float, n: int = 7) -> np.ndarray:
    E = np.stack([np.eye(4)] * n)
    for i in range(n):
        E[i, :3, :3], E[i, :3, 3] = rot_y(deg_per_frame * i), np.array([-shift * i, 0.0, 0.02 * i])
    return E


def _video(E: np.ndarray) -> np.ndarray:
    return np.stack([render_corner(e[:3, :3], e[:3, 3]) for e in E])


def test_frame_pairs():
    assert frame_pairs(17, 4) == [4, 8, 12, 16] and frame_pairs(7, 4) == [4, 6] and frame_pairs(1) == []


def test_a_video_of_the_requested_path_scores_near_zero_error_and_a_wrong_path_does_not():
    E = _path(1.0, 0.08)
    video = _video(E)
    good = camera_following(video, K, E, every=2, upscale=1, contrast_threshold=0.04)
    assert good["pose_success"] == 1.0  # measured: rotation 0.8 deg, translation 0.18 (short baselines)
    assert good["rotation_err_deg"] < 1.0 and good["translation_err"] < 0.25 and good["sampson_px"] < 1.0
    assert abs(good["requested_rotation_deg"] - 6.0) < 1e-9
    wrong = camera_following(video, K, _path(-1.0, -0.08), every=2, upscale=1, contrast_threshold=0.04)
    assert wrong["rotation_err_deg"] > 8.0 and wrong["translation_err"] > 1.5
    # Requested vs recovered centres (scale aligned per frame).
    path = recovered_path(good["pairs"])
    req = np.array([path["req_x"], path["req_z"]])
    rec = np.array([path["x"], path["z"]])
    assert np.abs(rec - req).max() < 0.15 * np.abs(req).max()  # measured 0.11 (the z of frame 6)
    assert np.allclose(path["deg"], path["req_deg"], atol=1.0)


def test_motion_magnitude_scales_with_the_move_and_a_frozen_video_has_none():
    small = camera_following(_video(_path(0.5, 0.04)), K, _path(0.5, 0.04), every=3, upscale=1)
    large = camera_following(_video(_path(1.0, 0.08)), K, _path(1.0, 0.08), every=3, upscale=1)
    assert 1.6 < large["motion_px"] / small["motion_px"] < 2.4
    # Dense flow: a pure pan of 0.5 vs 1 deg per frame moves ~2.3 vs ~4.5 px per frame (fx = 260).
    pans = [camera_following(_video(_path(d, 0.0)), K, _path(d, 0.0), every=6, upscale=1) for d in (0.5, 1.0)]
    assert abs(pans[0]["flow_motion_px"] - 6 * 260 * np.tan(np.radians(0.5))) < 2.0
    assert 1.7 < pans[1]["flow_motion_px"] / pans[0]["flow_motion_px"] < 2.3
    frozen = camera_following(np.stack([render_corner(np.eye(3), np.zeros(3))] * 7), K, _path(1.0, 0.08))
    assert frozen["motion_px"] < 0.5 and frozen["flow_motion_px"] < 0.05
    assert not (frozen["rotation_err_deg"] < 3.0)  # no pose, or the wrong one
    s = summarize([small, large])
    assert s["motion_px"] == (small["motion_px"] + large["motion_px"]) / 2 and "pairs" not in s
