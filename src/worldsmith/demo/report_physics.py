"""The demo report's headline: physics alignment of the held-out predictions, in the metrics of
benchmarks/world_model.py (`eval.dynamics.score`), with the issue's targets and per-scenario rows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from worldsmith.demo.context import Context
from worldsmith.eval import physics
from worldsmith.eval.report import Report, side_by_side

COLUMNS = {  # `eval.dynamics.score` key -> column
    "psnr": "PSNR dB", "ssim": "SSIM", "iou": "object IoU", "pooled_psnr": "pooled PSNR dB",
    "spatial_iou": "spatial IoU", "spatiotemporal_iou": "spatiotemporal IoU",
    "weighted_spatial_iou": "weighted spatial IoU", "mse": "MSE", "physics_iq": "Physics-IQ",
}  # fmt: skip


def label(frames: np.ndarray, bar: int = 3, colour: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A thin coloured bar on top of a clip, so given and predicted frames are told apart."""
    out = frames.copy()
    out[:, :bar] = colour
    return out


def score_rows(scores: dict[str, dict[str, Any]], first: dict[str, str] | None = None) -> list[dict]:
    """One table row per method: the dynamics metrics and the skill over copy-last / linear per horizon."""
    rows = []
    for name, m in scores.items():
        row: dict[str, Any] = {**(first or {}), "method": name, **{c: m[k] for k, c in COLUMNS.items()}}
        row |= {f"skill vs copy {b}": v for b, v in m["skill_copy"].items()}
        row |= {f"skill vs linear {b}": v for b, v in m["skill_linear"].items()}
        rows.append(row)
    return rows


def physics_section(rep: Report, ctx: Context, test: dict[str, np.ndarray], meta: list[dict]) -> None:
    res, out, cfg = ctx.results, ctx.out, ctx.cfg
    sim_cfg, n_given = cfg.sim, cfg.sampling.cond_frames
    ev = res["evaluate"]
    sec = rep.section(
        "Physics alignment",
        f"Given the first {ev['cond_frames']} frames of each held-out episode, predict the next "
        f"{ev['future_frames']}: the world model against the baselines. The episodes follow the fixed "
        "rule of benchmarks/world_model.py (`eval.dynamics.HeldOut`), scored as it scores them: PSNR, "
        "SSIM and object IoU per episode; pooled PSNR; the Physics-IQ motion terms (Motamed et al. 2025) "
        "and score against a second take of each episode from a minutely perturbed start; skill over "
        "copy-last-frame and linear extrapolation on pooled MSE per horizon of future frames, "
        "1 - sum(MSE model) / sum(MSE baseline).",
    )
    if "dynamics" in ev:
        sec.table(score_rows(ev["dynamics"]), caption="all held-out episodes", highlight="skill vs copy 1-12")
        sec.table(
            [{**t, "met": "yes" if t["met"] else "no"} for t in ev["targets"]],
            caption="issue #28's targets at the demo's budget",
        )
    sec.table(
        [{"method": k, **v} for k, v in ev["methods"].items()],
        caption="means over held-out episodes, with the object centroid error in px",
        highlight="iou",
        fold="dynamics" in ev,
    )
    with np.load(out / "predict" / "predictions.npz") as data:
        preds = data["preds"]
        raw = data["preds_raw"] if "world model without refiner" in ev["methods"] else None
    ar = None
    if "autoregressive world model" in ev["methods"]:
        with np.load(out / "autoregressive" / "predictions.npz") as data:
            ar = data["autoregressive"]
    shown = set()
    for i, m in enumerate(meta):
        if m["scenario"] in shown:
            continue
        shown.add(m["scenario"])
        truth = test["frames"][i]
        given = label(truth[:n_given], colour=(40, 200, 40))
        pred_full = np.concatenate([given, label(preds[i], colour=(220, 60, 60))])
        copy = np.concatenate([given, physics.copy_last_frame(truth[:n_given], len(preds[i]))])
        panels, legend = [truth, pred_full], "truth | world model"
        if raw is not None:
            panels.append(np.concatenate([given, label(raw[i], colour=(220, 60, 60))]))
            legend += " | without refiner"
        if ar is not None:
            panels.append(np.concatenate([given, label(ar[i], colour=(220, 60, 60))]))
            legend += " | autoregressive"
        legend += " | copy last frame (green bar: given; red: predicted)"
        sec.video(
            side_by_side(*panels, copy),
            sim_cfg.fps,
            caption=f"{m['scenario']}: {legend}",
        )
    sec.note(
        "How to read it: object IoU segments each prediction by the object's known colour; the "
        "tokenizer row is the best a model in this latent space can do; 'copy last latent' repeats the "
        "last given latent frame and decodes it, the copy-last baseline inside the same latent space, "
        "so the gap between it and the world model is what the model learned about dynamics. The "
        "kinematic oracle is given the true masks of the given frames (no model is): each object moves "
        "rigidly along its centroid track, extrapolated with constant acceleration; where it falls "
        "behind copying the last frame, the future is decided by contacts (landing, bouncing, friction "
        "bringing a box to rest), which kinematics cannot know."
        + (
            " The world model row is the DiT's prediction, decoded, then finished in pixel space by the "
            "context refiner from the given frames (trained on the world model's predictions of other "
            "episodes; with motion on, it carries the last given frame's pixels forward along a flow it "
            "predicts); 'world model without refiner' is the decoded prediction alone, and 'refiner on "
            "copied last latent (no DiT)' is the same refiner finishing the copy-last-latent row instead "
            "of the DiT's prediction: the gap between it and the world model is what the DiT adds."
            if "world model without refiner" in ev["methods"]
            else ""
        ),
    )
    if (out / "evaluate" / "dynamics.json").is_file():
        scenarios = json.loads((out / "evaluate" / "dynamics.json").read_text())["scenarios"]
        rows = [r for s, scores in scenarios.items() for r in score_rows(scores, {"scenario": s})]
        sec.table(rows, caption="per scenario", fold=True)
