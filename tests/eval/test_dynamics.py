"""eval.dynamics: the held-out rule and the table of scores on constructed videos."""

import numpy as np
import pytest

from worldsmith.errors import ConfigError
from worldsmith.eval.dynamics import HeldOut, score
from worldsmith.eval.physics_iq import PhysicsIQConfig


def _episode(step: int, T: int = 17, size: int = 24):
    frames = np.full((T, size, size, 3), 100, np.uint8)
    masks = np.zeros((T, size, size), np.uint8)
    for t in range(T):
        x = 1 + step * t
        frames[t, 8:14, x : x + 6] = (250, 250, 60)  # grey 228 on grey 100
        masks[t, 8:14, x : x + 6] = 1
    return frames, masks


def test_rule_is_fixed_and_validated():
    rule = HeldOut()
    eps = rule.episodes()
    assert len(eps) == 24 and eps[0] == ("free_fall", 2**31 + 100_000) and eps[3][0] == "projectile"
    assert all(seed >= 2**31 for _, seed in eps)  # training footage draws below 2**31
    with pytest.raises(ConfigError, match="bins"):
        HeldOut(bins=((1, 4), (10, 13)))


def test_truth_copy_and_a_still_prediction_score_as_computed_by_hand():
    eps = [_episode(1), _episode(1), _episode(0)]  # two moving squares and one still
    data = {
        "frames": np.stack([e[0] for e in eps]),
        "masks": np.stack([e[1] for e in eps]),
        "scenario": ["a", "a", "b"],
    }
    data["take2"] = data["frames"].copy()  # a deterministic experiment: both takes agree
    truth = data["frames"][:, 5:]
    res = score(data, {"truth": truth}, HeldOut(), PhysicsIQConfig(blur=1, kernel=1))
    t, c = res["overall"]["truth"], res["overall"]["copy last frame"]
    assert t["skill_copy"] == {"1-4": 1.0, "5-8": 1.0, "9-12": 1.0, "1-12": 1.0}
    assert t["physics_iq"] == 100.0 and t["spatial_iou"] == 1.0 and t["iou"] == 1.0
    assert c["skill_copy"]["1-12"] == 0.0
    # copy-last: no motion where the squares move (IoU 0), agreement where nothing moves (IoU 1)
    assert res["scenarios"]["a"]["copy last frame"]["spatial_iou"] == 0.0
    assert res["scenarios"]["b"]["copy last frame"]["spatial_iou"] == 1.0
    assert c["spatial_iou"] == pytest.approx(1 / 3)
    with pytest.raises(Exception, match="expected"):
        score(data, {"bad": truth[:, :-1]}, HeldOut())
