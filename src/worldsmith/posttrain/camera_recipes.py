"""Camera post-training and prediction on the shared `Trainer`:

* `posttrain_camera(init, data, out)`: ``worldsmith posttrain camera``: a pretrained world model +
  twin episodes filmed by moving cameras (exact K and per-frame world-to-camera in ``states.npz``)
  -> a camera-conditioned world model in ``out/model`` (full fine-tuning or LoRA).
* `predict_with_camera(world, net, given, K, w2c)`: first frame + camera path -> predicted clip.
* `generate_camera2world(ckpt, video, camera, out)`: ``worldsmith generate camera2world``.

A camera world-model directory is a base world-model directory plus ``camera/`` (the zero-initialised
input layer, ``model.safetensors``), ``adapter/`` under LoRA, and ``posttrain.json``
``{"condition": "camera"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith import fs
from worldsmith.config import check
from worldsmith.console import console
from worldsmith.data.episodes import episode_folders
from worldsmith.diffusion.pipeline import build_guard
from worldsmith.diffusion.world import WorldModel
from worldsmith.posttrain.camera import CameraDiT, CameraError, CameraObjective, camera_rays, check_path
from worldsmith.posttrain.camera_path import read_camera_path
from worldsmith.posttrain.lora import (
    LoRAConfig,
    add_lora,
    trainable_parameters,
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
from worldsmith.posttrain.world import load_posttrained, save_posttrained
from worldsmith.runs import seeded_init
from worldsmith.sim.dataset import load_episode
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop


@dataclass(frozen=True, kw_only=True)
class CameraPosttrainConfig:
    lora_rank: int = 16  # 0 = full fine-tuning
    lora_alpha: float | None = None
    camera_dropout: float = 0.1  # p of classifier-free guidance on the camera
    stride: int | None = None  # between clip starts in an episode; default: clip length - 1

    def __post_init__(self) -> None:
        check(self.lora_rank >= 0, "lora_rank", self.lora_rank, "must be >= 0 (0 = full fine-tuning)")
        check(0 <= self.camera_dropout <= 1, "camera_dropout", self.camera_dropout, "must be in [0, 1]")


@dataclass
class CameraClips:
    frames: torch.Tensor  # [N, F, H, W, 3] uint8
    K: torch.Tensor  # [N, F, 3, 3] float64 (for the resized frames)
    w2c: torch.Tensor  # [N, F, 4, 4] float64
    sources: list[tuple[str, int]]

    def __len__(self) -> int:
        return len(self.frames)


def resize_intrinsics(K: torch.Tensor, src: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """K ``[..., 3, 3]`` of ``src`` (H, W) frames -> K of `resize_center_crop`(frames, `size`)."""
    (h, w), (ch, cw) = src, size
    if (h, w) == (ch, cw):
        return K.clone()
    s = max(ch / h, cw / w)
    nh, nw = max(ch, int(np.ceil(h * s - 1e-6))), max(cw, int(np.ceil(w * s - 1e-6)))
    sx, sy, top, left = nw / w, nh / h, (nh - ch) // 2, (nw - cw) // 2
    A = torch.tensor(  # pixel centres at integers: u' = sx (u + 1/2) - 1/2 - left
        [[sx, 0, (sx - 1) / 2 - left], [0, sy, (sy - 1) / 2 - top], [0, 0, 1]], dtype=K.dtype
    )
    return A @ K


def read_camera_clips(
    root: str | Path, *, frames: int, size: tuple[int, int], stride: int | None = None
) -> CameraClips:
    """Every `frames`-frame window (every `stride` frames) of camera 0 of every episode under `root`."""

    stride = stride or max(1, frames - 1)
    out_f, out_k, out_e, sources = [], [], [], []
    for folder in episode_folders(root):
        ep = load_episode(folder)
        if "K" not in ep.states or "world_to_cam" not in ep.states:
            raise CameraError(
                f"'{folder}/states.npz' has no K / world_to_cam; render it with `worldsmith sim`"
            )
        video = torch.from_numpy(ep.frames[0])  # [T, H, W, 3]
        K = resize_intrinsics(torch.from_numpy(ep.states["K"][0]), tuple(video.shape[1:3]), size)
        E = torch.from_numpy(ep.states["world_to_cam"][0])
        for start in range(0, len(video) - frames + 1, stride):
            out_f.append(resize_center_crop(video[start : start + frames], size))
            out_k.append(K[start : start + frames])
            out_e.append(E[start : start + frames])
            sources.append((str(folder), start))
    if not out_f:
        raise CameraError(
            f"no episode under '{root}' has {frames} frames; render longer ones or use another base"
        )
    return CameraClips(torch.stack(out_f), torch.stack(out_k), torch.stack(out_e), sources)


def rays_for(world: WorldModel, K: torch.Tensor, w2c: torch.Tensor) -> torch.Tensor:
    """Cameras ``[B, >= F, ...]`` -> Plücker rays ``[B, 6, T, h, w]`` at the world model's latent size."""
    _, size, k = clip_geometry(world)
    T, h, _ = world.spec.latent_size
    return camera_rays(K, w2c, T, k, size, size[0] // h)


def save_camera_world(
    world: WorldModel, net: CameraDiT, path: str | Path, *, lora: LoRAConfig | None
) -> Path:
    return save_posttrained(world, net, path, condition="camera", part=net.camera, meta=None, lora=lora)


def load_camera_world(path: str | Path, *, map_location: str = "cpu") -> tuple[WorldModel, CameraDiT]:
    return load_posttrained(path, "camera", lambda dit, _: CameraDiT(dit), map_location=map_location)


def posttrain_camera(
    init: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    config: CameraPosttrainConfig | None = None,
    train: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    tokenizer: str | Path | None = None,
    resume: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Post-train the world model at `init` to follow the cameras of the episodes under `data`."""
    cfg = config or CameraPosttrainConfig()
    out = Path(out)
    world, frames, size = load_video_base(init, tokenizer)
    clips = read_camera_clips(data, frames=frames, size=size, stride=cfg.stride)
    console.print(f"{len(clips)} clips of {frames} frames with their cameras")
    latents = world.encode_frames(clips.frames)
    rays = rays_for(world, clips.K, clips.w2c)  # [N, 6, T, h, w]
    train_cfg = posttrain_train_config(train, overrides, len(clips))
    with seeded_init(train_cfg.seed):
        net = CameraDiT(world.dit)
        lora = LoRAConfig(rank=cfg.lora_rank, alpha=cfg.lora_alpha) if cfg.lora_rank else None
        if lora is not None:
            add_lora(net.base, lora)
    n_train, n_total = trainable_parameters(net)
    dataset = [{"latents": latents[i], "plucker": rays[i]} for i in range(len(clips))]
    objective = CameraObjective(condition_objective_config(world), camera_dropout=cfg.camera_dropout)
    fit = fit_posttrain(net, objective, dataset, train_cfg, out, resume=resume, threads=threads)
    save_camera_world(world, net, out / "model", lora=lora)
    metrics = {
        "init": str(init),
        "clips": len(clips),
        "frames_per_clip": frames,
        "lora_rank": cfg.lora_rank,
        "trainable_params": n_train,
        "total_params": n_total,
        **fit,
    }
    fs.write_json(out / "posttrain_metrics.json", metrics)
    return metrics


@torch.no_grad()
def predict_with_camera(
    world: WorldModel,
    net: CameraDiT | None,
    given: torch.Tensor,
    K: torch.Tensor | None,
    w2c: torch.Tensor | None,
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """Predicted clips ``[B, F, H, W, 3]`` uint8 from first frames ``[B, 1, H, W, 3]`` and cameras
    ``K [B, F, 3, 3]``, ``w2c [B, F, 4, 4]`` (`net` or the cameras None: the base model alone)."""
    use = net is not None and K is not None and w2c is not None
    x = sample_conditioned(
        world, net if use else None, given, {"plucker": rays_for(world, K, w2c)} if use else {},
        steps=steps, sampler=sampler, guidance=guidance, seed=seed,
    )  # fmt: skip
    return decode_latents(world, x, given)


def generate_camera2world(
    ckpt: str | Path,
    video: str | Path,
    camera: str | Path,
    out: str | Path,
    *,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
    guard: str = "default",
    guard_policy: str | Path | None = None,
) -> dict[str, Any]:
    """``worldsmith generate camera2world``: the first frame of `video` + the camera path `camera`
    (path.json or a COLMAP text export) -> ``out/video.mp4``."""
    guard_pipe = build_guard(guard, guard_policy)
    path = read_camera_path(camera)
    world, net = load_camera_world(ckpt)
    frames, size, _ = clip_geometry(world)
    src = io.read(video).frames[:1]  # [1, H, W, 3]
    vsize = tuple(src.shape[1:3])
    where = f"--camera '{camera}'"
    if path.size is not None and path.size != vsize:
        raise CameraError(
            f"{where}: intrinsics are for {path.size[1]}x{path.size[0]} images but --video '{video}' is "
            f"{vsize[1]}x{vsize[0]}; give K for the video's size (or the video the path was made for)"
        )
    check_path(path.K, path.w2c, frames, vsize, where)
    K = resize_intrinsics(path.K[:frames], vsize, size)
    first = resize_center_crop(src, size)
    pred = predict_with_camera(
        world, net, first[None], K[None], path.w2c[None, :frames], steps=steps, sampler=sampler,
        guidance=guidance, seed=seed,
    )[0]  # fmt: skip
    out = Path(out)
    if guard_pipe is not None:
        guard_pipe.write_video(out / "video.mp4", pred, world.spec.fps)
    else:
        io.write(out / "video.mp4", pred, fps=world.spec.fps)
    return {"frames": frames, "poses_used": frames, "video": str(out / "video.mp4"), "guard": guard}
