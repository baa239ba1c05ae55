"""Action-following and action-sensitivity scores on synthetic clips with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.eval.action import colour_clusters, future_scores, sensitivity, skill, track_error


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


def two_tone_clip(T: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A striped floor (grey 70 / 160) and a robot of two colours (red body, dark gripper) moving
    4 px per frame onto floor the first frame did not show: (frames, masks), robot = instance 1."""
    frames = np.zeros((T, 32, 48, 3), np.uint8)
    frames[:, :, ::2], frames[:, :, 1::2] = 70, 160
    masks = np.zeros((T, 32, 48), np.uint8)
    for t in range(T):
        x = 6 + 4 * t
        frames[t, 8:20, x : x + 8] = (220, 40, 30)
        frames[t, 20:24, x : x + 8] = (30, 30, 30)
        masks[t, 8:24, x : x + 8] = 1
    return frames, masks


def test_colour_clusters_are_a_lloyd_fixed_point():
    rng = np.random.default_rng(0)
    blobs = [rng.normal(m, 4.0, (50, 3)) for m in ((30, 30, 30), (200, 40, 40), (60, 200, 90))]
    px = np.concatenate(blobs).astype(np.float32)
    c = colour_clusters(px, 3)
    nearest = np.linalg.norm(px[:, None] - c, axis=-1).argmin(axis=1)
    for j in range(3):  # every centre is the mean of the pixels nearest to it, i.e. one blob's mean
        np.testing.assert_allclose(c[j], px[nearest == j].mean(axis=0), atol=1e-4)
    assert sorted(np.bincount(nearest)) == [50, 50, 50]
    assert len(colour_clusters(px[:2], 5)) == 2  # never more centres than pixels


def test_colour_clusters_segment_a_two_coloured_robot_that_one_colour_model_cannot():
    truth, masks = two_tone_clip()
    one = future_scores(truth, truth, masks, agent=1)  # one mean colour + radius: takes uncovered floor
    many = future_scores(truth, truth, masks, agent=1, clusters=2)
    assert one["arm_iou"] < 0.9 and one["arm_centroid_px"] > 0.5
    assert many["arm_iou"] == 1.0 and many["arm_centroid_px"] == 0.0
    still = np.repeat(truth[:1], 5, axis=0)  # copy-last under the cluster segmenter: the motion itself
    assert future_scores(still, truth, masks, agent=1, clusters=2)["arm_centroid_px"] == pytest.approx(
        np.mean([4, 8, 12, 16])
    )
    follow = sensitivity([truth, still], [truth, still], [masks, masks[:1].repeat(5, 0)], agent=1, clusters=2)
    assert follow["ratio_centroid_px"] == 0.0
