"""Physics alignment against simulator ground truth (Cosmos paper, Sec. 6.2, "physical alignment").

Given the first `cond` frames of a held-out simulated episode, a model predicts the rest; we compare
the prediction with the true future at three levels:

- pixels: PSNR and SSIM per future frame;
- objects: IoU between each object's true instance mask and its mask in the prediction, found by
  segmenting the prediction with the object's known appearance (its colour statistics in the
  conditioning frames, where the true masks are known);
- trajectories: distance in pixels between the centroids of those masks.

Baselines (`copy_last_frame`, `linear_extrapolation`) predict from the same conditioning frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldsmith.eval import metrics


def copy_last_frame(cond: np.ndarray, n_future: int) -> np.ndarray:
    """Baseline: the last conditioning frame, repeated. ``[T_c, H, W, 3] -> [n_future, H, W, 3]``."""
    return np.repeat(cond[-1:], n_future, axis=0)


def linear_extrapolation(cond: np.ndarray, n_future: int) -> np.ndarray:
    """Baseline: extrapolate pixels linearly from the last two frames, ``x_k = x_T + k (x_T - x_{T-1})``."""
    if len(cond) < 2:
        return copy_last_frame(cond, n_future)
    last, prev = cond[-1].astype(np.float32), cond[-2].astype(np.float32)
    k = np.arange(1, n_future + 1, dtype=np.float32).reshape(-1, 1, 1, 1)
    return np.clip(last + k * (last - prev), 0, 255).round().astype(np.uint8)


def kinematic_extrapolation(
    cond: np.ndarray, cond_masks: np.ndarray, n_future: int, *, order: int = 2, static_camera: bool = True
) -> np.ndarray:
    """Oracle baseline, given the true instance masks of the conditioning frames (a model is not):
    every object of the last frame, cut out with its mask, moves rigidly along its centroid track
    extrapolated by a polynomial of `order` in time (1: constant velocity from the last two frames;
    2: constant acceleration, a parabola least-squares fitted to every frame it is seen in), rounded
    to whole pixels and pasted over the background. Where an object left, the background seen in
    the conditioning frames fills in (`background_plate`, still camera only; else the last frame).
    Objects are pasted in instance order and may leave the frame. It answers how much of the future
    follows from kinematics alone, with perfect segmentation and tracking: contacts (landing,
    bouncing, friction bringing a box to rest, toppling) are what it cannot know.
    ``cond [T_c, H, W, 3]`` uint8 and ``cond_masks [T_c, H, W]`` -> ``[n_future, H, W, 3]``."""
    if order not in (1, 2):
        raise ValueError(f"kinematic_extrapolation: order must be 1 or 2, got {order}")
    if cond.shape[:3] != cond_masks.shape:
        raise ValueError(f"masks {cond_masks.shape} do not match the frames {cond.shape}")
    last, last_mask = cond[-1], cond_masks[-1]
    H, W = last_mask.shape
    base = last.copy()
    if static_camera:
        plate, known = background_plate(cond, cond_masks)
        hole = (last_mask > 0) & known
        base[hole] = plate[hole].round().astype(cond.dtype)
    tracks = []  # (pixels of the object in the last frame, polynomial coefficients of x and y in t)
    for inst in np.unique(last_mask):
        if inst == 0:
            continue
        seen = [(t, *_centroid(m == inst)) for t, m in enumerate(cond_masks) if (m == inst).any()]
        t, c = np.array([s[0] for s in seen], float), np.array([s[1:] for s in seen])  # [n], [n, 2]
        if len(t) == 1:
            coef = c  # seen once: a constant, it stays where it is
        elif order == 1 or len(t) == 2:
            velocity = (c[-1] - c[-2]) / (t[-1] - t[-2])
            coef = np.stack([velocity, c[-1] - velocity * t[-1]])
        else:
            coef = np.polyfit(t, c, 2)  # [3, 2], highest power first
        tracks.append((np.nonzero(last_mask == inst), coef, np.polyval(coef, t[-1])))
    out = np.repeat(base[None], n_future, axis=0)
    for k in range(n_future):
        for (ys, xs), coef, now in tracks:
            dx, dy = np.polyval(coef, len(cond) - 1 + k + 1) - now
            ny, nx = np.round(ys + dy).astype(int), np.round(xs + dx).astype(int)
            inside = (ny >= 0) & (ny < H) & (nx >= 0) & (nx < W)
            out[k, ny[inside], nx[inside]] = last[ys[inside], xs[inside]]
    return out


@dataclass(frozen=True)
class Appearance:
    """Colour model of one object: mean RGB and the distance that covers most of its pixels."""

    instance: int
    mean: np.ndarray  # [3]
    radius: float


def appearance_models(frames: np.ndarray, masks: np.ndarray, *, coverage: float = 0.9) -> list[Appearance]:
    """Colour models of every instance visible in ``frames [T, H, W, 3]`` with ``masks [T, H, W]``."""
    models = []
    for inst in np.unique(masks):
        if inst == 0:
            continue
        px = frames[masks == inst].astype(np.float32)  # [N, 3]
        if len(px) < 4:
            continue
        mean = px.mean(axis=0)
        radius = float(np.quantile(np.linalg.norm(px - mean, axis=1), coverage))
        models.append(Appearance(int(inst), mean, max(radius, 12.0)))
    return models


def background_plate(frames: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The static background seen by a fixed camera: per pixel, the latest conditioning frame in
    which it was background. Returns (plate [H, W, 3] float32, known [H, W] bool)."""
    plate = np.zeros(frames.shape[1:], np.float32)
    known = np.zeros(frames.shape[1:3], bool)
    for frame, mask in zip(frames, masks, strict=True):
        bg = mask == 0
        plate[bg] = frame[bg]
        known |= bg
    return plate, known


def segment(
    frames: np.ndarray,
    models: list[Appearance],
    plate: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    change: float = 30.0,
) -> np.ndarray:
    """Instance masks ``[T, H, W]`` of ``frames [T, H, W, 3]``: each pixel goes to the nearest colour
    model within that model's radius, else background (0). With a background `plate`, pixels that
    match the plate (within `change`) stay background, so objects are not found in the floor texture."""
    if not models:
        return np.zeros(frames.shape[:3], np.uint8)
    x = frames.astype(np.float32)
    means = np.stack([m.mean for m in models])  # [M, 3]
    radii = np.array([m.radius for m in models])  # [M]
    d_norm = np.linalg.norm(x[..., None, :] - means, axis=-1) / radii  # [T, H, W, M]
    best = d_norm.argmin(axis=-1)  # [T, H, W]
    ids = np.array([m.instance for m in models], np.uint8)
    fg = d_norm.min(axis=-1) <= 1.0
    if plate is not None:
        image, known = plate
        fg &= ~known | (np.linalg.norm(x - image, axis=-1) > change)
    return np.where(fg, ids[best], 0).astype(np.uint8)


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else None


def object_alignment(
    pred: np.ndarray,
    true_masks: np.ndarray,
    models: list[Appearance],
    plate: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """Mean object IoU and centroid error (px) of a prediction against the true future masks."""
    seg = segment(pred, models, plate)
    ious, dists = [], []
    for m in models:
        for t in range(len(pred)):
            gt, pr = true_masks[t] == m.instance, seg[t] == m.instance
            if not gt.any():
                continue
            ious.append((gt & pr).sum() / (gt | pr).sum())
            c_gt, c_pr = _centroid(gt), _centroid(pr)
            if c_pr is not None:
                dists.append(float(np.linalg.norm(c_gt - c_pr)))
    return {
        "iou": float(np.mean(ious)) if ious else float("nan"),
        "centroid_px": float(np.mean(dists)) if dists else float("nan"),
        "found": float(len(dists) / len(ious)) if ious else float("nan"),
    }


def physics_alignment(
    pred: np.ndarray,
    true_frames: np.ndarray,
    true_masks: np.ndarray,
    cond: int,
    *,
    static_camera: bool = True,
) -> dict[str, float]:
    """Score a prediction of frames ``cond..T-1`` of an episode.

    Args:
        pred: predicted future, uint8 ``[T - cond, H, W, 3]``.
        true_frames: the whole true episode from one camera, uint8 ``[T, H, W, 3]``.
        true_masks: its instance masks ``[T, H, W]`` (0 = background).
        cond: number of conditioning frames the prediction was made from.
        static_camera: the camera does not move, so the background seen in the conditioning frames
            helps separate objects from the floor.
    """
    future = true_frames[cond:]
    if pred.shape != future.shape:
        raise ValueError(f"prediction {pred.shape} does not match the true future {future.shape}")
    models = appearance_models(true_frames[:cond], true_masks[:cond])
    plate = background_plate(true_frames[:cond], true_masks[:cond]) if static_camera else None
    pixel = metrics.summarize(pred, future)
    obj = object_alignment(pred, true_masks[cond:], models, plate)
    return {"psnr": pixel["psnr"], "ssim": pixel["ssim"], **obj}


def segmentation_ceiling(
    true_frames: np.ndarray, true_masks: np.ndarray, cond: int, *, static_camera: bool = True
) -> dict[str, float]:
    """Object scores of the true future itself: the best any prediction can get with this segmenter."""
    models = appearance_models(true_frames[:cond], true_masks[:cond])
    plate = background_plate(true_frames[:cond], true_masks[:cond]) if static_camera else None
    return object_alignment(true_frames[cond:], true_masks[cond:], models, plate)
