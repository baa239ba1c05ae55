from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _scene import render_corner, rot_y, wobble  # noqa: E402

from worldsmith.eval.multiview import cross_view_static_fraction, multiview_consistency


def rig_video(t: int = 5, baseline: float = 0.5) -> np.ndarray:
    """Two cameras side by side (a stereo rig) moving forward-left together: [V, T, H, W, 3]."""
    views = []
    for dx in (0.0, baseline):
        views.append(
            [render_corner(rot_y(0.6 * i), np.array([-0.06 * i - dx, 0, 0.05 * i])) for i in range(t)]
        )
    return np.asarray(views)


def test_consistent_rig_scores_low_and_wobble_raises_cse():
    views = rig_video()
    good = multiview_consistency(views)
    assert good["tse_px"] < 0.6 and good["cse_px"] < 0.6
    bad_views = views.copy()
    bad_views[1] = [wobble(f, 100 + i) for i, f in enumerate(views[1])]
    bad = multiview_consistency(bad_views)
    assert bad["cse_px"] > 1.5 * good["cse_px"]


def test_needs_two_views():
    with pytest.raises(ValueError, match="2 views"):
        multiview_consistency(np.zeros((1, 2, 8, 8, 3), np.uint8))


def test_static_fraction_flags_a_repeated_image_not_a_rig():
    views = rig_video(t=2, baseline=0.5)
    assert cross_view_static_fraction(views) < 0.05  # a stereo baseline moves every match
    same = np.stack([views[0], views[0]])
    assert cross_view_static_fraction(same) > 0.95  # one image in both cameras: all at zero disparity
    # CSE alone calls the repeated image perfectly consistent
    assert multiview_consistency(same)["cse_px"] < 0.05
    assert np.isnan(cross_view_static_fraction(np.zeros((2, 1, 16, 16, 3), np.uint8)))  # no matches
