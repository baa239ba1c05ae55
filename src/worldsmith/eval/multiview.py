"""Multi-view consistency of multi-camera videos (Cosmos paper, Sec. 6.1 on driving videos).

- **TSE** (temporal Sampson error): within each camera, the Sampson error between frames t and
  t + gap: does each view move like a rigid scene seen by a moving camera?
- **CSE** (cross-view Sampson error): between cameras that share a field of view, at the same time
  step: do the views agree on one 3D scene?

Both use `geometry.pair_consistency` (SIFT, RANSAC fundamental matrix, mean inlier Sampson error,
in pixels). Lower is better; NaN where no pair had enough matches. `cross_view_static_fraction`
flags what CSE scores as perfect without geometry: matches at the same pixel in both cameras.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worldsmith.eval.geometry import pair_consistency, sift_matches, upscaled, video_consistency


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def temporal_sampson_error(
    views: np.ndarray, *, gap: int = 2, max_pairs: int = 8, upscale: int = 1, contrast_threshold: float = 0.04
) -> float:
    """TSE of ``views`` uint8 ``[V, T, H, W, 3]``: mean over views of each view's Sampson error."""
    opts = dict(gap=gap, max_pairs=max_pairs, upscale=upscale, contrast_threshold=contrast_threshold)
    return _nanmean([video_consistency(v, **opts)["sampson_px"] for v in views])


def _pair_frames(views: np.ndarray, pairs, max_frames: int, upscale: int):
    """(frame of camera a, frame of camera b) at up to `max_frames` times for every camera pair,
    enlarged `upscale` times (default pairs: neighbours in a ring)."""
    n_views, n_frames = views.shape[:2]
    if pairs is None:
        pairs = [(i, (i + 1) % n_views) for i in range(n_views)] if n_views > 2 else [(0, 1)]
    times = np.linspace(0, n_frames - 1, min(max_frames, n_frames)).round().astype(int)
    big = [upscaled(views[:, t], None, upscale)[0] for t in times]  # per time: [V, H*u, W*u, 3]
    return [(frames[a], frames[b]) for a, b in pairs for frames in big]


def cross_view_sampson_error(
    views: np.ndarray,
    pairs: Sequence[tuple[int, int]] | None = None,
    *,
    max_frames: int = 8,
    upscale: int = 1,
    contrast_threshold: float = 0.04,
) -> float:
    """CSE of ``views`` uint8 ``[V, T, H, W, 3]`` over camera `pairs` (default: neighbours in a ring),
    matched on frames enlarged `upscale` times; in pixels of the original frames."""
    errors = [
        pair_consistency(a, b, contrast_threshold=contrast_threshold).sampson / upscale
        for a, b in _pair_frames(views, pairs, max_frames, upscale)
    ]
    return _nanmean(errors)


def cross_view_static_fraction(
    views: np.ndarray,
    pairs: Sequence[tuple[int, int]] | None = None,
    *,
    max_frames: int = 8,
    upscale: int = 1,
    contrast_threshold: float = 0.04,
    tol_px: float = 1.0,
) -> float:
    """Fraction of the cross-view SIFT matches of ``views`` ``[V, T, H, W, 3]`` that sit at the same
    pixel (within `tol_px` of the original frames) in both cameras; NaN without matches.

    CSE cannot tell these from geometry: a pattern fixed to the image (a decoder's artefact, or one
    image repeated in every camera) is matched at zero disparity and fits a fundamental matrix
    exactly. Cameras that point in different directions see a scene point at different pixels, so on
    true frames of such a rig this is ~0.
    """
    shifts = []
    for a, b in _pair_frames(views, pairs, max_frames, upscale):
        pts1, pts2 = sift_matches(a, b, contrast_threshold=contrast_threshold)
        shifts.append(np.linalg.norm(pts1 - pts2, axis=1) / upscale)
    shifts = np.concatenate(shifts)
    return float((shifts < tol_px).mean()) if len(shifts) else float("nan")


def multiview_consistency(
    views: np.ndarray,
    pairs: Sequence[tuple[int, int]] | None = None,
    *,
    upscale: int = 1,
    contrast_threshold: float = 0.04,
) -> dict[str, float]:
    """Both scores for a multi-camera video ``[V, T, H, W, 3]`` (`upscale`, `contrast_threshold`: as
    in `geometry.video_consistency`, for small frames)."""
    views = np.asarray(views)
    if views.ndim != 5 or views.shape[0] < 2:
        raise ValueError(f"expected >= 2 views as [V, T, H, W, 3], got {views.shape}")
    opts = dict(upscale=upscale, contrast_threshold=contrast_threshold)
    tse = temporal_sampson_error(views, **opts)
    return {"tse_px": tse, "cse_px": cross_view_sampson_error(views, pairs, **opts)}
