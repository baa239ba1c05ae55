from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _scene import render_corner, rot_y, wobble  # noqa: E402

from worldsmith.eval.multiview import multiview_consistency


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
