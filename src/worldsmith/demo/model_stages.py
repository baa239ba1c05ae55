"""The demo's diffusion model stages, each the entry point of the matching CLI command: the
tokenizer (`tokenizer train`), the world model (`train diffusion`, reading the curated shards) and
the context refiner (`train refiner`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from worldsmith.data import ClipDataset, InMemory
from worldsmith.demo.context import Context, load_split
from worldsmith.diffusion.recipes import train_diffusion
from worldsmith.diffusion.refiner_data import train_refiner_from_data
from worldsmith.eval.metrics import psnr
from worldsmith.refine import RefinerConfig
from worldsmith.runs import torch_threads
from worldsmith.tokenizers.evaluate import naive_codec
from worldsmith.tokenizers.train import train_tokenizer
from worldsmith.train.trainer import resolve_precision
from worldsmith.video.transforms import to_uint8

# One torch thread for the tokenizer and world-model stages: the tiny models are overhead-bound
# (the DiT's step took 0.065 s on one thread, 0.085 s on two), and beside any other load two
# threads on two cores ran 15x slower (0.2 s -> 3 s a tokenizer step, measured). The refiner's
# convolutions do scale (0.37 -> 0.21 s a step): it takes the cores no parallel stage is using.
THREADS = 1


def curated_clips(ctx: Context) -> ClipDataset:
    """The curated training clips (`--data runs/curated`), one `sim.frames`-frame window of each."""
    s = ctx.cfg.sim
    return ClipDataset(ctx.out / "curate", frames=s.frames, size=(s.size, s.size))


def tokenizer_dir(ctx: Context) -> Path:
    return ctx.out / "tokenizer" / "tokenizer"  # where `tokenizer train --out tokenizer` writes it


def train_tokenizer_on_curated(ctx: Context, preset: str, steps: int, folder: Path, use: str, precision: str):
    """`tokenizer train --data curate --preset P --steps S`, P narrowed by `TokenizerSettings`, on all
    but the first tenth of the curated clips; returns (tokenizer, held-out clips ``[V, 3, T, H, W]``,
    number of training clips)."""
    cfg = ctx.cfg.tokenizer
    clips = curated_clips(ctx)
    n_val = max(1, len(clips) // 10)
    overrides: dict[str, Any] = dict(
        encoder_channels=cfg.channels, decoder_channels=cfg.channels, num_res_blocks=cfg.res_blocks,
        lowpass_shortcut=cfg.shortcut,
    )  # fmt: skip
    if cfg.spatial is not None:
        overrides["spatial_compression"] = cfg.spatial
    with torch_threads(THREADS):
        tok, _ = train_tokenizer(
            preset, Subset(clips, range(n_val, len(clips))), folder, steps=steps, batch_size=cfg.batch,
            seed=ctx.seed_for(use), overrides=overrides, precision=precision,
        )  # fmt: skip
    return tok, torch.stack([clips[i] for i in range(n_val)]), len(clips) - n_val


def stage_tokenizer(ctx: Context, folder: Path) -> dict[str, Any]:
    """The continuous tokenizer; the first tenth of the curated clips is held out and scored against
    the naive codec of the same compression."""
    cfg = ctx.cfg.tokenizer
    tok, val, n_train = train_tokenizer_on_curated(
        ctx, cfg.preset, cfg.steps, folder, "tokenizer", cfg.precision
    )
    c = tok.config
    with torch.no_grad():
        recon = torch.cat([tok.decode(tok.encode(v[None])) for v in val]).clamp(-1, 1)
        naive = naive_codec(val, c.temporal_compression, c.spatial_compression).clamp(-1, 1)

    def mean_psnr(y: torch.Tensor) -> float:
        return float(np.mean([psnr(to_uint8(a), to_uint8(b)).mean() for a, b in zip(y, val, strict=True)]))

    s = c.spatial_compression
    return {
        "preset": cfg.preset,
        "steps": cfg.steps,
        "precision": resolve_precision(cfg.precision),
        "params": sum(p.numel() for p in tok.parameters()),
        "train_clips": n_train,
        "val_clips": len(val),
        "val_psnr": round(mean_psnr(recon), 2),
        "naive_codec_psnr": round(mean_psnr(naive), 2),
        "compression": f"{c.temporal_compression}x{s}x{s}",
    }


def stage_world_model(ctx: Context, folder: Path) -> dict[str, Any]:
    """`train diffusion --tokenizer tokenizer/tokenizer --data curate --preset tiny`: Text2World +
    Video2World on the curated clips' latents and captions (the world model keeps its tokenizer, so
    `generate` needs no --tokenizer)."""
    cfg, s = ctx.cfg.world_model, ctx.cfg.sim
    patch = ",".join(map(str, cfg.patch))
    sets = [f"train.steps={cfg.steps}", f"model.patch_size=[{patch}]",
            f"model.residual_to_given={str(cfg.residual_to_given).lower()}",
            f"train.precision={cfg.precision}"]  # fmt: skip
    with torch_threads(THREADS):
        metrics = train_diffusion(
            tokenizer_dir(ctx), ctx.out / "curate", folder, preset=cfg.preset, frames=s.frames,
            size=(s.size, s.size), overrides=sets, seed=ctx.seed_for("world_model"),
        )  # fmt: skip
    return {**metrics, "precision": resolve_precision(cfg.precision)}


def stage_refiner(ctx: Context, folder: Path) -> dict[str, Any]:
    """`train refiner --world world_model/model --data <refine episodes>`: the world model predicts
    episodes it never trained on from their given frames, as `generate video2world` does, and the
    context refiner learns to finish those predictions; the simulator's masks teach its flow."""
    cfg, s = ctx.cfg.refiner, ctx.cfg.sampling
    if not cfg.steps:
        return {"trained": False}
    arrays, meta = load_split(ctx.out, "refine")
    episodes = InMemory([torch.from_numpy(f) for f in arrays["frames"]], fps=ctx.cfg.sim.fps,
                        captions=[m["caption"] for m in meta])  # fmt: skip
    metrics = train_refiner_from_data(
        ctx.out / "world_model" / "model", episodes, folder, cond_frames=s.cond_frames, steps=cfg.steps,
        sample_steps=s.steps, sampler=s.sampler, seed=ctx.seed_for("refiner"), threads=ctx.cores,
        config=RefinerConfig(width=cfg.width, motion=cfg.motion, given_frames=cfg.given_frames),
        precision=cfg.precision,
        masks=torch.from_numpy(arrays["masks"]), static=torch.tensor([m["camera"] == "static" for m in meta]),
    )  # fmt: skip
    return {"trained": True, "episodes": len(meta), "precision": resolve_precision(cfg.precision),
            "threads": ctx.cores, **metrics}  # fmt: skip
