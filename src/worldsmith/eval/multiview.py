"""Multi-view consistency of multi-camera videos (Cosmos paper, Sec. 6.1 on driving videos).

- **TSE** (temporal Sampson error): within each camera, the Sampson error between frames t and
  t + gap: does each view move like a rigid scene seen by a moving camera?
- **CSE** (cross-view Sampson error): between cameras that share a field of view, at the same time
  step: do the views agree on one 3D scene?

Both use `geometry.pair_consistency` (SIFT, RANSAC fundamental matrix, mean inlier Sampson error,
in pixels). Lower is better; NaN where no pair had enough matches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worldsmith.eval.geometry import pair_consistency, video_consistency


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def temporal_sampson_error(views: np.ndarray, *, gap: int = 2, max_pairs: int = 8) -> float:
    """TSE of ``views`` uint8 ``[V, T, H, W, 3]``: mean over views of each view's Sampson error."""
    return _nanmean([video_consistency(v, gap=gap, max_pairs=max_pairs)["sampson_px"] for v in views])


def cross_view_sampson_error(
    views: np.ndarray, pairs: Sequence[tuple[int, int]] | None = None, *, max_frames: int = 8
) -> float:
    """CSE of ``views`` uint8 ``[V, T, H, W, 3]`` over camera `pairs` (default: neighbours in a ring)."""
    n_views, n_frames = views.shape[:2]
    if pairs is None:
        pairs = [(i, (i + 1) % n_views) for i in range(n_views)] if n_views > 2 else [(0, 1)]
    times = np.linspace(0, n_frames - 1, min(max_frames, n_frames)).round().astype(int)
    errors = [pair_consistency(views[a, t], views[b, t]).sampson for a, b in pairs for t in times]
    return _nanmean(errors)


def multiview_consistency(
    views: np.ndarray, pairs: Sequence[tuple[int, int]] | None = None
) -> dict[str, float]:
    """Both scores for a multi-camera video ``[V, T, H, W, 3]``."""
    views = np.asarray(views)
    if views.ndim != 5 or views.shape[0] < 2:
        raise ValueError(f"expected >= 2 views as [V, T, H, W, 3], got {views.shape}")
    return {"tse_px": temporal_sampson_error(views), "cse_px": cross_view_sampson_error(views, pairs)}
