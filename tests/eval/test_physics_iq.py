"""Physics-IQ motion masks, IoU terms, score and pooled skill against hand-computed values."""

import numpy as np
import pytest

from worldsmith.errors import WorldsmithError
from worldsmith.eval import physics_iq as piq

RAW = piq.PhysicsIQConfig(blur=1, kernel=1)  # no blur, no morphology: every pixel computable by hand


def square_video(T: int = 17, size: int = 24, step: int = 1, start: int = 2, appear: int = 0) -> np.ndarray:
    """A 4x4 white square on grey 100 moving right by `step` px a frame (absent before `appear`)."""
    v = np.full((T, size, size, 3), 100, np.uint8)
    for t in range(appear, T):
        x = start + step * (t - appear)
        v[t, 8:12, x : x + 4] = 255
    return v


def test_masks_of_a_square_that_appears_follow_the_running_average():
    # background b_t = 0.7 b_{t-1} + 0.3 * 255 from b_0 = 100: |255 - b_t| = 155 * 0.7^t, above 10
    # grey levels for t <= 7 (8.9 at t = 8); frame 0 has no mask
    v = square_video(T=12, step=0, appear=1)
    m = piq.motion_masks(v, RAW)
    square = np.zeros((24, 24), bool)
    square[8:12, 2:6] = True
    assert not m[0].any()
    for t in range(1, 8):
        np.testing.assert_array_equal(m[t], square)
    assert not m[8:].any()


def test_published_defaults_and_bad_input():
    cfg = piq.PhysicsIQConfig()
    assert (cfg.threshold, cfg.alpha, cfg.blur, cfg.kernel) == (10, 0.3, 5, 5)
    with pytest.raises(WorldsmithError, match="uint8 video"):
        piq.motion_masks(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(WorldsmithError, match="blur"):
        piq.PhysicsIQConfig(blur=4)


def _masks(*cols_per_frame) -> np.ndarray:
    m = np.zeros((len(cols_per_frame), 4, 8), bool)
    for t, cols in enumerate(cols_per_frame):
        if cols is not None:
            m[t, :, cols[0] : cols[1]] = True
    return m


def test_iou_terms_by_hand():
    true = _masks((0, 4), (4, 8))
    swapped = _masks((4, 8), (0, 4))  # right places, wrong times
    assert piq.spatial_iou(true, swapped) == 1.0
    assert piq.spatiotemporal_iou(true, swapped) == 0.0
    assert piq.weighted_spatial_iou(true, swapped) == 1.0
    stays = _masks((0, 4), (0, 4))  # half the region, twice as often
    assert piq.spatial_iou(true, stays) == 0.5  # 16 / 32 px
    assert piq.spatiotemporal_iou(true, stays) == 0.5  # (16/16 + 0/32) / 2
    assert piq.weighted_spatial_iou(true, stays) == pytest.approx(1 / 3)  # 16*0.5 / (16*1 + 16*0.5)
    empty = _masks(None, None)
    assert piq.spatial_iou(empty, empty) == piq.spatiotemporal_iou(empty, empty) == 1.0
    assert piq.weighted_spatial_iou(empty, empty) == 1.0
    assert piq.spatial_iou(true, empty) == 0.0


def test_copy_last_has_no_motion_and_truth_scores_perfectly():
    v = square_video(step=2)
    n = 5
    copy = np.repeat(v[n - 1 : n], len(v) - n, axis=0)
    t_copy = piq.terms(copy, v[n:], v[n - 1], RAW)
    assert not piq.future_masks(v[n - 1], copy, RAW).any()
    assert t_copy["spatial_iou"] == 0.0 and t_copy["weighted_spatial_iou"] == 0.0
    assert t_copy["mse"] > 0
    t_true = piq.terms(v[n:], v[n:], v[n - 1], RAW)
    assert t_true == {"spatial_iou": 1.0, "spatiotemporal_iou": 1.0, "weighted_spatial_iou": 1.0, "mse": 0.0}
    # MSE on [0, 1]: one frame differs by 155 grey levels on 16 of 576 px, all 3 channels
    a, b = v[:1], v[:1].copy()
    b[0, 8:12, 2:6] = 100
    assert piq.frame_mse(a, b)[0] == pytest.approx((155 / 255) ** 2 * 16 / 576)


def test_score_by_hand():
    var = [{"spatial_iou": 0.8, "spatiotemporal_iou": 0.6, "weighted_spatial_iou": 0.5, "mse": 0.01}] * 2
    assert piq.physics_iq_score(var, var) == 100.0  # as good as a second take
    half = [{k: v / 2 if k != "mse" else v for k, v in var[0].items()}] * 2
    assert piq.physics_iq_score(half, var) == pytest.approx(50.0)
    worse = [dict(half[0], mse=0.11)]  # (0.5 + 0.5 + 0.5) / 3 - (0.11 - 0.01) = 0.4
    assert piq.physics_iq_score(worse, var[:1]) == pytest.approx(40.0)
    with pytest.raises(WorldsmithError, match="one variance per"):
        piq.physics_iq_score(var, var[:1])


def test_horizon_skill_pools_before_dividing():
    base = np.array([[1.0, 1, 3, 3], [100, 100, 100, 100]])
    model = np.array([[0.0, 0, 3, 3], [100, 100, 100, 100]])
    s = piq.horizon_skill(model, base, ((1, 2), (3, 4), (1, 4)))
    assert s["1-2"] == pytest.approx(1 - 200 / 202)  # not the per-episode mean, 0.5
    assert s["3-4"] == 0.0
    assert s["1-4"] == pytest.approx(1 - 406 / 408)
    assert piq.horizon_skill(base / 2, base, ((1, 4),))["1-4"] == pytest.approx(0.5)
    with pytest.raises(WorldsmithError, match="outside future frames"):
        piq.horizon_skill(model, base, ((3, 5),))
