"""The demo's evaluation: physics alignment and 3D consistency of the held-out predictions
(`predict.py`) against the simulator's ground truth and the baselines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.demo.context import Context, held_out_rule, load_split
from worldsmith.eval import dynamics, physics
from worldsmith.eval.geometry import video_consistency


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    finite = [r[key] for r in rows if np.isfinite(r[key])]
    return float(np.mean(finite)) if finite else float("nan")


def stage_evaluate(ctx: Context, folder: Path) -> dict[str, Any]:
    n = ctx.cfg.sampling.cond_frames
    arrays, meta = load_split(ctx.out, "test")
    with np.load(ctx.out / "predict" / "predictions.npz") as data:
        p = {k: data[k] for k in data.files}
    if ctx.cfg.autoregressive.tokenizer_steps:
        with np.load(ctx.out / "autoregressive" / "predictions.npz") as data:
            p["autoregressive"] = data["autoregressive"]
    n_future = ctx.cfg.sim.frames - n
    given = lambda i: arrays["frames"][i][:n]  # noqa: E731
    refined = {
        "world model without refiner": lambda i: p["preds_raw"][i],
        # the DiT's share: the same refiner, given the decoded copy of the last latent instead
        "refiner on copied last latent (no DiT)": lambda i: p["latent_copy_refined"][i],
    }
    methods: dict[str, Callable[[int], np.ndarray]] = {
        "world model": lambda i: p["preds"][i],
        **(refined if ctx.cfg.refiner.steps else {}),
        **(
            {"autoregressive world model": lambda i: p["autoregressive"][i]}
            if ctx.cfg.autoregressive.tokenizer_steps
            else {}
        ),  # fmt: skip
        "copy last frame": lambda i: physics.copy_last_frame(given(i), n_future),
        "linear extrapolation": lambda i: physics.linear_extrapolation(given(i), n_future),
        # how far kinematics alone gets, with perfect segmentation of the given frames (no model has it)
        "kinematic extrapolation of the true objects (oracle)": lambda i: physics.kinematic_extrapolation(
            given(i), arrays["masks"][i][:n], n_future
        ),
        "copy last latent (decoded)": lambda i: p["latent_copy"][i],
        "tokenizer reconstruction (upper bound)": lambda i: p["recons"][i],
    }
    rows = []
    for i, m in enumerate(meta):
        f, k = arrays["frames"][i], arrays["masks"][i]
        for name, fn in methods.items():
            rows.append(
                {"scenario": m["scenario"], "method": name, **physics.physics_alignment(fn(i), f, k, n)}
            )
    fs.write_json(folder / "physics_rows.json", rows)
    keys = ("psnr", "ssim", "iou", "centroid_px")
    summary = {
        name: {k: _mean([r for r in rows if r["method"] == name], k) for k in keys} for name in methods
    }
    # the metrics of benchmarks/world_model.py (`eval.dynamics.score`): pixels and objects, the
    # Physics-IQ terms and score against the second takes, pooled-MSE skill per horizon; per scenario
    data = {k: arrays[k] for k in ("frames", "take2", "masks")} | {"scenario": [m["scenario"] for m in meta]}
    baselines = ("copy last frame", "linear extrapolation")  # `score` computes these itself
    preds = {
        k: np.stack([fn(i) for i in range(len(meta))]) for k, fn in methods.items() if k not in baselines
    }
    scores = dynamics.score(data, preds, held_out_rule(ctx.cfg))
    fs.write_json(folder / "dynamics.json", scores)
    no_dit = (
        "refiner on copied last latent (no DiT)" if ctx.cfg.refiner.steps else "copy last latent (decoded)"
    )
    return {
        "methods": summary,
        "dynamics": scores["overall"],
        "targets": dynamics_targets(scores["overall"], no_dit),
        "cond_frames": n,
        "future_frames": n_future,
        "geometry": _evaluate_geometry(ctx, folder),
    }


def dynamics_targets(
    o: dict[str, dict[str, Any]], no_dit: str, main: str = "world model"
) -> list[dict[str, Any]]:
    """Issue #28's targets on the demo's overall scores `o` (`eval.dynamics.score`): skill over
    copy-last > 0 (pooled MSE over every predicted frame), Physics-IQ spatial and spatiotemporal IoU
    above copy-last's and linear extrapolation's, and the DiT row above the `no_dit` row on both
    (one seed: the seed-to-seed spread the benchmark requires is not measured here)."""
    everything = list(o[main]["skill_copy"])[-1]  # the last bin pools every future frame
    rows = []

    def add(target: str, value: float, reference: float) -> None:
        rows.append(
            {"target": target, "value": value, "reference": reference, "met": bool(value > reference)}
        )

    add(
        f"world model skill over copy-last (pooled MSE, frames {everything}) > 0",
        o[main]["skill_copy"][everything],
        0.0,
    )
    for term in ("spatial_iou", "spatiotemporal_iou"):
        for base in ("copy last frame", "linear extrapolation"):
            add(f"world model Physics-IQ {term} > {base}", o[main][term], o[base][term])
    add(f"world model skill over copy-last > {no_dit} (one seed)", o[main]["skill_copy"][everything],
        o[no_dit]["skill_copy"][everything])  # fmt: skip
    add(f"world model spatiotemporal IoU > {no_dit} (one seed)", o[main]["spatiotemporal_iou"],
        o[no_dit]["spatiotemporal_iou"])  # fmt: skip
    return rows


def _evaluate_geometry(ctx: Context, folder: Path) -> dict[str, dict[str, float]]:
    """3D consistency (Sampson error, pose success) of moving-camera videos: from the last given
    frame on, the world model's prediction against the true video and the tokenizer's reconstruction."""
    e = ctx.cfg.eval
    arrays, meta = load_split(ctx.out, "geometry")
    if not meta:
        return {}
    with np.load(ctx.out / "predict" / "predictions_geometry.npz") as data:
        preds, recons = data["preds"], data["recons"]
    last = ctx.cfg.sampling.cond_frames - 1
    start = lambda i: arrays["frames"][i][last : last + 1]  # noqa: E731
    methods = {
        "ground truth": lambda i: arrays["frames"][i][last:],
        "world model": lambda i: np.concatenate([start(i), preds[i]]),
        "tokenizer reconstruction": lambda i: np.concatenate([start(i), recons[i]]),
    }
    rows = []
    for i, m in enumerate(meta):
        for name, fn in methods.items():
            scores = video_consistency(
                fn(i), arrays["K"][i], gap=e.geometry_gap, upscale=e.geometry_upscale,
                contrast_threshold=e.geometry_contrast,
            )  # fmt: skip
            rows.append({"scenario": m["scenario"], "camera": m["camera"], "method": name, **scores})
    fs.write_json(folder / "geometry_rows.json", rows)
    summary = {}
    for name in methods:
        sel = [r for r in rows if r["method"] == name]
        summary[name] = {
            "sampson_px": _mean(sel, "sampson_px"),
            "pose_success": float(np.mean([r["pose_success"] for r in sel])),
            "mean_inliers": float(np.mean([r["mean_inliers"] for r in sel])),
            "scored_videos": sum(bool(np.isfinite(r["sampson_px"])) for r in sel),
        }
    return summary
