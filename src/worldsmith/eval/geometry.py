"""3D consistency of a video: SIFT matches, RANSAC fundamental matrix, Sampson error, pose success.

After the Cosmos paper's 3D-consistency evaluation (arXiv 2501.03575, Sec. 6.1): a video of a
static scene filmed by a moving camera should obey epipolar geometry between any two of its frames.
For frame pairs we match SIFT features (Lowe 2004, ratio test), fit a fundamental matrix with
RANSAC, and report the mean Sampson distance of the inliers (Hartley & Zisserman, Eq. 11.9) and
whether a camera pose can be recovered from the essential matrix given the intrinsics K.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def sift_matches(
    img1: np.ndarray, img2: np.ndarray, *, ratio: float = 0.75, contrast_threshold: float = 0.04
) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoint matches between two uint8 RGB images, Lowe's ratio test -> two [N, 2] arrays.

    `contrast_threshold` is OpenCV's (default 0.04); lower keeps weaker keypoints, which small,
    upscaled, low-contrast frames need to be matched at all.
    """
    sift = cv2.SIFT_create(contrastThreshold=contrast_threshold)
    g1, g2 = (cv2.cvtColor(np.ascontiguousarray(i), cv2.COLOR_RGB2GRAY) for i in (img1, img2))
    k1, d1 = sift.detectAndCompute(g1, None)
    k2, d2 = sift.detectAndCompute(g2, None)
    if d1 is None or d2 is None or len(k1) < 2 or len(k2) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2))
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < ratio * n.distance]
    pts1 = np.array([k1[m.queryIdx].pt for m in good], dtype=np.float64).reshape(-1, 2)
    pts2 = np.array([k2[m.trainIdx].pt for m in good], dtype=np.float64).reshape(-1, 2)
    return pts1, pts2


def sampson_distance(F: np.ndarray, pts1: np.ndarray, pts2: np.ndarray) -> np.ndarray:
    """Squared Sampson distance per correspondence (the quantity `cv2.sampsonDistance` returns).

    ``(x2^T F x1)^2 / ((F x1)_1^2 + (F x1)_2^2 + (F^T x2)_1^2 + (F^T x2)_2^2)``.
    """
    x1 = np.concatenate([pts1, np.ones((len(pts1), 1))], axis=1)  # [N, 3] homogeneous
    x2 = np.concatenate([pts2, np.ones((len(pts2), 1))], axis=1)
    Fx1 = x1 @ F.T  # [N, 3]
    Ftx2 = x2 @ F  # [N, 3]
    num = np.sum(x2 * Fx1, axis=1) ** 2
    den = Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2
    return num / np.maximum(den, 1e-12)


MIN_INLIERS = 15  # fewer RANSAC inliers and a pair's error says nothing (8 points fit F exactly)


@dataclass(frozen=True)
class PairResult:
    matches: int
    inliers: int
    sampson: float  # mean Sampson error of the RANSAC inliers, in pixels (sqrt of the squared form)
    pose_ok: bool
    R: np.ndarray | None = None  # rotation from frame a to frame b (camera coordinates)
    t: np.ndarray | None = None  # unit translation direction


def pair_consistency(
    img1: np.ndarray,
    img2: np.ndarray,
    K: np.ndarray | None = None,
    *,
    min_inliers: int = MIN_INLIERS,
    threshold_px: float = 1.0,
    seed: int = 0,
    contrast_threshold: float = 0.04,
) -> PairResult:
    """Match, fit F with RANSAC, measure Sampson error; with K, recover the relative pose.

    Pairs with fewer than `min_inliers` RANSAC inliers get a NaN error and no pose.
    """
    pts1, pts2 = sift_matches(img1, img2, contrast_threshold=contrast_threshold)
    if len(pts1) < 8:
        return PairResult(len(pts1), 0, float("nan"), False)
    cv2.setRNGSeed(seed)
    F, mask = cv2.findFundamentalMat(pts1, pts2, cv2.FM_RANSAC, threshold_px, 0.999)
    if F is None or F.shape != (3, 3):
        return PairResult(len(pts1), 0, float("nan"), False)
    inl = mask.ravel().astype(bool)
    # Too few inliers and F fits them exactly (8 points determine it): the error says nothing.
    if inl.sum() < min_inliers:
        return PairResult(len(pts1), int(inl.sum()), float("nan"), False)
    err = float(np.sqrt(sampson_distance(F, pts1[inl], pts2[inl])).mean())
    pose_ok, R, t = False, None, None
    if K is not None:
        E, emask = cv2.findEssentialMat(pts1, pts2, K, cv2.RANSAC, 0.999, threshold_px)
        if E is not None and E.shape == (3, 3):
            n_good, R, t, _ = cv2.recoverPose(E, pts1, pts2, K, mask=emask)
            pose_ok = n_good >= min_inliers
    return PairResult(len(pts1), int(inl.sum()), err, pose_ok, R, None if t is None else t.ravel())


def upscaled(frames: np.ndarray, K: np.ndarray | None, s: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Frames ``[T, H, W, 3]`` enlarged `s` times (bicubic) and K scaled with them."""
    frames = np.asarray(frames)
    if s <= 1:
        return frames, K
    frames = np.stack([cv2.resize(f, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC) for f in frames])
    if K is not None:
        # pixel centres: x' = s (x + 0.5) - 0.5, so the principal point moves by (s - 1) / 2
        K = np.diag([s, s, 1.0]) @ K + np.array([[0, 0, (s - 1) / 2]] * 2 + [[0, 0, 0]])
    return frames, K


def video_consistency(
    frames: np.ndarray,
    K: np.ndarray | None = None,
    *,
    gap: int = 4,
    max_pairs: int = 16,
    upscale: int = 1,
    contrast_threshold: float = 0.04,
) -> dict[str, float]:
    """Mean Sampson error and pose-estimation success over frame pairs (t, t + gap) of a video.

    SIFT finds few keypoints in frames under ~100 px; `upscale` > 1 enlarges the frames (bicubic)
    before matching and scales K with them, and a lower `contrast_threshold` (SIFT's) keeps the
    weaker keypoints of such frames. Errors are reported in pixels of the original frames.
    """
    frames, K = upscaled(frames, K, upscale)
    starts = list(range(0, max(0, len(frames) - gap)))
    if len(starts) > max_pairs:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, max_pairs).round().astype(int)]
    results = [
        pair_consistency(frames[i], frames[i + gap], K, contrast_threshold=contrast_threshold) for i in starts
    ]
    errs = [r.sampson / upscale for r in results if np.isfinite(r.sampson)]
    return {
        "pairs": len(results),
        "sampson_px": float(np.mean(errs)) if errs else float("nan"),
        "pose_success": float(np.mean([r.pose_ok for r in results]))
        if results and K is not None
        else float("nan"),
        "mean_inliers": float(np.mean([r.inliers for r in results])) if results else 0.0,
    }


def rotation_angle_deg(R_est: np.ndarray, R_true: np.ndarray) -> float:
    """Angle of ``R_est R_true^T`` in degrees."""
    c = (np.trace(R_est @ R_true.T) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def direction_angle_deg(t_est: np.ndarray, t_true: np.ndarray) -> float:
    """Angle between two translation directions in degrees (sign-sensitive)."""
    a, b = t_est / np.linalg.norm(t_est), t_true / np.linalg.norm(t_true)
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def relative_pose(w2c_a: np.ndarray, w2c_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relative pose (R, t) taking camera-a coordinates to camera-b, from 4x4 (or 3x4) world-to-camera."""
    Ra, ta = w2c_a[:3, :3], w2c_a[:3, 3]
    Rb, tb = w2c_b[:3, :3], w2c_b[:3, 3]
    R = Rb @ Ra.T
    return R, tb - R @ ta
