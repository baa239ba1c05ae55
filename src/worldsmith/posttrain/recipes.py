"""Action post-training and prediction on the shared `Trainer`:

* `posttrain_action(init, data, out)`: ``worldsmith posttrain action``: a pretrained world model
  (``--init``) + robot episodes with actions -> an action-conditioned world model in ``out/model``,
  by full fine-tuning or LoRA (``lora_rank``).
* `predict_with_actions(world, net, given, actions)`: given frames + actions -> predicted video (the
  evaluation's and ``worldsmith generate action2world``'s one prediction path).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith import fs
from worldsmith.config import check, load
from worldsmith.console import console
from worldsmith.data.episodes import ActionClips, read_action_clips
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.diffusion.pipeline import build_guard
from worldsmith.diffusion.world import WorldModel
from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.posttrain.action import (
    ActionConfig,
    ActionDiT,
    ActionObjective,
    action_stats,
    check_actions,
)
from worldsmith.posttrain.ar_action import ActionGPT, ar_clip_frames, predict_ar_with_actions
from worldsmith.posttrain.lora import LoRAConfig, add_lora, trainable_parameters
from worldsmith.posttrain.world import load_action_world, load_base, save_action_world
from worldsmith.runs import seeded_init, torch_threads
from worldsmith.train import TrainConfig, Trainer
from worldsmith.train.metrics import read_metrics
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop


@dataclass(frozen=True, kw_only=True)
class ActionPosttrainConfig:
    lora_rank: int = 16  # 0 = full fine-tuning (base and new layers all train)
    lora_alpha: float | None = None
    action_dropout: float = 0.1  # p of classifier-free guidance on actions
    hidden_mult: float = 4.0  # action MLP width / D (Cosmos: 4)
    inject: str = "adaln"  # where actions enter the DiT (`ActionConfig.inject`)
    motion_weight: float = 0.0  # loss weight on latents that change (`action.motion_weight`); 0 = uniform
    stride: int | None = None  # between clip starts in an episode; default: clip length - 1
    # Clip geometry; default: the base's (`WorldSpec.latent_size`). A converted Cosmos base is set
    # up for 121 frames at 704x1280: post-train it on the robot's own clips with these.
    frames: int | None = None
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check(self.lora_rank >= 0, "lora_rank", self.lora_rank, "must be >= 0 (0 = full fine-tuning)")
        check(0 <= self.action_dropout <= 1, "action_dropout", self.action_dropout, "must be in [0, 1]")
        check(self.motion_weight >= 0, "motion_weight", self.motion_weight, "must be >= 0")
        check(self.hidden_mult > 0, "hidden_mult", self.hidden_mult, "must be positive (--action-hidden)")


def _tokenizer_of(world: WorldModel, init: Any):
    tok = world.tokenizer
    if tok is None or tok.discrete:
        raise CheckpointError(
            f"--init '{init}' has no continuous tokenizer/ to encode the robot videos; pass --tokenizer DIR"
        )
    return tok


def load_video_base(
    init: str | Path, tokenizer: str | Path | None
) -> tuple[WorldModel, int, tuple[int, int]]:
    """The base at `init` (`load_base`) with the continuous tokenizer that encodes the training videos
    (refused without one), and its clip length and (H, W): the start of every video recipe."""
    world = load_base(init, tokenizer=tokenizer)
    _tokenizer_of(world, init)
    frames, size, _ = clip_geometry(world)
    return world, frames, size


def clip_geometry(world: WorldModel) -> tuple[int, tuple[int, int], int]:
    """(frames per clip, (H, W) in pixels, frames per latent frame) of the base model's clips."""
    tok = world.tokenizer
    st, s = tok.config.temporal_compression, tok.config.spatial_compression
    T, h, w = world.spec.latent_size
    return 1 + st * (T - 1), (h * s, w * s), st


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)


def posttrain_train_config(
    train: dict[str, Any] | None, overrides: list[str] | tuple[str, ...], n_clips: int
) -> TrainConfig:
    """The post-training `TrainConfig`: these defaults, then `train`, then ``key=value`` overrides."""
    base = dict(
        steps=500, batch_size=min(8, n_clips), lr=1e-3, warmup_steps=20, log_every=25, tensorboard=False
    )
    return load(TrainConfig, overrides=overrides, base=TrainConfig(**{**base, **(train or {})}))


def condition_objective_config(world: WorldModel) -> ObjectiveConfig:
    """The base's noise family, one given latent frame (Video2World), no text-to-world samples."""
    spec = world.spec
    return ObjectiveConfig(
        family=spec.family, edm=spec.edm, flow=spec.flow, max_cond_frames=1, p_text2world=0.0
    )


def fit_posttrain(
    net: torch.nn.Module, objective, dataset: list, train_cfg: TrainConfig, out: Path, *, resume, threads
) -> dict[str, Any]:
    """Train `net` on the Trainer under ``out/train``, load its final weights, and return the run's
    metrics (peak memory, steps, seconds, first/last loss, checkpoint, model_dir = ``out/model``)."""
    trainer = Trainer(train_cfg, net, objective, dataset, out=out / "train")
    t0 = time.perf_counter()
    with torch_threads(threads):
        result = trainer.fit(resume=resume)
    seconds = time.perf_counter() - t0
    net.load_state_dict(trainer.full_state_dict())
    net.eval()
    losses = [r["loss"] for r in read_metrics(out / "train" / "metrics.jsonl") if "loss" in r]
    return {
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "steps": train_cfg.steps,
        "train_seconds": round(seconds, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "checkpoint": result.get("checkpoint"),
        "model_dir": str(out / "model"),
    }


def posttrain_action(
    init: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    config: ActionPosttrainConfig | None = None,
    train: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    tokenizer: str | Path | None = None,
    resume: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Post-train the world model at `init` to follow the actions of the episodes under `data`."""
    cfg = config or ActionPosttrainConfig()
    out = Path(out)
    world = load_base(init, tokenizer=tokenizer)
    tok = _tokenizer_of(world, init)
    if cfg.frames is not None or cfg.size is not None:
        st, s = tok.config.temporal_compression, tok.config.spatial_compression
        T, h, w = world.spec.latent_size
        if cfg.frames is not None:
            if (cfg.frames - 1) % st:
                raise WorldsmithError(f"--frames must be 1 + k*{st} for this tokenizer, got {cfg.frames}")
            T = 1 + (cfg.frames - 1) // st
        if cfg.size is not None:
            if cfg.size[0] % s or cfg.size[1] % s:
                raise WorldsmithError(f"--size must be a multiple of {s} for this tokenizer, got {cfg.size}")
            h, w = cfg.size[0] // s, cfg.size[1] // s
        world.spec = replace(world.spec, latent_size=(T, h, w))
    frames, size, k = clip_geometry(world)
    clips = read_action_clips(data, frames=frames, size=size, stride=cfg.stride)
    action_cfg = action_config(clips, k, cfg)
    latents = world.encode_frames(clips.frames)
    train_cfg = posttrain_train_config(train, overrides, len(clips))
    with seeded_init(train_cfg.seed):
        net = ActionDiT(world.dit, action_cfg)
        lora = LoRAConfig(rank=cfg.lora_rank, alpha=cfg.lora_alpha) if cfg.lora_rank else None
        if lora is not None:
            add_lora(net.base, lora)
    n_params = trainable_parameters(net)
    dataset = [{"latents": latents[i], "actions": clips.actions[i]} for i in range(len(clips))]
    objective = ActionObjective(
        condition_objective_config(world), action_dropout=cfg.action_dropout, motion_weight=cfg.motion_weight
    )
    fit = fit_posttrain(net, objective, dataset, train_cfg, out, resume=resume, threads=threads)
    save_action_world(world, net, out / "model", lora=lora)
    return write_action_metrics(out, init=init, clips=clips, frames=frames, cfg=cfg, params=n_params, fit=fit)


def action_config(clips: ActionClips, k: int, cfg: ActionPosttrainConfig) -> ActionConfig:
    """The action conditioning of these clips: dimension and normalisation read from the data."""
    mean, std = action_stats(clips.actions)
    frames = clips.frames.shape[1]
    console.print(
        f"{len(clips)} clips of {frames} frames, action dimension {clips.action_dim} (from the data)"
    )
    return ActionConfig(
        action_dim=clips.action_dim, frames_per_latent=k, hidden_mult=cfg.hidden_mult, action_mean=mean,
        action_std=std, inject=cfg.inject,
    )  # fmt: skip


def write_action_metrics(
    out: Path, *, init, clips: ActionClips, frames: int, cfg: ActionPosttrainConfig, params, fit: dict
) -> dict[str, Any]:
    """``out/posttrain_metrics.json`` of an action post-training run (returned too)."""
    n_train, n_total = params
    metrics = {
        "init": str(init),
        "clips": len(clips),
        "action_dim": clips.action_dim,
        "frames_per_clip": frames,
        "lora_rank": cfg.lora_rank,
        "inject": cfg.inject,
        "motion_weight": cfg.motion_weight,
        "hidden_mult": cfg.hidden_mult,
        "trainable_params": n_train,
        "total_params": n_total,
        "trainable_fraction": n_train / n_total,
        # params + gradients + two AdamW moments of the trainable ones (float32), the part LoRA shrinks
        "train_state_mb": (4 * n_total + 12 * n_train) / 2**20,
        **fit,
    }
    fs.write_json(out / "posttrain_metrics.json", metrics)
    return metrics


@torch.no_grad()
def sample_action_latents(
    world: WorldModel,
    net: ActionDiT | None,
    given: torch.Tensor,
    actions: torch.Tensor | None,
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """Predicted normalised latents ``[B, C, T, h, w]`` from the given first frames ``[B, 1, H, W, 3]``
    and the actions ``[B, >= F - 1, A]`` (`net` None or `actions` None: the base model alone)."""
    use = net is not None and actions is not None
    return sample_conditioned(
        world, net if use else None, given, {"actions": actions} if use else {},
        steps=steps, sampler=sampler, guidance=guidance, seed=seed,
    )  # fmt: skip


@torch.no_grad()
def sample_conditioned(
    world: WorldModel,
    net: torch.nn.Module | None,
    given: torch.Tensor,
    cond_kwargs: dict[str, Any],
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """Normalised latents ``[B, C, T, h, w]`` from the given first frames ``[B, 1, H, W, 3]`` by a
    conditioned network `net` with its `cond_kwargs` (`net` None: the base model, no condition)."""
    frames, size, _ = clip_geometry(world)
    if tuple(given.shape[2:4]) != size:
        raise WorldsmithError(f"given frames are {tuple(given.shape[2:4])}, the model works at {size}")
    cond = world.encode_frames(given[:, :1])  # [B, C, 1, h, w]
    B, C, _, h, w = cond.shape
    T = world.spec.latent_size[0]
    model = net if net is not None else world.dit
    cond_kw = cond_kwargs if net is not None else {}
    return sample_latents(
        model, (B, C, T, h, w), cond_latents=cond, n_cond=1, steps=steps, sampler=sampler, guidance=guidance,
        noise_cfg=world.spec.noise, fps=world.spec.model_fps, generator=torch.Generator().manual_seed(seed),
        cond_kwargs=cond_kw,
    )  # fmt: skip


@torch.no_grad()
def decode_latents(world: WorldModel, x: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """Normalised latents ``[B, C, T, h, w]`` -> uint8 clips ``[B, F, H, W, 3]`` (frame 0: `given`)."""
    video = world.decode_frames(x)  # [B, F, H, W, 3]
    video[:, :1] = given[:, :1]
    return video


def predict_with_actions(
    world: WorldModel, net: ActionDiT | None, given: torch.Tensor, actions: torch.Tensor | None, **sample: Any
) -> torch.Tensor:
    """Predicted clips ``[B, F, H, W, 3]`` uint8 from the given first frames ``[B, 1, H, W, 3]`` and
    the actions ``[B, >= F - 1, A]`` (`net` None or `actions` None: the base model alone); `sample`:
    `sample_action_latents`'s steps, sampler, guidance, seed."""
    return decode_latents(world, sample_action_latents(world, net, given, actions, **sample), given)


def read_actions_file(path: str | Path) -> torch.Tensor:
    """``[T, A]`` float32 actions from a ``.npy`` file (a plain array, never a pickle)."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise WorldsmithError(
            f"--actions '{path}' is not a readable .npy array ({err}); save one with np.save"
        ) from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise WorldsmithError(
            f"--actions '{path}' must hold a numeric [T, A] array, got {array.dtype} {array.shape}"
        )
    return torch.from_numpy(array.astype(np.float32))


def generate_action2world(
    ckpt: str | Path,
    video: str | Path,
    actions: str | Path,
    out: str | Path,
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
    guard: str = "default",
    guard_policy: str | Path | None = None,
) -> dict[str, Any]:
    """``worldsmith generate action2world``: the first frame of `video` + the actions in `actions`
    (``.npy``, ``[T, A]``) -> ``out/video.mp4`` (the predicted clip, first frame given)."""
    guard_pipe = build_guard(guard, guard_policy)
    acts = read_actions_file(actions)
    world, net = load_action_world(ckpt)
    ar = isinstance(net, ActionGPT)
    frames, size, _ = ar_clip_frames(world) if ar else clip_geometry(world)
    needed = frames - 1  # one action per frame after the first
    check_actions(acts[None], net.action_cfg.action_dim, needed, where=f"--actions '{actions}'")
    first = resize_center_crop(io.read(video).frames[:1], size)[None]  # [1, 1, H, W, 3]
    if ar:  # token by token, greedy: the AR family has no sampler steps nor guidance on actions
        if guidance != 1.0:
            raise WorldsmithError(f"--guidance {guidance:g}: '{ckpt}' is an AR world model, which has no "
                                  "guidance on actions; leave --guidance at 1")  # fmt: skip
        pred = predict_ar_with_actions(world, net, first, acts[None, :needed], seed=seed)[0]
    else:
        pred = predict_with_actions(
            world, net, first, acts[None, :needed], steps=steps, sampler=sampler, guidance=guidance, seed=seed
        )[0]
    out = Path(out)
    if guard_pipe is not None:  # the post-guard (video safety, face blur) sees the video before it is written
        guard_pipe.write_video(out / "video.mp4", pred, world.spec.fps)
    else:
        io.write(out / "video.mp4", pred, fps=world.spec.fps)
    return {"frames": frames, "actions_used": needed, "video": str(out / "video.mp4"), "guard": guard}
