"""The demo's autoregressive world model, a branch of its own after curation (`run.py` runs it in a
second process beside the diffusion stages): a discrete tokenizer (`tokenizer train --preset
tiny-DV4x8x8`), a GPT on its tokens of the curated clips (`train ar`), and its guarded Video2World
predictions of the held-out physics episodes (`generate_ar`, as `generate ar-video2world`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith import fs
from worldsmith.autoregressive.bundle import ARWorld
from worldsmith.autoregressive.pipeline import generate_ar
from worldsmith.autoregressive.recipes import train_ar
from worldsmith.autoregressive.sampling import SamplingConfig
from worldsmith.console import progress
from worldsmith.demo.context import Context, episode_name, load_split
from worldsmith.demo.model_stages import THREADS, train_tokenizer_on_curated
from worldsmith.guardrails import default_pipeline
from worldsmith.runs import torch_threads


def stage_autoregressive(ctx: Context, folder: Path) -> dict[str, Any]:
    cfg, s = ctx.cfg.autoregressive, ctx.cfg.sim
    if not cfg.tokenizer_steps:
        return {"trained": False}
    dv = folder / "dv"
    train_tokenizer_on_curated(
        ctx, cfg.preset, cfg.tokenizer_steps, dv, "autoregressive/tokenizer", cfg.precision
    )
    metrics = train_ar(
        dv / "tokenizer", ctx.out / "curate", folder, preset=cfg.gpt_preset, frames=s.frames,
        size=(s.size, s.size), overrides=[f"train.steps={cfg.steps}", f"train.precision={cfg.precision}"],
        seed=ctx.seed_for("autoregressive"),
        n_threads=THREADS,
    )  # fmt: skip
    with torch_threads(THREADS):
        blocked = predict_held_out(ctx, ARWorld.from_pretrained(folder / "model"), folder)
    return {"trained": True, **metrics, "videos_blocked": blocked}


def predict_held_out(ctx: Context, world: ARWorld, folder: Path) -> int:
    """The held-out physics episodes' futures ``[N, T - n, H, W, 3]`` (blank where the guard blocked
    the prompt or the video) to ``folder/predictions.npz``; returns how many the guard blocked."""
    cfg, n = ctx.cfg.autoregressive, ctx.cfg.sampling.cond_frames
    guard = default_pipeline()
    arrays, meta = load_split(ctx.out, "test")
    preds, blocked = [], 0
    with progress() as bar:
        task = bar.add_task("autoregressive predictions", total=len(meta))
        for frames, m in zip(arrays["frames"], meta, strict=True):
            pred = np.zeros_like(frames[n:])
            if guard.check_prompt(m["caption"]).ok:
                video, _, _ = generate_ar(
                    world, torch.from_numpy(frames), m["caption"], cond_frames=n,
                    sampling=SamplingConfig(temperature=cfg.temperature, top_p=cfg.top_p),
                    seed=ctx.seed_for(f"predict/ar/{episode_name(m)}"),
                )  # fmt: skip
                _, safe = guard.check_video(video.numpy())
                pred = safe.numpy()[n:] if safe is not None else pred
            blocked += not pred.any()
            preds.append(pred)
            bar.advance(task)
    with fs.atomic_path(folder / "predictions.npz") as tmp:
        np.savez_compressed(tmp, autoregressive=np.stack(preds))  # [N, T - n, H, W, 3]
    return blocked
