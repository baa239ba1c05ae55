"""`worldsmith train refiner`: the context refiner learns to finish a world model's predictions of
clips from `--data` (curated shards, a folder of videos), like every other training command.

The refiner's training pairs are (true clip, the world model's decoded Video2World prediction of it
from its first `cond_frames` frames): `decoded_predictions` makes them the way generation makes a
prediction (encode the given frames, sample the future latents, decode). Use clips the world model
did not train on (another curate run, or `--select` on another bucket / score range).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from worldsmith import fs
from worldsmith.console import progress
from worldsmith.data import ClipDataset, Selection, open_data
from worldsmith.diffusion.pipeline import predict_latents
from worldsmith.diffusion.world import WorldModel
from worldsmith.errors import WorldsmithError
from worldsmith.refine import RefinerConfig, train_refiner
from worldsmith.runs import torch_threads
from worldsmith.video.transforms import resize_center_crop, to_model, to_uint8


@torch.no_grad()
def decoded_predictions(
    world: WorldModel,
    videos: list[torch.Tensor],
    cond_frames: int,
    prompts: list[str] | None = None,
    *,
    steps: int = 10,
    sampler: str = "heun",
    seed: int = 0,
    batch: int = 16,
) -> torch.Tensor:
    """The world model's decoded predictions ``[N, 3, T, H, W]`` of uint8 videos ``[T, H, W, 3]`` from
    their first `cond_frames` frames, made as `generate video2world` makes one (the given frames
    resized and encoded, the future latents sampled, decoded and rounded to uint8), `batch` videos
    at a time: the b-th batch draws its noise from one generator seeded with ``seed + b``. With
    ``batch=1`` video i is exactly `generate_world`'s with seed ``seed + i`` (tested); batching
    amortises the small models' per-call overhead (the demo's 256 refiner clips, 1 thread)."""
    tok = world.tokenizer
    if tok is None:
        raise WorldsmithError("the world model has no tokenizer/; train it with `train diffusion`")
    _, h, w = world.spec.latent_size
    s = tok.config.spatial_compression
    out = []
    with progress() as bar:
        task = bar.add_task("world model predictions to refine", total=len(videos))
        for b, start in enumerate(range(0, len(videos), batch)):
            chunk = videos[start : start + batch]
            given = torch.stack(
                [to_model(resize_center_crop(v[:cond_frames], (h * s, w * s))) for v in chunk]
            )
            texts = list(prompts[start : start + len(chunk)]) if prompts else [""] * len(chunk)
            latents = predict_latents(world, tok.encode(given), prompts=texts, steps=steps, sampler=sampler,
                                      seed=seed + b)  # fmt: skip
            decoded = tok.decode(latents).clamp(-1, 1)  # [B, 3, T, H, W]
            out += [to_model(to_uint8(x)) for x in decoded]  # as a generated video reads back
            bar.advance(task, len(chunk))
    return torch.stack(out)


def train_refiner_from_data(
    world_dir: str | Path,
    data: Any,
    out: str | Path,
    *,
    cond_frames: int = 5,
    steps: int = 600,
    sample_steps: int = 10,
    sampler: str = "heun",
    config: RefinerConfig | None = None,
    seed: int = 0,
    selection: Selection | None = None,
    threads: int | None = None,
    masks: torch.Tensor | None = None,
    static: torch.Tensor | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Train a context refiner for the world model at `world_dir` on the clips of `data` (see
    `worldsmith.data.open_data`), cut to the world model's clip length and size; the refiner goes to
    ``out/model`` (``generate video2world --refiner OUT/model``). `masks` ``[N, T, H, W]`` and
    `static` ``[N]``: instance masks of the clips and which have a still camera (simulator truth, as
    the demo has), from which a motion refiner's flow also learns (`refine.train_refiner`).
    `precision`: the refiner's training (``"auto"``: bfloat16 where the CPU has it natively)."""
    out, data = Path(out), open_data(data, selection)  # bad data fails before a model loads
    world = WorldModel.from_pretrained(world_dir)
    if world.tokenizer is None:
        raise WorldsmithError(f"world model '{world_dir}' has no tokenizer/; train it with `train diffusion`")
    st, ss = world.tokenizer.config.temporal_compression, world.tokenizer.config.spatial_compression
    T, h, w = world.spec.latent_size
    frames, size = (T - 1) * st + 1, (h * ss, w * ss)  # the clips the world model predicts
    if not 0 < cond_frames < frames or (cond_frames - 1) % st:
        raise WorldsmithError(
            f"--cond-frames {cond_frames} must be 1 + k * {st} and below the world model's {frames} frames"
        )
    clips = ClipDataset(data, frames=frames, size=size)
    if masks is not None and len(masks) != len(clips):
        raise WorldsmithError(f"got masks of {len(masks)} clips for {len(clips)} clips of {data.name}")
    x = torch.stack([clips[i] for i in range(len(clips))])  # [N, 3, T, H, W]
    with torch_threads(threads):
        decoded = decoded_predictions(world, clips.windows, cond_frames, clips.captions, steps=sample_steps,
                                      sampler=sampler, seed=seed)  # fmt: skip
        model, metrics = train_refiner(x.transpose(1, 2), decoded.transpose(1, 2), cond_frames, steps=steps,
                                       seed=seed, config=config, out=out / "train", masks=masks,
                                       static=static, precision=precision)  # fmt: skip
    model.save_pretrained(out / "model")
    metrics |= {"clips": len(x), "frames": frames, "size": list(size), "model_dir": str(out / "model")}
    fs.write_json(out / "refiner_metrics.json", metrics)
    return metrics
