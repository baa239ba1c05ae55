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


def _bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``img [H, W]`` at float pixel coordinates (pixel centres at integers), clamped at the border."""
    H, W = img.shape
    u, v = np.clip(u, 0, W - 1), np.clip(v, 0, H - 1)
    u0, v0 = np.minimum(np.floor(u).astype(int), W - 2), np.minimum(np.floor(v).astype(int), H - 2)
    a, b = u - u0, v - v0
    top = img[v0, u0] * (1 - a) + img[v0, u0 + 1] * a
    bottom = img[v0 + 1, u0] * (1 - a) + img[v0 + 1, u0 + 1] * a
    return top * (1 - b) + bottom * b


def _photometric_cost(gray0, gray_t, X_ego, K, ego_to_cam, cand: np.ndarray) -> np.ndarray:
    """Mean |I_t(project(X seen after the ego motion)) - I_0| per candidate ``[M, 3]`` (dx, dy, yaw)."""
    c, s = np.cos(cand[:, 2]), np.sin(cand[:, 2])
    d = X_ego[None, :, :2] - cand[:, None, :2]  # [M, P, 2]: point minus ego displacement, ego-0 axes
    x = c[:, None] * d[..., 0] + s[:, None] * d[..., 1]  # R(yaw)^T: into the moved ego frame
    y = -s[:, None] * d[..., 0] + c[:, None] * d[..., 1]
    X_t = np.stack([x, y, np.broadcast_to(X_ego[None, :, 2], x.shape)], -1)  # [M, P, 3]
    cam = X_t @ ego_to_cam[:3, :3].T + ego_to_cam[:3, 3]  # [M, P, 3]
    z = cam[..., 2]
    uvw = cam @ K.T
    u, v = uvw[..., 0] / np.maximum(z, 1e-6), uvw[..., 1] / np.maximum(z, 1e-6)
    H, W = gray_t.shape
    ok = (z > 0.1) & (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
    err = np.abs(_bilinear(gray_t, u, v) - gray0[None]) * ok
    frac = ok.mean(1)
    return np.where(frac > 0.3, err.sum(1) / np.maximum(ok.sum(1), 1), np.inf)


def ego_motion_direct(
    frames: np.ndarray,
    depth0: np.ndarray,
    K: np.ndarray,
    ego_to_cam: np.ndarray,
    *,
    static0: np.ndarray | None = None,
    max_speed: float = 16.0,
    fps: float = 10.0,
    max_points: int = 768,
) -> np.ndarray:
    """Metric ego positions ``[F - 1, 2]`` (x forward, y left; ego frame of frame 0) of frames 1.. of a
    forward camera's clip ``frames [F, H, W, 3]`` uint8, by direct image alignment: frame 0's pixels,
    lifted to 3D with the twin's metric depth ``depth0 [H, W]`` (this is where the metric scale comes
    from), are moved by candidate planar ego motions (dx, dy, yaw), projected with ``K`` and
    ``ego_to_cam [4, 4]`` and compared with frame t (mean absolute grey difference); a coarse grid,
    then a finer one with yaw. Robust to the blur of small generated frames, which SIFT is not.
    Like direct sparse odometry it uses the `max_points` pixels of strongest gradient, of the static
    scene where ``static0 [H, W]`` (bool, e.g. the twin's masks without the other vehicles) says.
    """
    gray = frames.astype(np.float64).mean(-1) / 255.0  # [F, H, W]
    H, W = depth0.shape
    v, u = np.mgrid[0:H, 0:W]
    pix = np.stack([u.ravel(), v.ravel(), np.ones(H * W)], -1)  # [H W, 3]
    cam_to_ego = np.linalg.inv(ego_to_cam)
    rays = (pix @ np.linalg.inv(K).T) @ cam_to_ego[:3, :3].T  # [H W, 3]: z = 1 in the camera, ego axes
    origin = cam_to_ego[:3, 3]
    depth = np.nan_to_num(depth0.ravel().astype(np.float64), nan=np.inf)
    ok = ((depth > 0.1) & (depth < 150.0)).reshape(H, W)  # the far plane (sky) carries no motion
    # and the border of the rendered depth (the near clipping plane) moves with the camera: keep away
    ok = cv2.erode(ok.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool).ravel()
    if static0 is not None:
        ok &= static0.ravel()
    gy, gx = np.gradient(gray[0])
    strength = np.where(ok, np.hypot(gx, gy).ravel(), -1.0)
    idx = np.argsort(-strength)[: min(max_points, int(ok.sum()))]
    X_ego = origin + rays[idx] * depth[idx, None]  # [P, 3]
    g0 = gray[0].ravel()[idx]
    out, prev, vel = [], np.zeros(2), np.zeros(2)
    for t in range(1, len(frames)):
        # search around the constant-velocity guess (at t = 1: anything up to max_speed ahead)
        lo = np.array([-0.2, -1.0]) if t == 1 else prev + vel - [1.5, 0.8]
        hi = np.array([max_speed / fps, 1.0]) if t == 1 else prev + vel + [1.5, 0.8]
        dx, dy = np.meshgrid(
            np.arange(lo[0], hi[0] + 1e-9, 0.2), np.arange(lo[1], hi[1] + 1e-9, 0.2), indexing="ij"
        )
        cand = np.stack([dx.ravel(), dy.ravel(), np.zeros(dx.size)], -1)
        best = cand[np.argmin(_photometric_cost(g0, gray[t], X_ego, K, ego_to_cam, cand))]
        f = np.arange(-0.2, 0.201, 0.05)
        yaw = np.radians(np.arange(-4.0, 4.01, 2.0))
        fine = np.stack(np.meshgrid(best[0] + f, best[1] + f, yaw, indexing="ij"), -1).reshape(-1, 3)
        pos = fine[np.argmin(_photometric_cost(g0, gray[t], X_ego, K, ego_to_cam, fine))][:2]
        vel, prev = pos - prev, pos
        out.append(pos)
    return np.array(out)


def trajectory_error(estimated: np.ndarray, requested: np.ndarray) -> float:
    """ATE: root mean square of the distances between matching points ``[N, 2|3]`` (metres)."""
    n = min(len(estimated), len(requested))
    diff = np.asarray(estimated)[:n, :2] - np.asarray(requested)[:n, :2]
    return float(np.sqrt((diff**2).sum(-1).mean()))
