"""Run folders as the platform writes them: a training run, a curated manifest, a tiny world model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from worldsmith import fs
from worldsmith.curate.stages.shard import write_manifest
from worldsmith.curate.tasks import ClipTask
from worldsmith.runs import RunDir
from worldsmith.video import io

FPS = 8.0
LOSSES = [1.0, 0.5, 0.25, 0.125]


def ramp(T: int = 16, size: int = 32, shift: int = 0) -> np.ndarray:
    """Frames whose red channel counts the frame index: a decoder that drops frames shows it."""
    frames = np.zeros((T, size, size, 3), np.uint8)
    frames[..., 0] = (np.arange(T)[:, None, None] * 15 + shift) % 256
    frames[:, 8:16, 8:16, 1] = 200
    return frames


def make_train_run(root: Path, name: str = "train-a") -> Path:
    """A finished run: results, a metrics file, a JSON row table, truth|pred|baseline videos, a PNG."""
    run_dir = root / name
    with RunDir(run_dir, command="train diffusion", args={"steps": 4}, seed=3) as run:
        for i, loss in enumerate(LOSSES):
            (run_dir / "train").mkdir(exist_ok=True)
            with open(run_dir / "train" / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": i + 1, "loss": loss, "lr": 1e-3}) + "\n")
        fs.write_json(run_dir / "physics_rows.json", [{"scenario": "drop", "psnr": 21.5}])
        io.write(run_dir / "truth" / "ep0.mp4", ramp(), fps=FPS)
        io.write(run_dir / "pred" / "ep0.mp4", ramp(shift=40), fps=FPS)
        io.write(run_dir / "baseline_copy_last" / "ep0.mp4", ramp(shift=80), fps=FPS)
        from PIL import Image

        Image.fromarray(ramp()[0]).save(run_dir / "frame.png")
        run.record(params=123, methods={"world model": {"psnr": 24.0}, "copy last": {"psnr": 22.0}})
    return run_dir


def make_manifest(root: Path, name: str = "curated") -> Path:
    """A curation output: 4 clips (2 kept, 1 dropped by a filter, 1 duplicate of a kept one)."""
    folder = root / name
    clips = []
    captions = ["a red ball bounces", "a blue box slides", "a dark frame", "a red ball bounces again"]
    for i, caption in enumerate(captions):
        c = ClipTask(clip_id=f"vid_{i}", source="raw/vid.mp4", start=16 * i, end=16 * i + 16, fps=FPS)
        c.width, c.height, c.num_frames, c.clip_fps, c.caption = 32, 32, 16, FPS, caption
        c.scores = {"aesthetic": 0.2 + 0.2 * i, "motion": 1.0 + i}
        c.bucket = "32x32_1:1_16f" if i % 2 == 0 else "32x32_1:1_32f"
        clips.append(c)
        io.write(folder / "clips" / f"{c.clip_id}.mp4", ramp(shift=10 * i), fps=FPS)
    clips[2].drop("filter.dark", "mean luma 4.1 < 20")
    clips[3].drop("dedup", "cosine 0.9990 > 0.98 with vid_0")
    clips[3].duplicate_of = "vid_0"
    write_manifest(clips, folder)
    fs.write_json(folder / "duplicates.json", [["vid_0", "vid_3"]])
    return folder


def make_world_model(path: Path) -> Path:
    """A random-init Video2World model that generates 9 frames at 32x32 in well under a second."""
    from worldsmith.diffusion.dit import DiT, DiTConfig
    from worldsmith.diffusion.world import WorldModel, WorldSpec
    from worldsmith.runs import seeded_init
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

    cfg = DiTConfig(
        latent_channels=16, heads=2, head_dim=16, depth=1, text_dim=8, adaln_lora_dim=8, max_size=(8, 8, 8),
        video2world=True,
    )  # fmt: skip
    with seeded_init(0):
        tok, dit = CausalTokenizer(get_preset("tiny-cv4x8x8")).eval(), DiT(cfg).eval()
    spec = WorldSpec(
        latent_mean=(0.0,) * 16, latent_std=(1.0,) * 16, latent_size=(3, 4, 4), fps=FPS, text_encoder="none"
    )
    return WorldModel(dit, spec, tok).save_pretrained(path)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under `root`, links not followed: any write shows."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            st = os.lstat(Path(folder) / name)
            out[str(Path(folder, name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def make_action_world_model(path: Path) -> Path:
    """A random-init action-conditioned world model (`worldsmith posttrain action`'s layout): 3 values per
    action, 8 actions per clip (one per frame after the first)."""
    from worldsmith.diffusion.world import WorldModel
    from worldsmith.posttrain.action import ActionConfig, ActionDiT
    from worldsmith.posttrain.world import save_action_world
    from worldsmith.runs import seeded_init

    base = WorldModel.from_pretrained(make_world_model(path.parent / "base"))
    with seeded_init(1):
        net = ActionDiT(base.dit, ActionConfig(action_dim=3, frames_per_latent=4))
    return save_action_world(base, net, path, lora=None)
