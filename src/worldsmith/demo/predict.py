"""The demo's use of its diffusion world model: guarded Video2World predictions of the held-out
episodes (`generate_world`, as `generate video2world --refiner` makes them) and Text2World samples
(as `generate text2world`). The autoregressive model predicts in its own branch (`autoregressive.py`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith import fs
from worldsmith.console import progress
from worldsmith.demo.context import Context, episode_name, load_split
from worldsmith.diffusion.pipeline import generate_world
from worldsmith.diffusion.world import WorldModel
from worldsmith.eval import physics
from worldsmith.guardrails import default_pipeline
from worldsmith.refine import ContextRefiner, refine_clip
from worldsmith.video import io
from worldsmith.video.transforms import to_model, to_uint8


@dataclass
class Prediction:
    """One held-out episode's future frames ``[T - n, H, W, 3]`` uint8 by every method that needs the
    world model (blank where the guard blocked the prompt or the video)."""

    preds: np.ndarray  # the world model (DiT + refiner), as written after the post-guard
    preds_raw: np.ndarray  # the same before the context refiner
    recons: np.ndarray  # the tokenizer's reconstruction of the true future
    latent_copy: np.ndarray  # the last given latent repeated and decoded: copy-last inside latent space
    latent_copy_refined: np.ndarray  # that copy finished by the refiner (the no-DiT ablation)


def _predict(ctx: Context, models: tuple, frames: np.ndarray, m: dict[str, Any], folder: Path):
    """(guard decision, `Prediction`) of one held-out episode, made by `generate_world` as
    `generate video2world --refiner` makes it, with the guard around it as `generate` has it."""
    world, refiner, guard = models
    tok = world.tokenizer
    n = ctx.cfg.sampling.cond_frames
    name = episode_name(m)
    x = to_model(torch.from_numpy(frames))[None]  # [1, 3, T, H, W]
    blank = np.zeros_like(frames[n:])
    verdict = guard.check_prompt(m["caption"])
    decision = {"episode": f"{m['scenario']}#{m['seed']}", "prompt": verdict.ok, "why": verdict.explain()}
    if not verdict.ok:  # a blocked prompt costs no compute and writes nothing
        return decision, Prediction(*[blank] * len(fields(Prediction)))
    s = ctx.cfg.sampling
    gen = generate_world(
        world, m["caption"], video=torch.from_numpy(frames), cond_frames=n, steps=s.steps, sampler=s.sampler,
        seed=ctx.seed_for(f"predict/{name}"), refiner=refiner,
    )  # fmt: skip
    raw = (gen.frames if gen.unrefined is None else gen.unrefined).numpy()[n:]  # [T - n, H, W, 3]
    verdict, safe = guard.check_video(gen.frames.numpy())
    decision.update(video=verdict.ok, video_why=verdict.explain())
    if safe is not None:  # only a video that passed the post-guard is written
        _write_videos(ctx, folder, f"{name}.mp4", frames, safe.numpy())
    with torch.no_grad():
        recon = to_uint8(tok.decode(tok.encode(x))[0].clamp(-1, 1)).numpy()[n:]
        cond = gen.latents[:, :, : gen.info["given_latent_frames"]]  # [1, C, n', h, w]
        held = cond[:, :, -1:].expand(-1, -1, gen.latents.shape[2] - cond.shape[2], -1, -1)
        held_decoded = tok.decode(torch.cat([cond, held], 2))[0].clamp(-1, 1)  # [3, T, H, W]
    latent_copy = to_uint8(held_decoded).numpy()[n:]
    copy_refined = blank
    if refiner is not None:
        copy_refined = to_uint8(refine_clip(refiner, x[0, :, :n], held_decoded)).numpy()[n:]
    passed = safe is not None
    pred = safe.numpy()[n:] if passed else blank
    return decision, Prediction(pred, raw if passed else blank, recon, latent_copy, copy_refined)


def _write_videos(ctx: Context, folder: Path, name: str, frames: np.ndarray, video: np.ndarray) -> None:
    """The prediction, the truth and the copy-last baseline under one name: the Studio plays them together."""
    n, fps = ctx.cfg.sampling.cond_frames, ctx.cfg.sim.fps
    io.write(folder / "videos" / name, video, fps=fps)
    io.write(folder / "truth" / name, frames, fps=fps)
    copy = np.concatenate([frames[:n], physics.copy_last_frame(frames[:n], len(frames) - n)])
    io.write(folder / "baseline_copy_last" / name, copy, fps=fps)


def stage_predict(ctx: Context, folder: Path) -> dict[str, Any]:
    refiner_dir = ctx.out / "refiner" / "model"
    refiner = ContextRefiner.from_pretrained(refiner_dir) if ctx.cfg.refiner.steps else None
    guard = default_pipeline()
    world = WorldModel.from_pretrained(ctx.out / "world_model" / "model")
    models = (world, refiner, guard)
    keys = [f.name for f in fields(Prediction)]
    decisions = []
    for split in ("test", "geometry"):
        arrays, meta = load_split(ctx.out, split)
        outputs: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        with progress() as bar:
            task = bar.add_task(f"predict held-out episodes ({split})", total=len(meta))
            for frames, m in zip(arrays.get("frames", []), meta, strict=True):
                decision, prediction = _predict(ctx, models, frames, m, folder)
                decisions.append(decision)
                for k in keys:
                    outputs[k].append(getattr(prediction, k))
                bar.advance(task)
        name = "predictions.npz" if split == "test" else f"predictions_{split}.npz"
        with fs.atomic_path(folder / name) as tmp:
            np.savez_compressed(tmp, **({k: np.stack(v) for k, v in outputs.items()} if meta else {}))
    fs.write_json(folder / "guard.json", decisions)
    text2world = _text2world(ctx, world, guard, folder)
    blocked_demo = guard.check_prompt("a video of a man stabbing a child with a knife")
    return {
        "episodes": len(decisions),
        "prompts_blocked": sum(not d["prompt"] for d in decisions),
        "videos_blocked": sum(not d.get("video", True) for d in decisions),
        "unsafe_prompt_example_blocked": not blocked_demo.ok,
        "unsafe_prompt_example_reason": blocked_demo.explain(),
        "guard_policy": guard.policy_record(),
        "refiner": refiner is not None,
        "text2world": text2world,
    }


def _text2world(ctx: Context, world: WorldModel, guard, folder: Path) -> list[dict[str, Any]]:
    """`generate text2world` from one held-out caption per scenario: the same DiT with no given frame."""
    _, meta = load_split(ctx.out, "test")
    prompts = {m["scenario"]: m["caption"] for m in reversed(meta)}  # the first episode's caption of each
    s, rows, videos = ctx.cfg.sampling, [], []
    for scenario, prompt in sorted(prompts.items()):
        if not guard.check_prompt(prompt).ok:
            continue
        gen = generate_world(world, prompt, steps=s.steps, sampler=s.sampler,
                             seed=ctx.seed_for(f"text2world/{scenario}"))  # fmt: skip
        _, safe = guard.check_video(gen.frames.numpy())
        if safe is None:
            continue
        io.write(folder / "text2world" / f"{scenario}.mp4", safe.numpy(), fps=ctx.cfg.sim.fps)
        rows.append({"scenario": scenario, "prompt": prompt, "video": f"text2world/{scenario}.mp4"})
        videos.append(safe.numpy())
    if videos:
        with fs.atomic_path(folder / "text2world.npz") as tmp:
            np.savez_compressed(tmp, videos=np.stack(videos))  # [S, T, H, W, 3]
    return rows
