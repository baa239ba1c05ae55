"""Evaluations on files, for the `worldsmith eval ...` commands: videos and sim episode folders in,
JSON-ready dicts out."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith.errors import WorldsmithError
from worldsmith.eval.geometry import MIN_INLIERS, video_consistency
from worldsmith.eval.multiview import multiview_consistency
from worldsmith.eval.physics import copy_last_frame, linear_extrapolation, physics_alignment
from worldsmith.sim.dataset import load_episode
from worldsmith.video import io


def _episode(folder: str | os.PathLike):

    if not Path(folder, "meta.json").is_file():
        raise WorldsmithError(
            f"'{folder}' is not a sim episode folder (no meta.json); make one with `worldsmith sim run`"
        )
    return load_episode(folder)


def explain(result: dict[str, Any], reasons: dict[str, str]) -> dict[str, Any]:
    """Scores that could not be computed (NaN) become None, with their one-line reason under
    ``"why"``: JSON has no NaN, and a bare null says nothing."""
    why = {k: reasons.get(k, "not computable") for k, v in result.items()
           if isinstance(v, float) and not math.isfinite(v)}  # fmt: skip
    return {**{k: None if k in why else v for k, v in result.items()}, **({"why": why} if why else {})}


def _small_frames_hint(options: dict[str, Any]) -> str:
    if options.get("upscale", 1) == 1:
        return "small frames (under ~200 px) need --upscale 3 --contrast-threshold 0.01"
    return "try a lower --contrast-threshold or a smaller --gap"


def _geometry(frames: np.ndarray, K: np.ndarray | None, gap: int, options: dict[str, Any]) -> dict[str, Any]:

    scores = video_consistency(frames, K, gap=gap, **options)
    if not scores["pairs"]:
        short = f"{len(frames)} frames give no pair {gap} apart (--gap {gap})"
        return explain(scores, {"sampson_px": short, "pose_success": short})
    return explain(scores, {
        "sampson_px": f"no frame pair had {MIN_INLIERS}+ RANSAC inliers (mean {scores['mean_inliers']:.1f}); "
        + _small_frames_hint(options),
        "pose_success": "no camera intrinsics: give a sim episode folder (its true K) instead of a video",
    })  # fmt: skip


def geometry(
    video: str | os.PathLike, *, K: np.ndarray | None = None, gap: int = 4, **options: Any
) -> dict[str, Any]:
    """3D consistency of one video: mean inlier Sampson error (px) and pose-estimation success.
    `options` go to `video_consistency` (`upscale`, `contrast_threshold`, `max_pairs`)."""
    frames = io.read(video).frames.numpy()
    return {"video": str(video), "frames": len(frames), **_geometry(frames, K, gap, options)}


def episode_geometry(
    folder: str | os.PathLike, *, camera: int = 0, gap: int = 4, **options: Any
) -> dict[str, Any]:
    """3D consistency of a sim episode's camera, with its true intrinsics."""
    ep = _episode(folder)
    K = ep.states["K"][camera, 0]
    return {"episode": str(folder), "camera": camera, **_geometry(ep.frames[camera], K, gap, options)}


def physics(
    prediction: str | os.PathLike,
    episode: str | os.PathLike,
    *,
    cond: int,
    lpips_backbone: str | os.PathLike | None = None,
    lpips_net: str = "alex",
) -> dict[str, Any]:
    """Physics alignment of a predicted video against a sim episode's true future.

    `prediction` holds either the future frames only or the whole episode length (its first `cond`
    frames are then ignored). The episode must have been written with instance masks. With
    `lpips_backbone` (torchvision weights on disk, see `worldsmith.eval.lpips`), rows add LPIPS.
    """

    ep = _episode(episode)
    if ep.masks is None:
        raise WorldsmithError(
            f"episode '{episode}' has no instance masks; rerun `worldsmith sim run` with masks"
        )
    truth, masks = ep.frames[0], ep.masks[0]
    pred = io.read(prediction).frames.numpy()
    n_future = len(truth) - cond
    if len(pred) == len(truth):
        pred = pred[cond:]
    if len(pred) != n_future or pred.shape[1:3] != truth.shape[1:3]:
        raise WorldsmithError(
            f"prediction '{prediction}' has {len(pred)} frames of {pred.shape[1]}x{pred.shape[2]}; the "
            f"episode needs {n_future} (or {len(truth)}) frames of {truth.shape[1]}x{truth.shape[2]} "
            f"for --cond {cond}"
        )
    given = truth[:cond]
    rows = {
        "prediction": physics_alignment(pred, truth, masks, cond),
        "copy last frame": physics_alignment(copy_last_frame(given, n_future), truth, masks, cond),
        "linear extrapolation": physics_alignment(linear_extrapolation(given, n_future), truth, masks, cond),
    }
    if lpips_backbone is not None:
        from worldsmith.eval.lpips import LPIPS

        model = LPIPS.from_files(lpips_backbone, net=lpips_net)
        videos = [pred, copy_last_frame(given, n_future), linear_extrapolation(given, n_future)]
        for row, video in zip(rows.values(), videos, strict=True):
            row["lpips"] = float(model.video(video, truth[cond:]).mean())
    return {"episode": str(episode), "cond": cond, "scores": rows}


def multiview(folder: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Temporal and cross-view Sampson errors of a multi-camera sim episode (`options`:
    `upscale`, `contrast_threshold`)."""

    ep = _episode(folder)
    if ep.frames.shape[0] < 2:
        raise WorldsmithError(f"episode '{folder}' has one camera; render it with --cameras 2 or more")
    hint = _small_frames_hint(options)
    reasons = {
        "tse_px": f"no camera had a frame pair with {MIN_INLIERS}+ RANSAC inliers; {hint}",
        "cse_px": f"no neighbouring cameras shared {MIN_INLIERS}+ RANSAC inliers (do views overlap?); {hint}",
    }
    scores = explain(multiview_consistency(ep.frames, **options), reasons)
    return {"episode": str(folder), "cameras": ep.cameras, **scores}
