"""Camera following: does a generated video move the way the requested camera path says?

The Cosmos camera-control protocol (arXiv 2501.03575, Sec. 5.3, after CamCo, Xu et al. 2024): estimate
the camera pose of each generated frame relative to the first one from the video alone (SIFT +
RANSAC essential matrix with the known K, `eval.geometry.pair_consistency`), align scale, compare
with the requested path. For frame pairs ``(0, j)``:

* pose estimation success: the essential matrix gives a pose with >= `min_inliers` points in front;
* rotation error: angle of ``R_est R_req^T`` (degrees), over successful pairs;
* translation error (normalised): an essential matrix gives the translation only up to scale, so both
  translations are aligned to unit length and the error is ``|t_est - t_req|`` (0..2), over
  successful pairs whose requested translation is not ~zero (pure rotations have no direction);
* Sampson error (pixels of the original frames) of the fundamental matrix's inliers;
* motion magnitude: median displacement (pixels) of the SIFT matches between the first and the last
  frame that are RANSAC inliers of a fundamental matrix (NaN under `min_inliers`); the requested
  path's is that of the true video, which follows the path exactly. `flow_motion_px` measures it
  without keypoints (blurry decoded videos give SIFT too few): the path length of the median dense
  optical flow (Farnebäck) between consecutive frames.

`recovered_path` gives the estimated camera centres (scale aligned to the requested ones per frame)
and rotation angles for plotting requested against recovered paths.
"""

from __future__ import annotations

import cv2
import numpy as np

from worldsmith.eval.geometry import (
    pair_consistency,
    relative_pose,
    rotation_angle_deg,
    sift_matches,
    upscaled,
)

# The per-video scores `summarize` averages.
SCORES = ("pose_success", "rotation_err_deg", "translation_err", "sampson_px", "motion_px", "flow_motion_px")


def frame_pairs(num_frames: int, every: int = 4) -> list[int]:
    """The frames ``j`` compared with frame 0: every `every`-th one and the last."""
    js = list(range(every, num_frames, every))
    if num_frames - 1 not in js and num_frames > 1:
        js.append(num_frames - 1)
    return js


def camera_following(
    frames: np.ndarray,
    K: np.ndarray,
    w2c: np.ndarray,
    *,
    every: int = 4,
    upscale: int = 4,
    contrast_threshold: float = 0.01,
    min_inliers: int = 15,
) -> dict[str, object]:
    """Scores of one video ``[F, H, W, 3]`` uint8 against its requested path (`K [3, 3]` of frame 0,
    `w2c [F, 4, 4]`); also the per-pair estimates (`pairs`) for `recovered_path`."""
    frames, Ku = upscaled(np.asarray(frames), np.asarray(K, np.float64), upscale)
    pairs, rot, trans, samp = [], [], [], []
    for j in frame_pairs(len(frames), every):
        R_req, t_req = relative_pose(w2c[0], w2c[j])
        r = pair_consistency(
            frames[0], frames[j], Ku, min_inliers=min_inliers, contrast_threshold=contrast_threshold
        )
        if np.isfinite(r.sampson):
            samp.append(r.sampson / upscale)
        pair = {"frame": j, "pose_ok": bool(r.pose_ok), "R_req": R_req, "t_req": t_req, "R": r.R, "t": r.t}
        if r.pose_ok:
            rot.append(rotation_angle_deg(r.R, R_req))
            if np.linalg.norm(t_req) > 1e-6:
                trans.append(float(np.linalg.norm(r.t / np.linalg.norm(r.t) - t_req / np.linalg.norm(t_req))))
        pairs.append(pair)
    nan = float("nan")
    motion = nan
    p1, p2 = sift_matches(frames[0], frames[-1], contrast_threshold=contrast_threshold)
    if len(p1) >= 8:  # RANSAC inliers of F only: chance matches between unrelated frames move at random
        cv2.setRNGSeed(0)
        _, mask = cv2.findFundamentalMat(p1, p2, cv2.FM_RANSAC, 1.0, 0.999)
        keep = mask.ravel().astype(bool) if mask is not None else np.zeros(len(p1), bool)
        if keep.sum() >= min_inliers:
            motion = float(np.median(np.linalg.norm(p2[keep] - p1[keep], axis=1)) / upscale)
    return {
        "flow_motion_px": flow_motion(frames) / upscale,
        "pose_success": float(np.mean([p["pose_ok"] for p in pairs])) if pairs else nan,
        "rotation_err_deg": float(np.mean(rot)) if rot else nan,
        "translation_err": float(np.mean(trans)) if trans else nan,
        "sampson_px": float(np.mean(samp)) if samp else nan,
        "motion_px": motion,
        "requested_rotation_deg": rotation_angle_deg(pairs[-1]["R_req"], np.eye(3)) if pairs else nan,
        "pairs": pairs,
    }


def flow_motion(frames: np.ndarray) -> float:
    """Path length (pixels) of the median dense optical flow (Farnebäck) of textured pixels between
    consecutive frames."""
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    total = 0.0
    for a, b in zip(grey[:-1], grey[1:], strict=True):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # [H, W, 2]
        grad = np.hypot(cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1))
        textured = grad > 0.5 * grad.mean()  # flat regions (sky, black borders) carry no motion
        total += float(np.linalg.norm(np.median(flow[textured], axis=0))) if textured.any() else 0.0
    return total


def _centre(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -R.T @ t  # camera j's centre in camera 0's coordinates


def recovered_path(pairs: list[dict]) -> dict[str, list[float]]:
    """Requested and recovered (scale aligned per frame) camera centres in the first camera's frame
    (x right, z forward), and rotation angles from frame 0, for the compared frames."""
    out: dict[str, list[float]] = {k: [] for k in ("frame", "req_x", "req_z", "req_deg", "x", "z", "deg")}
    for p in pairs:
        c_req = _centre(p["R_req"], p["t_req"])
        out["frame"].append(p["frame"])
        out["req_x"].append(float(c_req[0]))
        out["req_z"].append(float(c_req[2]))
        out["req_deg"].append(rotation_angle_deg(p["R_req"], np.eye(3)))
        if p["pose_ok"]:
            c = _centre(p["R"], p["t"] / np.linalg.norm(p["t"])) * np.linalg.norm(c_req)
            out["x"].append(float(c[0]))
            out["z"].append(float(c[2]))
            out["deg"].append(rotation_angle_deg(p["R"], np.eye(3)))
        else:
            for k in ("x", "z", "deg"):
                out[k].append(float("nan"))
    return out


def summarize(rows: list[dict]) -> dict[str, float]:
    """Mean scores over videos (NaN-aware; `pairs` dropped; other numeric keys of the rows kept)."""
    extra = [k for k in (rows[0] if rows else {}) if k not in SCORES and k != "pairs"]  # e.g. a caller's psnr
    out = {}
    for k in (*SCORES, *extra):
        vals = np.array([r[k] for r in rows], dtype=float)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out
