"""The demo's model stages: tokenizer, world model (DiT) and context refiner, each trained through
the `Trainer` or the family's own training entry point."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith.console import progress
from worldsmith.demo.context import Context, encode, load_clips, load_split, load_tokenizer
from worldsmith.diffusion.recipes import demo_predict, demo_train
from worldsmith.diffusion.world import WorldModel
from worldsmith.eval.metrics import psnr
from worldsmith.refine import RefinerConfig, train_refiner
from worldsmith.runs import seeded_init, torch_threads
from worldsmith.tokenizers.evaluate import naive_codec
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset
from worldsmith.train import TrainConfig, Trainer
from worldsmith.video.transforms import to_model, to_uint8


def _l1_objective(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    recon, _ = model(batch)  # supervised on the decoder output only (no KL, no commitment loss)
    return (recon - batch).abs().mean()


def stage_tokenizer(ctx: Context, folder: Path) -> dict[str, Any]:
    cfg = ctx.cfg.tokenizer
    x, _ = load_clips(ctx.out)
    n_val = max(1, len(x) // 10)
    val, train = x[:n_val], x[n_val:]
    tok_cfg = replace(
        get_preset(cfg.preset), encoder_channels=cfg.channels, decoder_channels=cfg.channels,
        num_res_blocks=cfg.res_blocks, lowpass_shortcut=cfg.shortcut,
    )  # fmt: skip
    if cfg.spatial is not None:
        tok_cfg = replace(tok_cfg, spatial_compression=cfg.spatial)
    with seeded_init(ctx.seed):
        tok = CausalTokenizer(tok_cfg)
    tcfg = TrainConfig(
        steps=cfg.steps, batch_size=min(cfg.batch, len(train)), lr=1e-3, betas=(0.5, 0.999),
        warmup_steps=min(20, cfg.steps // 5), log_every=10, tensorboard=False, seed=ctx.seed,
    )  # fmt: skip
    # one thread: the tiny model is overhead-bound, and beside any other load two threads on two
    # cores ran 15x slower (0.2 s -> 3 s a step, measured)
    with torch_threads(1):
        Trainer(tcfg, tok, _l1_objective, train, out=folder / "train", model_config=tok_cfg).fit()
    tok.eval().save_pretrained(folder / "model")
    with torch.no_grad():
        recon = torch.cat([tok.decode(tok.encode(v[None])) for v in val]).clamp(-1, 1)
        naive = naive_codec(val, tok_cfg.temporal_compression, tok_cfg.spatial_compression).clamp(-1, 1)

    def mean_psnr(y: torch.Tensor) -> float:
        return float(np.mean([psnr(to_uint8(a), to_uint8(b)).mean() for a, b in zip(y, val, strict=True)]))

    s = tok_cfg.spatial_compression
    return {
        "preset": cfg.preset,
        "steps": cfg.steps,
        "params": sum(p.numel() for p in tok.parameters()),
        "train_clips": len(train),
        "val_clips": len(val),
        "val_psnr": round(mean_psnr(recon), 2),
        "naive_codec_psnr": round(mean_psnr(naive), 2),
        "compression": f"{tok_cfg.temporal_compression}x{s}x{s}",
    }


def stage_world_model(ctx: Context, folder: Path) -> dict[str, Any]:
    cfg = ctx.cfg.world_model
    x, captions = load_clips(ctx.out)
    tok = load_tokenizer(ctx.out)
    latents = encode(tok, x)  # [N, 16, T', h, w]
    # the tokenizer is saved with the DiT: `generate` decodes with it (no --tokenizer needed)
    _, metrics = demo_train(
        latents, folder, seed=ctx.seed, steps=cfg.steps, prompts=captions, fps=ctx.cfg.sim.fps,
        residual_to_given=cfg.residual_to_given, patch_size=cfg.patch, tokenizer=tok,
    )  # fmt: skip
    return {**metrics, "latent_shape": list(latents.shape[1:])}


def predict_latents(
    ctx: Context, tok: CausalTokenizer, world: WorldModel, x: torch.Tensor, prompts: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(given latents ``[B, 16, n, h, w]``, the world model's Video2World latents ``[B, 16, T', h, w]``)
    for videos ``x [B, 3, T, H, W]`` from their first `cond_frames` frames: one definition for the
    refiner's training set and the held-out predictions, so the refiner learns on predictions made
    the way they are used."""
    s = ctx.cfg.sampling
    cond = encode(tok, x[:, :, : s.cond_frames])
    return cond, demo_predict(world, cond, steps=s.steps, sampler=s.sampler, prompts=prompts, seed=ctx.seed)


def stage_refiner(ctx: Context, folder: Path) -> dict[str, Any]:
    """The world model predicts the refiner's episodes (never trained on) from their given frames;
    the context refiner learns to finish those decoded predictions (`refine/`)."""
    cfg = ctx.cfg.refiner
    if not cfg.steps:
        return {"trained": False}
    tok = load_tokenizer(ctx.out)
    world = WorldModel.from_pretrained(ctx.out / "world_model" / "model")
    arrays, meta = load_split(ctx.out, "refine")
    x = torch.stack([to_model(torch.from_numpy(f)) for f in arrays["frames"]])  # [N, 3, T, H, W]
    decoded = []
    with progress() as bar:
        task = bar.add_task("world model predictions to refine", total=len(x))
        for i in range(0, len(x), 8):
            _, lat = predict_latents(ctx, tok, world, x[i : i + 8], [m["caption"] for m in meta[i : i + 8]])
            with torch.no_grad():
                decoded.append(torch.cat([tok.decode(lat[j : j + 4]) for j in range(0, len(lat), 4)]))
            bar.advance(task, len(lat))
    decoded_videos = torch.cat(decoded).clamp(-1, 1)  # [N, 3, T, H, W]
    model, metrics = train_refiner(
        x.transpose(1, 2), decoded_videos.transpose(1, 2), ctx.cfg.sampling.cond_frames, steps=cfg.steps,
        seed=ctx.seed, out=folder / "train",
        config=RefinerConfig(width=cfg.width, motion=cfg.motion, given_frames=cfg.given_frames),
        masks=torch.from_numpy(arrays["masks"]),
        static=torch.tensor([m["camera"] == "static" for m in meta]),
    )  # fmt: skip
    model.save_pretrained(folder / "model")
    return {"trained": True, "episodes": len(x), **metrics}
