"""Multi-view post-training and generation on the shared `Trainer`:

* `posttrain_multiview(init, data, out)`: ``worldsmith posttrain multiview``: a single-view pretrained
  world model + drive-twin rig episodes (six cameras, ego trajectory) -> a multi-view model that
  generates the rig jointly and follows the ego trajectory, in ``out/model`` (full or LoRA).
* `predict_rig(world, net, given, trajectory)`: first frames of every camera (+ trajectory) -> the
  rig's clips; `predict_independent(world, given)`: the baseline, each view alone by the base.
* `generate_multiview(ckpt, rig, trajectory, out)`: ``worldsmith generate multiview``: one video per
  camera and a tiled preview.

A multi-view world-model directory is a base world-model directory plus ``multiview/``
(``config.json``: `MultiViewConfig`; ``model.safetensors``: view embedding, trajectory embedder),
``adapter/`` under LoRA, and ``posttrain.json`` ``{"condition": "multiview"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldsmith import fs
from worldsmith.checkpoint import CONFIG_FILE, FORMAT_VERSION, read_json
from worldsmith.config import check, from_dict, to_dict
from worldsmith.console import console
from worldsmith.data.episodes import episode_folders
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.pipeline import build_guard
from worldsmith.diffusion.world import WorldModel
from worldsmith.posttrain.lora import LoRAConfig, add_lora, trainable_parameters
from worldsmith.posttrain.multiview import (
    MultiViewConfig,
    MultiViewDiT,
    MultiViewObjective,
    RigError,
    tile_views,
    trajectory_points_for,
    untile_views,
)
from worldsmith.posttrain.recipes import (
    clip_geometry,
    condition_objective_config,
    decode_latents,
    fit_posttrain,
    load_video_base,
    posttrain_train_config,
    sample_conditioned,
)
from worldsmith.posttrain.rig_data import read_rig_clips, read_start_rig, read_trajectory
from worldsmith.posttrain.world import load_posttrained, save_posttrained
from worldsmith.runs import seeded_init
from worldsmith.video import io


@dataclass(frozen=True, kw_only=True)
class MultiViewPosttrainConfig:
    cameras: tuple[str, ...] | None = None  # None: every camera of the episodes, in their order
    lora_rank: int = 0  # 0 = full fine-tuning (the views must learn to talk: attention changes most)
    lora_alpha: float | None = None
    trajectory_points: int | None = None  # None: enough points every dt to cover a clip
    trajectory_dt: float = 0.1
    trajectory_dropout: float = 0.1  # p of classifier-free guidance on the trajectory
    stride: int | None = None  # between clip starts in an episode; default: clip length - 1

    def __post_init__(self) -> None:
        check(self.lora_rank >= 0, "lora_rank", self.lora_rank, "must be >= 0 (0 = full fine-tuning)")
        check(0 <= self.trajectory_dropout <= 1, "trajectory_dropout", self.trajectory_dropout, "in [0, 1]")


def save_multiview_world(
    world: WorldModel, net: MultiViewDiT, path: str | Path, *, lora: LoRAConfig | None
) -> Path:
    meta = {"model": "multiview", "format_version": FORMAT_VERSION, "config": to_dict(net.mv_cfg)}
    return save_posttrained(world, net, path, condition="multiview", part=net.multiview, meta=meta, lora=lora)


def load_multiview_world(path: str | Path, *, map_location: str = "cpu") -> tuple[WorldModel, MultiViewDiT]:
    def make(dit, folder: Path) -> MultiViewDiT:
        meta = read_json(folder / "multiview" / CONFIG_FILE)
        return MultiViewDiT(dit, from_dict(MultiViewConfig, meta.get("config", {})))

    return load_posttrained(path, "multiview", make, map_location=map_location)


def encode_rigs(world: WorldModel, frames: torch.Tensor) -> torch.Tensor:
    """uint8 rigs ``[N, V, F, H, W, 3]`` -> tiled latents ``[N, C, T, h, V w]``."""
    N, V = frames.shape[:2]
    lat = world.encode_frames(frames.flatten(0, 1))  # [N V, C, T, h, w]
    return tile_views(lat.view(N, V, *lat.shape[1:]))


def posttrain_multiview(
    init: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    config: MultiViewPosttrainConfig | None = None,
    train: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    tokenizer: str | Path | None = None,
    resume: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Post-train the single-view world model at `init` into a multi-view one on the rigs under `data`."""
    cfg = config or MultiViewPosttrainConfig()
    out = Path(out)
    world, frames, size = load_video_base(init, tokenizer)
    fps = float(read_json(episode_folders(data)[0] / "meta.json")["fps"])  # the rigs' clock
    points = cfg.trajectory_points or trajectory_points_for(frames, fps, cfg.trajectory_dt)
    clips = read_rig_clips(
        data,
        frames=frames,
        size=size,
        points=points,
        dt=cfg.trajectory_dt,
        cameras=cfg.cameras,
        stride=cfg.stride,
    )
    console.print(
        f"{len(clips)} rigs of {len(clips.cameras)} cameras x {frames} frames, {points} trajectory points"
    )
    latents = encode_rigs(world, clips.frames)  # [N, C, T, h, V w]
    scale = float(clips.trajectory.abs().amax().clamp_min(1.0))
    mv_cfg = MultiViewConfig(
        cameras=clips.cameras,
        trajectory_points=points,
        trajectory_dt=cfg.trajectory_dt,
        trajectory_scale=scale,
    )
    train_cfg = posttrain_train_config(train, overrides, len(clips))
    with seeded_init(train_cfg.seed):
        net = MultiViewDiT(world.dit, mv_cfg)
        lora = LoRAConfig(rank=cfg.lora_rank, alpha=cfg.lora_alpha) if cfg.lora_rank else None
        if lora is not None:
            add_lora(net.base, lora)
    n_train, n_total = trainable_parameters(net)
    dataset = [{"latents": latents[i], "trajectory": clips.trajectory[i]} for i in range(len(clips))]
    objective = MultiViewObjective(
        condition_objective_config(world), trajectory_dropout=cfg.trajectory_dropout
    )
    fit = fit_posttrain(net, objective, dataset, train_cfg, out, resume=resume, threads=threads)
    save_multiview_world(world, net, out / "model", lora=lora)
    metrics = {
        "init": str(init),
        "rigs": len(clips),
        "cameras": list(clips.cameras),
        "frames_per_clip": frames,
        "trajectory_points": points,
        "lora_rank": cfg.lora_rank,
        "trainable_params": n_train,
        "total_params": n_total,
        **fit,
    }
    fs.write_json(out / "posttrain_metrics.json", metrics)
    return metrics


@torch.no_grad()
def predict_rig(
    world: WorldModel,
    net: MultiViewDiT,
    given: torch.Tensor,
    trajectory: torch.Tensor | None,
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """Rig clips ``[B, V, F, H, W, 3]`` uint8 from every camera's first frame ``[B, V, 1, H, W, 3]``
    and the ego trajectory ``[B, N, 3]`` (None: the same model without it)."""
    _, size, _ = clip_geometry(world)
    B, V = given.shape[:2]
    if net.mv_cfg.views != V or tuple(given.shape[3:5]) != size:
        raise RigError(
            f"given rig {tuple(given.shape)} does not fit a model of {net.mv_cfg.views} views at {size}"
        )
    cond = encode_rigs(world, given[:, :, :1])  # [B, C, 1, h, V w]
    shape = (B, cond.shape[1], world.spec.latent_size[0], *cond.shape[3:])  # [B, C, T, h, V w]
    x = sample_latents(
        net, shape, cond_latents=cond, n_cond=1, steps=steps, sampler=sampler,
        guidance=guidance, noise_cfg=world.spec.noise, fps=world.spec.model_fps,
        generator=torch.Generator().manual_seed(seed),
        cond_kwargs={} if trajectory is None else {"trajectory": trajectory},
    )  # fmt: skip
    views = untile_views(x, V).flatten(0, 1)  # [B V, C, T, h, w]
    return decode_latents(world, views, given.flatten(0, 1)).view(B, V, -1, *given.shape[3:])


@torch.no_grad()
def predict_independent(world: WorldModel, given: torch.Tensor, **sample: Any) -> torch.Tensor:
    """The baseline: every camera's clip generated alone by the single-view base -> ``[B, V, F, H, W, 3]``."""
    B, V = given.shape[:2]
    flat = given.flatten(0, 1)  # [B V, 1, H, W, 3]
    x = sample_conditioned(world, None, flat, {}, **sample)
    return decode_latents(world, x, flat).view(B, V, -1, *given.shape[3:])


def tiled_preview(rig: torch.Tensor, columns: int = 3) -> torch.Tensor:
    """Clips of one rig ``[V, F, H, W, 3]`` -> one video ``[F, rows H, columns W, 3]`` (black padding)."""
    V, F, H, W, _ = rig.shape
    rows = -(-V // columns)
    pad = rig.new_zeros(rows * columns - V, F, H, W, 3)
    grid = torch.cat([rig, pad]).view(rows, columns, F, H, W, 3)
    return grid.permute(2, 0, 3, 1, 4, 5).reshape(F, rows * H, columns * W, 3)


def generate_multiview(
    ckpt: str | Path,
    rig: str | Path,
    trajectory: str | Path | None,
    out: str | Path,
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
    guard: str = "default",
    guard_policy: str | Path | None = None,
) -> dict[str, Any]:
    """``worldsmith generate multiview``: the first frame of every camera of `rig` + the ego
    `trajectory` file -> ``out/<camera>.mp4`` per camera and ``out/preview.mp4`` (views tiled)."""
    guard_pipe = build_guard(guard, guard_policy)
    world, net = load_multiview_world(ckpt)
    cfg = net.mv_cfg
    _, size, _ = clip_geometry(world)
    given = read_start_rig(rig, cfg.cameras, size)  # [V, 1, H, W, 3]
    traj = None
    if trajectory is not None and cfg.trajectory_points:
        traj = read_trajectory(trajectory, cfg.trajectory_points, cfg.trajectory_dt)[None]
    clips = predict_rig(
        world, net, given[None], traj, steps=steps, sampler=sampler, guidance=guidance, seed=seed
    )[0]
    out = Path(out)
    write = guard_pipe.write_video if guard_pipe is not None else (lambda p, f, fps: io.write(p, f, fps=fps))
    videos = {}
    for name, clip in zip(cfg.cameras, clips, strict=True):
        videos[name] = str(write(out / f"{name}.mp4", clip, world.spec.fps))
    write(out / "preview.mp4", tiled_preview(clips), world.spec.fps)
    return {"cameras": list(cfg.cameras), "frames": clips.shape[1], "trajectory": traj is not None,
            "videos": videos, "preview": str(out / "preview.mp4"), "guard": guard}  # fmt: skip
