"""Action following and action sensitivity of action-conditioned world models (Cosmos, arXiv
2501.03575, robot post-training; what its users report: "different trajectories produce the same
video").

* `future_scores`: a predicted future against the simulated one under the same actions: PSNR, SSIM,
  the robot's and the objects' mask IoU and centroid error in pixels, and the summed squared error
  (for the pooled skill over copy-last-frame). The prediction is segmented by the known appearance
  of each instance in the given frames (`physics.segment`, as the physics evaluation does); the robot
  is the agent instance (the arm's centroid follows its end-effector; the puck is its end-effector).
  `clusters=k` segments by k colour clusters per instance (2k for the background) instead of one
  colour and radius each: a many-coloured arm's single colour model covers the floor it uncovers,
  which holds the true future itself to 3.8 px on the large-arm twin (1.2 px with k = 6).
* `sensitivity`: from one start state, futures predicted under K action sequences against the K
  simulated futures: the error against the matching truth vs against the others'. A model that
  ignores its actions scores a ratio near 1; one that follows them, near 0.
* `skill`: ``1 - sum(SSE_model) / sum(SSE_copy)`` pooled over episodes.
"""

from __future__ import annotations

import numpy as np

from worldsmith.eval import metrics
from worldsmith.eval.control import farthest_point_kmeans
from worldsmith.eval.physics import appearance_models, background_plate, segment

CHANGE = 30.0  # an RGB distance from the background plate above this is not background (physics.segment)


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else None


def track(seg: np.ndarray, instance: int) -> list[np.ndarray | None]:
    """Per-frame centroid ``(x, y)`` of `instance` in masks ``[T, H, W]`` (None where absent)."""
    return [_centroid(m == instance) for m in seg]


def track_error(pred: list, true: list, miss: float) -> float:
    """Mean pixel distance between two centroid tracks over the frames where the truth has one; a
    frame where the prediction lost the instance counts as `miss` px (the frame diagonal: a miss is
    not free)."""
    d = [
        miss if p is None else float(np.linalg.norm(p - t))
        for p, t in zip(pred, true, strict=True)
        if t is not None
    ]
    return float(np.mean(d)) if d else float("nan")


def colour_clusters(pixels: np.ndarray, k: int, iters: int = 20) -> np.ndarray:
    """k-means centres ``[min(k, N), 3]`` of RGB ``pixels [N, 3]`` (`control.farthest_point_kmeans`
    from the pixel farthest from the mean: no randomness, a score must not depend on a seed)."""
    px = pixels.astype(np.float32)
    first = int(((px - px.mean(axis=0)) ** 2).sum(1).argmax())
    return farthest_point_kmeans(px, min(k, len(px)), first, iters)[0]


def segment_clusters(
    frames: np.ndarray, masks: np.ndarray, pred: np.ndarray, *, clusters: int = 6
) -> np.ndarray:
    """Instance masks ``[T', H, W]`` of `pred` ``[T', H, W, 3]``: each pixel goes to the instance (or
    the background) of its nearest colour cluster, `clusters` per instance and twice that for the
    background, fitted on the given ``frames [T, H, W, 3]`` with their ``masks [T, H, W]``; a pixel
    that matches the background plate seen there stays background."""
    centres, ids = [], []
    for inst in np.unique(masks):
        px = frames[masks == inst]  # [N, 3]
        if len(px) >= 4:  # as `physics.appearance_models`: a few pixels make no colour model
            c = colour_clusters(px, 2 * clusters if inst == 0 else clusters)
            centres.append(c)
            ids += [int(inst)] * len(c)
    if not centres:
        return np.zeros(pred.shape[:3], np.uint8)
    x = pred.astype(np.float32)
    nearest = np.linalg.norm(x[..., None, :] - np.concatenate(centres), axis=-1).argmin(-1)  # [T', H, W]
    label = np.array(ids, np.uint8)[nearest]
    image, known = background_plate(frames, masks)
    plate = known & (np.linalg.norm(x - image, axis=-1) <= CHANGE)
    return np.where(plate, 0, label).astype(np.uint8)


def segment_future(
    frames: np.ndarray, given: int, masks: np.ndarray, pred: np.ndarray, clusters: int = 0
) -> np.ndarray:
    """Instance masks of `pred` ``[T', H, W, 3]`` from the appearance of each instance in the first
    `given` true frames (with their masks) and the background plate they show (`clusters` > 0:
    `segment_clusters`; 0: one colour model per instance, `physics.segment`)."""
    if clusters:
        return segment_clusters(frames[:given], masks[:given], pred, clusters=clusters)
    models = appearance_models(frames[:given], masks[:given])
    plate = background_plate(frames[:given], masks[:given])
    return segment(pred, models, plate, change=CHANGE)


def future_scores(
    pred: np.ndarray, truth: np.ndarray, masks: np.ndarray, *, agent: int, given: int = 1, clusters: int = 0
) -> dict:
    """Scores of a predicted clip ``[T, H, W, 3]`` uint8 (its first `given` frames are the given ones)
    against the true clip and its instance masks ``[T, H, W]``; `agent` is the robot's instance id;
    `clusters`: the segmenter (`segment_future`)."""
    miss = float(np.hypot(*truth.shape[1:3]))
    fut, true_fut, true_m = pred[given:], truth[given:], masks[given:]
    pixel = metrics.summarize(fut, true_fut)
    seg = segment_future(truth, given, masks, fut, clusters)
    out = {
        "psnr": pixel["psnr"],
        "ssim": pixel["ssim"],
        "sse": float(((fut.astype(np.float64) - true_fut) ** 2).sum()),
    }
    objects = [int(i) for i in np.unique(masks[:given]) if i not in (0, agent)]
    for name, ids in (("arm", [agent]), ("object", objects)):
        ious, errs = [], []
        for i in ids:
            for p, t in zip(seg, true_m, strict=True):
                gt = t == i
                if gt.any():
                    ious.append((gt & (p == i)).sum() / (gt | (p == i)).sum())
            errs.append(track_error(track(seg, i), track(true_m, i), miss))
        out[f"{name}_iou"] = float(np.mean(ious)) if ious else float("nan")
        out[f"{name}_centroid_px"] = float(np.nanmean(errs)) if errs else float("nan")
    return out


def sensitivity(preds: list[np.ndarray], truths: list[np.ndarray], masks: list[np.ndarray], *, agent: int,
                given: int = 1, clusters: int = 0) -> dict:  # fmt: skip
    """K predictions (under K action sequences from one start) against the K simulated futures.

    Returns the mean robot-centroid error and MSE against the matching truth (the diagonal) and
    against the other sequences' truths (off the diagonal), and their ratios."""
    K = len(preds)
    segs = [segment_future(truths[0], given, masks[0], p[given:], clusters) for p in preds]
    tracks_p = [track(s, agent) for s in segs]
    tracks_t = [track(m[given:], agent) for m in masks]
    miss = float(np.hypot(*truths[0].shape[1:3]))
    px = np.array([[track_error(tracks_p[i], tracks_t[j], miss) for j in range(K)] for i in range(K)])
    mse = np.array(
        [[float(((p[given:].astype(np.float64) - t[given:]) ** 2).mean()) for t in truths] for p in preds]
    )
    off = ~np.eye(K, dtype=bool)
    res = {}
    for name, m in (("centroid_px", px), ("mse", mse)):
        match, other = float(np.nanmean(np.diag(m))), float(np.nanmean(m[off]))
        res |= {f"match_{name}": match, f"mismatch_{name}": other, f"ratio_{name}": match / max(other, 1e-9)}
    return res


def skill(sse_model: list[float], sse_copy: list[float]) -> float:
    """``1 - sum(SSE_model) / sum(SSE_copy)``: > 0 when the model beats copying the last frame."""
    return 1.0 - float(np.sum(sse_model)) / max(float(np.sum(sse_copy)), 1e-12)
