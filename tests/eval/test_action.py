"""Action-following and action-sensitivity scores on synthetic clips with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.eval.action import future_scores, sensitivity, skill, track_error


def clip(dx: int, T: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A red robot square moving `dx` px per frame, a still blue object; (frames, masks)."""
    frames = np.full((T, 32, 48, 3), 90, np.uint8)
    masks = np.zeros((T, 32, 48), np.uint8)
    for t in range(T):
        frames[t, 20:26, 30:36] = (40, 60, 220)
        masks[t, 20:26, 30:36] = 1
        x = 10 + dx * t
        frames[t, 6:12, x : x + 6] = (220, 40, 30)
        masks[t, 6:12, x : x + 6] = 2
    return frames, masks


def test_future_scores_measure_the_robot_offset():
    truth, masks = clip(3)
    shifted = np.roll(truth, 2, axis=2)  # everything 2 px to the right
    s = future_scores(shifted, truth, masks, agent=2)
    assert s["arm_centroid_px"] == pytest.approx(2.0) and s["object_centroid_px"] == pytest.approx(2.0)
    assert s["arm_iou"] == pytest.approx(4 * 6 / (8 * 6))  # 6x6 squares overlapping 4 columns
    same = future_scores(truth, truth, masks, agent=2)
    assert same["arm_iou"] == 1.0 and same["arm_centroid_px"] == 0.0 and same["sse"] == 0.0
    still = np.repeat(truth[:1], 5, axis=0)  # copy-last: the robot stays at x = 10
    copy_last = future_scores(still, truth, masks, agent=2)
    assert copy_last["arm_centroid_px"] == pytest.approx(np.mean([3, 6, 9, 12]))


def test_a_lost_robot_costs_the_frame_diagonal():
    assert track_error([None, np.array([0.0, 0.0])], [np.array([1.0, 1.0])] * 2, 50.0) == pytest.approx(
        (50 + 2**0.5) / 2
    )


def test_sensitivity_ratio_separates_following_from_ignoring():
    (a, ma), (b, mb) = clip(3), clip(-2)
    follow = sensitivity([a, b], [a, b], [ma, mb], agent=2)
    assert follow["ratio_centroid_px"] == 0.0 and follow["ratio_mse"] == 0.0
    ignore = sensitivity([a, a], [a, b], [ma, mb], agent=2)  # the same future whatever the actions
    assert ignore["ratio_centroid_px"] == pytest.approx(1.0)


def test_skill_is_pooled():
    assert skill([1.0, 3.0], [4.0, 4.0]) == 0.5
    assert skill([8.0], [4.0]) == -1.0
