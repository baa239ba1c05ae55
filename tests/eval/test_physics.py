from __future__ import annotations

import numpy as np
import pytest

from worldsmith.eval import physics


def moving_square_episode(t=10, h=40, w=48):
    """A red square moving right by 2 px/frame over a textured grey floor, with true masks."""
    rng = np.random.default_rng(0)
    floor = rng.integers(60, 140, (h, w, 1)).repeat(3, axis=2).astype(np.uint8)
    frames = np.repeat(floor[None], t, axis=0)
    masks = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        x0 = 4 + 2 * i
        frames[i, 15:25, x0 : x0 + 10] = (220, 30, 30)
        masks[i, 15:25, x0 : x0 + 10] = 1
    return frames, masks


def test_baselines_formulas():
    cond = np.stack([np.full((2, 2, 3), 10, np.uint8), np.full((2, 2, 3), 30, np.uint8)])
    np.testing.assert_array_equal(physics.copy_last_frame(cond, 3)[:, 0, 0, 0], [30, 30, 30])
    np.testing.assert_array_equal(physics.linear_extrapolation(cond, 3)[:, 0, 0, 0], [50, 70, 90])
    high = np.stack([np.full((1, 1, 3), 200, np.uint8), np.full((1, 1, 3), 250, np.uint8)])
    assert physics.linear_extrapolation(high, 2).max() == 255  # clipped, not wrapped


def _accelerating_squares(t=6, h=12, w=48):
    """A textured 3x3 square at x = 2 + n + n^2 (constant acceleration) and a green one at rest, over a
    random floor; masks 1 and 2."""
    rng = np.random.default_rng(1)
    floor = rng.integers(60, 140, (h, w, 3)).astype(np.uint8)
    texture = rng.integers(150, 255, (3, 3, 3)).astype(np.uint8)
    frames, masks = np.repeat(floor[None], t, axis=0), np.zeros((t, h, w), np.uint8)
    for n in range(t):
        x0 = 2 + n + n * n
        if x0 + 3 <= w:
            frames[n, 2:5, x0 : x0 + 3], masks[n, 2:5, x0 : x0 + 3] = texture, 1
        frames[n, 8:11, 20:23], masks[n, 8:11, 20:23] = (30, 200, 30), 2
    return frames, masks


def test_kinematic_extrapolation_moves_true_objects_along_their_fitted_track():
    """Order 2 fits x = 2 + n + n^2 to the 4 given frames and predicts the future exactly, the floor
    where the square left restored from the frames that saw it; order 1 carries the last velocity
    (6 px/frame: x = 20 and 26 where the truth is 22 and 32); the still square stays put."""
    frames, masks = _accelerating_squares()
    exact = physics.kinematic_extrapolation(frames[:4], masks[:4], 2, order=2)
    np.testing.assert_array_equal(exact, frames[4:])
    steady = physics.kinematic_extrapolation(frames[:4], masks[:4], 2, order=1)
    for n, x0 in enumerate((20, 26)):
        np.testing.assert_array_equal(steady[n, 2:5, x0 : x0 + 3], frames[0, 2:5, 2:5])  # the texture
    np.testing.assert_array_equal(steady[:, 8:11, 20:23], frames[4:, 8:11, 20:23])
    # an object seen only in the last given frame stays where it is
    frames[3, 8:10, 40:42], masks[3, 8:10, 40:42] = (250, 250, 20), 3
    for order in (1, 2):
        new = physics.kinematic_extrapolation(frames[:4], masks[:4], 2, order=order)
        assert (new[:, 8:10, 40:42] == np.array([250, 250, 20], np.uint8)).all()
    with pytest.raises(ValueError, match="order"):
        physics.kinematic_extrapolation(frames[:4], masks[:4], 2, order=3)
    with pytest.raises(ValueError, match="do not match"):
        physics.kinematic_extrapolation(frames[:4], masks[:3], 2)


def test_true_future_scores_perfect_and_copy_last_scores_lower():
    frames, masks = moving_square_episode()
    perfect = physics.physics_alignment(frames[4:], frames, masks, cond=4)
    assert perfect["iou"] == pytest.approx(1.0) and perfect["centroid_px"] == pytest.approx(0.0)
    assert perfect["ssim"] == pytest.approx(1.0)
    copy = physics.physics_alignment(physics.copy_last_frame(frames[:4], 6), frames, masks, cond=4)
    assert copy["iou"] < 0.7 and copy["centroid_px"] > 1.5
    assert np.isfinite(copy["psnr"]) and copy["psnr"] < 40


def test_object_missing_from_prediction_gives_zero_iou():
    frames, masks = moving_square_episode()
    empty = np.repeat(frames[:1] * 0 + frames[0, :, :2].mean().astype(np.uint8), 6, axis=0)
    res = physics.physics_alignment(empty, frames, masks, cond=4)
    assert res["iou"] == 0.0 and res["found"] == 0.0


def test_shape_mismatch():
    frames, masks = moving_square_episode()
    with pytest.raises(ValueError, match="does not match"):
        physics.physics_alignment(frames[:3], frames, masks, cond=4)


def test_on_simulated_episode():
    sim = pytest.importorskip("worldsmith.sim.episode")
    ep = sim.make_episode("collision", 1, frames=12, size=48)
    f, m = ep.frames[0], ep.masks[0]
    ceiling = physics.segmentation_ceiling(f, m, 4)
    copy = physics.physics_alignment(physics.copy_last_frame(f[:4], 8), f, m, 4)
    assert ceiling["iou"] > 0.5 and ceiling["found"] == 1.0
    assert copy["iou"] < ceiling["iou"]
