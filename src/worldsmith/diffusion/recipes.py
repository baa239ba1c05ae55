"""Training recipes for the diffusion world model on the shared `Trainer`.

* `train_world_model(latents, out, dit_cfg=fit_preset("tiny", latents.shape[1:]))`: a DiT on
  tokenizer latents in memory (`diffusion.pipeline.predict_latents` predicts with it).
* `train_diffusion(...)`: ``worldsmith train diffusion``: curated shards or videos -> (cached)
  tokenizer latents (`worldsmith.data.encode_clips`) -> DiT, conditioned on the clips' captions.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import torch

from worldsmith import fs
from worldsmith.config import check_overrides, load, split_overrides
from worldsmith.data import PromptedDataset, Selection, encode_captions, encode_clips, open_data
from worldsmith.diffusion.conditioning import measure_residual_scale
from worldsmith.diffusion.dit import PRESETS, DiT, DiTConfig
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.diffusion.world import WorldModel, WorldSpec, latent_stats
from worldsmith.errors import ConfigError, WorldsmithError
from worldsmith.runs import seeded_init, torch_threads
from worldsmith.tokenizers.wan import load_tokenizer
from worldsmith.train import TrainConfig, Trainer
from worldsmith.train.metrics import read_metrics


class LatentDataset(PromptedDataset):
    """Normalised latents ``[C, T, H, W]`` (+ text embeddings ``[S, D]`` and mask) per item."""

    key = "latents"


def train_world_model(
    latents: torch.Tensor,
    out: str | Path,
    *,
    dit_cfg: DiTConfig,
    train: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    prompts: list[str] | None = None,
    text_encoder: str = "minilm",
    objective: ObjectiveConfig | None = None,
    fps: float = 24.0,
    tokenizer: torch.nn.Module | None = None,
    threads: int | None = None,
    residual_scale: float | Literal["measure"] | None = None,
) -> tuple[WorldModel, dict[str, Any]]:
    """Train a DiT on raw tokenizer latents ``[N, C, T, H, W]``; write the world model to ``out/model``.

    `residual_scale`: with ``dit_cfg.residual_to_given``, the `DiTConfig.residual_scale` to train
    with (1 = off); ``"measure"``: measured on the training latents (the change of the futures the
    objective trains after min..max given frames, `conditioning.measure_residual_scale`); None:
    `dit_cfg`'s own."""

    if latents.ndim != 5 or latents.shape[1] != dit_cfg.latent_channels:
        raise WorldsmithError(
            f"latents must be [N, {dit_cfg.latent_channels}, T, H, W] (continuous tokenizer latents), "
            f"got {tuple(latents.shape)}"
        )
    out = Path(out)
    mean, std = latent_stats(latents)
    objective = objective or ObjectiveConfig(max_cond_frames=max(1, min(2, latents.shape[2] - 1)))
    if prompts and len(prompts) != latents.shape[0]:
        raise WorldsmithError(
            f"got {len(prompts)} prompts for {latents.shape[0]} latent clips; give one prompt per clip"
        )
    text, mask, enc_name = encode_captions(list(prompts or []), text_encoder)
    spec = WorldSpec(
        latent_mean=mean, latent_std=std, latent_size=tuple(latents.shape[2:]), fps=fps,
        text_encoder=enc_name, family=objective.family, edm=objective.edm, flow=objective.flow,
    )  # fmt: skip
    base = dict(steps=500, batch_size=min(8, latents.shape[0]), lr=2e-3, warmup_steps=20, ema_decay=0.995)
    base |= dict(log_every=25, tensorboard=False, betas=(0.9, 0.99))
    cfg = load(TrainConfig, overrides=overrides, base=TrainConfig(**{**base, **(train or {})}))
    values = WorldModel.normalize_with(spec, latents.float())
    if dit_cfg.residual_to_given and residual_scale is not None:
        scale = _measured_scale(values, objective) if residual_scale == "measure" else residual_scale
        dit_cfg = replace(dit_cfg, residual_scale=scale)
    with seeded_init(cfg.seed):
        dit = DiT(dit_cfg)
    world = WorldModel(dit, spec, tokenizer)
    data = LatentDataset(values, text, mask)
    obj = DiffusionObjective(objective)
    trainer = Trainer(cfg, dit, obj, data, out=out / "train", model_config=dit_cfg)
    t0 = time.perf_counter()
    with torch_threads(threads):
        trainer.fit()
    seconds = time.perf_counter() - t0
    # Unsharded (EMA) weights: under torchrun + FSDP2 every rank must call this and rank 0 gets them.
    weights = trainer.full_state_dict()
    if trainer.rank != 0:
        return world, {"steps": cfg.steps, "rank": trainer.rank}
    if trainer.world_size > 1:  # the trained module is sharded: save through a fresh, whole one
        dit = DiT(dit_cfg)
        world = WorldModel(dit, spec, tokenizer)
    dit.load_state_dict(weights)
    dit.eval()
    world.save_pretrained(out / "model")

    losses = [r["loss"] for r in read_metrics(out / "train" / "metrics.jsonl") if "loss" in r]
    metrics = {
        "steps": cfg.steps,
        "train_seconds": round(seconds, 2),
        "params": sum(p.numel() for p in dit.parameters()),
        "clips": len(data),
        "latent_shape": list(latents.shape[1:]),
        "residual_scale": dit_cfg.residual_scale,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "model_dir": str(out / "model"),
    }
    fs.write_json(out / "diffusion_metrics.json", metrics)
    return world, metrics


def _measured_scale(values: torch.Tensor, objective: ObjectiveConfig) -> float:
    """The residual scale of diffusion-space latents ``[N, C, T, H, W]`` over the futures that
    `objective` trains (after min..max_cond_frames given latent frames); 1 when it trains none."""
    top = min(objective.max_cond_frames, values.shape[2] - 1)
    given = tuple(range(objective.min_cond_frames, top + 1))
    return measure_residual_scale(values, given, objective.noise.sigma_data) if given else 1.0


@torch.no_grad()
def decoder_channel_weights(
    tokenizer: torch.nn.Module, latents: torch.Tensor, *, clips: int = 16, floor: float = 0.01
) -> tuple[float, ...]:
    """Per latent channel: how much the decoded video moves per unit change of that channel in the
    diffusion space (a 5% random change of the channel, scaled by its std, on `clips` of the raw
    latents ``[N, C, T, H, W]``; mean squared pixel change), divided by the largest, at least `floor`.
    `ObjectiveConfig.channel_weights` for a tokenizer whose decoder ignores some channels."""
    z = latents[:: max(1, len(latents) // clips)][:clips].float()
    std = torch.tensor(latent_stats(latents)[1], dtype=z.dtype)
    base = tokenizer.decode(z)
    g = torch.Generator().manual_seed(0)
    sens = []
    for c in range(z.shape[1]):
        d = torch.zeros_like(z)
        d[:, c] = 0.05 * std[c] * torch.randn(d[:, c].shape, generator=g)
        sens.append(float((tokenizer.decode(z + d) - base).pow(2).mean()))
    top = max(sens)
    return tuple(max(v / top, floor) for v in sens) if top > 0 else (1.0,) * z.shape[1]


def fit_preset(preset: str, latent_shape: tuple[int, ...], **overrides: Any) -> DiTConfig:
    """DiT preset `preset` for raw latents ``[C, T, H, W]`` (Video2World on), its position tables
    covering them (`max_size` rounded up to the patch), then `overrides` (any `DiTConfig` field;
    a `max_size` given there is used as it is)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown DiT preset '{preset}'; choose one of {', '.join(PRESETS)}")
    base = PRESETS[preset](latent_channels=latent_shape[0], video2world=True)
    need = _round_up(latent_shape[1:], overrides.get("patch_size", base.patch_size))
    fit = tuple(max(m, s) for m, s in zip(base.max_size, need, strict=True))
    return replace(base, **{"max_size": fit, **overrides})


def _round_up(size: tuple[int, ...], patch: tuple[int, int, int] = (1, 2, 2)) -> tuple[int, int, int]:
    return tuple(-(-s // p) * p for s, p in zip(size, patch, strict=True))


# --- `worldsmith train diffusion`: data -> latent cache -> DiT ---------------------------------------


def train_diffusion(
    tokenizer_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    preset: str = "tiny",
    frames: int = 17,
    size: tuple[int, int] = (64, 64),
    cache: str | Path | None = None,
    text_encoder: str = "minilm",
    overrides: list[str] = (),
    seed: int = 0,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """``worldsmith train diffusion``: returns the metrics (the world model is in ``out/model``).

    `data`: a `worldsmith curate` output folder (clips picked by `selection`), a folder of videos or
    video files (`worldsmith.data.open_data`). `overrides` are dotted ``train.*`` (TrainConfig),
    ``model.*`` (DiTConfig) or ``objective.*``.
    """
    fit_preset(preset, (16, 1, 1, 1))  # an unknown preset fails before the data is read
    out, data = Path(out), open_data(data, selection)  # bad data fails before a model loads
    groups = split_overrides(overrides, ("train", "model", "objective"))
    check_overrides(groups, {"train": TrainConfig, "model": DiTConfig, "objective": ObjectiveConfig})
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.discrete:
        raise WorldsmithError(
            f"--tokenizer '{tokenizer_dir}' is discrete; the diffusion model needs a continuous one"
        )
    enc = encode_clips(tokenizer, tokenizer_dir, data, cache or out / "latent_cache", frames=frames,
                       size=size)  # fmt: skip
    latents, captions = enc.values, enc.captions
    T = latents.shape[2]
    base = fit_preset(preset, tuple(latents.shape[1:]))
    dit_cfg = load(DiTConfig, overrides=groups["model"], base=base)
    obj_base = ObjectiveConfig(max_cond_frames=max(1, min(2, T - 1)))
    obj_cfg = load(ObjectiveConfig, overrides=groups["objective"], base=obj_base)
    prompts = captions if any(captions) else None
    _, metrics = train_world_model(
        latents, out, dit_cfg=dit_cfg, train={"seed": seed}, overrides=groups["train"], prompts=prompts,
        text_encoder=text_encoder, objective=obj_cfg, fps=enc.fps, tokenizer=tokenizer,
    )  # fmt: skip
    return metrics
