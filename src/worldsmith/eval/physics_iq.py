"""Physics-IQ motion metrics (Motamed et al. 2025, "Do generative video models understand physical
principles?", arXiv 2501.09038; reference code: github.com/google-deepmind/physics-IQ-benchmark,
`code/binary_mask_generator.py`, `code/calculate_and_write_metrics_to_csv.py`,
`code/calculate_iq_score.py`).

A video's motion is a binary mask per frame from background subtraction (`motion_masks`): grey
frames, Gaussian-blurred, against a running-average background (``bg <- 0.7 bg + 0.3 frame``),
thresholded at an absolute difference of 10 grey levels, then a morphological opening and closing;
the first frame has no motion. Four terms compare a prediction with the true future:

- Spatial IoU (where): IoU of the masks collapsed over time (logical or);
- Spatiotemporal IoU (where and when): per-frame IoU, averaged over frames;
- Weighted spatial IoU (where and how much): the per-pixel fraction of frames in motion,
  ``sum(min) / sum(max)``;
- MSE: per-frame mean squared error of frames scaled to [0, 1], averaged over frames.

An IoU of two empty masks is 1 (both agree nothing moves), as in the reference code. Each term is
normalised by the physical variance: the same term between two takes of the experiment (on twins,
the episode re-simulated from a minutely perturbed start, `sim.make_episode(perturb=...)`).
The score (`physics_iq_score`, the original paper's): dataset means of each term, then
``100 * clip(((ST / ST_var + S / S_var + WS / WS_var) / 3 - (MSE - MSE_var)), 0, 1)``.

Deviations (documented in docs/architecture.md, "Physics-IQ on twins"): the background model starts at
the last given frame (the paper's "switch frame") so the first predicted frame already has a mask,
and at 64 px the blur and morphology kernels shrink with the frame (`SMALL_FRAMES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from worldsmith.config import check
from worldsmith.errors import WorldsmithError

TERMS = ("spatial_iou", "spatiotemporal_iou", "weighted_spatial_iou", "mse")


@dataclass(frozen=True, kw_only=True)
class PhysicsIQConfig:
    """Motion-mask settings. The defaults are the published ones (reference code); `SMALL_FRAMES`
    is the setting for 64 px twins."""

    threshold: int = 10  # grey levels of |frame - background| that count as motion
    alpha: float = 0.3  # running-average weight of the new frame (cv2.accumulateWeighted)
    blur: int = 5  # Gaussian blur kernel (odd; 1 = none)
    kernel: int = 5  # opening + closing structuring element (1 = none)

    def __post_init__(self) -> None:
        check(0 <= self.threshold <= 255, "threshold", self.threshold, "must be within 0..255")
        check(0 < self.alpha <= 1, "alpha", self.alpha, "must be in (0, 1]")
        check(self.blur >= 1 and self.blur % 2 == 1, "blur", self.blur, "must be an odd number >= 1")
        check(self.kernel >= 1, "kernel", self.kernel, "must be >= 1")


# 64 px twins: a 5x5 opening erases their 3-6 px objects (0 mask pixels per frame on free_fall,
# measured), so a 3x3 blur and no morphology; then a copy of the last frame scores IoU 0.
SMALL_FRAMES = PhysicsIQConfig(blur=3, kernel=1)


def motion_masks(video: np.ndarray, cfg: PhysicsIQConfig | None = None) -> np.ndarray:
    """Binary motion masks ``[T, H, W]`` (bool) of an RGB video ``[T, H, W, 3]`` uint8; frame 0 has
    none (it initialises the background)."""
    import cv2

    cfg = cfg or PhysicsIQConfig()
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise WorldsmithError(
            f"motion_masks needs a uint8 video [T, H, W, 3], got {video.dtype} {video.shape}"
        )
    k = np.ones((cfg.kernel, cfg.kernel), np.uint8)
    out = np.zeros(video.shape[:3], bool)
    background = None
    for t, frame in enumerate(video):
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if cfg.blur > 1:
            grey = cv2.GaussianBlur(grey, (cfg.blur, cfg.blur), 0)
        if background is None:  # frame 0: the background, no motion
            background = grey.astype(np.float64)
            continue
        cv2.accumulateWeighted(grey, background, cfg.alpha)
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(background))
        _, mask = cv2.threshold(diff, cfg.threshold, 255, cv2.THRESH_BINARY)
        if cfg.kernel > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k)
        out[t] = mask > 0
    return out


def future_masks(
    last_given: np.ndarray, future: np.ndarray, cfg: PhysicsIQConfig | None = None
) -> np.ndarray:
    """Motion masks of the future frames ``[F, H, W, 3]`` with the background started at the last
    given frame ``[H, W, 3]``: ``[F, H, W]`` (a copy of the last frame has none)."""
    return motion_masks(np.concatenate([last_given[None], future]), cfg)[1:]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def spatial_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two mask videos ``[T, H, W]`` collapsed over time (where anything moved)."""
    return _iou(a.any(axis=0), b.any(axis=0))


def spatiotemporal_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Per-frame IoU of two mask videos ``[T, H, W]``, averaged over frames."""
    return float(np.mean([_iou(x, y) for x, y in zip(a, b, strict=True)]))


def weighted_spatial_iou(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(min(wa, wb)) / sum(max(wa, wb))`` of the per-pixel fractions of frames in motion."""
    wa, wb = a.mean(axis=0), b.mean(axis=0)  # [H, W] in [0, 1]
    union = np.maximum(wa, wb).sum()
    return 1.0 if union == 0 else float(np.minimum(wa, wb).sum() / union)


def frame_mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame MSE ``[T]`` of two uint8 videos ``[T, H, W, 3]`` scaled to [0, 1]."""
    if a.shape != b.shape:
        raise WorldsmithError(f"videos {a.shape} and {b.shape} differ in shape")
    d = a.astype(np.float64) / 255 - b.astype(np.float64) / 255
    return (d**2).reshape(len(d), -1).mean(axis=1)


def terms(
    pred: np.ndarray, true: np.ndarray, last_given: np.ndarray, cfg: PhysicsIQConfig | None = None
) -> dict[str, float]:
    """The four Physics-IQ terms of a predicted future ``[F, H, W, 3]`` against the true one."""
    mp, mt = future_masks(last_given, pred, cfg), future_masks(last_given, true, cfg)
    return {
        "spatial_iou": spatial_iou(mt, mp),
        "spatiotemporal_iou": spatiotemporal_iou(mt, mp),
        "weighted_spatial_iou": weighted_spatial_iou(mt, mp),
        "mse": float(frame_mse(true, pred).mean()),
    }


def physical_variance(
    take1: np.ndarray, take2: np.ndarray, last_given: np.ndarray, cfg: PhysicsIQConfig | None = None
) -> dict[str, float]:
    """The terms between two takes of the same experiment (the best a prediction can expect)."""
    return terms(take2, take1, last_given, cfg)


def physics_iq_score(rows: Sequence[dict[str, float]], variances: Sequence[dict[str, float]]) -> float:
    """The original Physics-IQ score in [0, 100] from per-episode `terms` of a model and the
    per-episode `physical_variance` of the same episodes (dataset means first, then the ratios)."""
    if not rows or len(rows) != len(variances):
        raise WorldsmithError(f"need one variance per scored episode, got {len(rows)} and {len(variances)}")
    m = {k: float(np.mean([r[k] for r in rows])) for k in TERMS}
    v = {k: float(np.mean([r[k] for r in variances])) for k in TERMS}
    ious = [m[k] / max(v[k], 1e-8) for k in TERMS[:3]]
    return float(100 * np.clip(np.mean(ious) - (m["mse"] - v["mse"]), 0.0, 1.0))


def horizon_skill(
    model_mse: np.ndarray, base_mse: np.ndarray, bins: Sequence[tuple[int, int]]
) -> dict[str, float]:
    """Skill over a baseline on pooled MSE, ``1 - sum(MSE_model) / sum(MSE_base)``, per horizon bin.

    `model_mse`, `base_mse`: per-episode, per-future-frame MSE ``[N, F]``; a bin ``(a, b)`` pools
    future frames a..b (1-based, inclusive) of every episode. Keys ``"a-b"``."""
    model_mse, base_mse = np.asarray(model_mse, np.float64), np.asarray(base_mse, np.float64)
    if model_mse.shape != base_mse.shape or model_mse.ndim != 2:
        raise WorldsmithError(f"MSE tables must both be [N, F], got {model_mse.shape} and {base_mse.shape}")
    out = {}
    for a, b in bins:
        if not 1 <= a <= b <= model_mse.shape[1]:
            raise WorldsmithError(f"horizon bin {a}-{b} is outside future frames 1..{model_mse.shape[1]}")
        base = base_mse[:, a - 1 : b].sum()
        out[f"{a}-{b}"] = float(1 - model_mse[:, a - 1 : b].sum() / base) if base > 0 else float("nan")
    return out
