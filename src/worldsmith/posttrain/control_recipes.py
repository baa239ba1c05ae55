"""Control post-training and sim-to-real generation on the shared `Trainer`:

* `posttrain_control(init, data, out)`: ``worldsmith posttrain control``: a pretrained world model
  (``--init``) + twin episodes (in randomised appearances) and/or real videos -> ControlNet branches
  (`control.ControlDiT`, base frozen) in ``out/model``.
* `transfer(world, net, controls, weights)`: control videos -> generated clips (Text2World with
  controls; the evaluation's and ``worldsmith generate transfer``'s one path).

A control world-model directory is a base world-model directory plus ``control/`` (``config.json``
with the `ControlConfig`, ``model.safetensors`` with the branches) and ``posttrain.json``
``{"condition": "control"}``.
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
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.diffusion.pipeline import build_guard, encode_prompt
from worldsmith.diffusion.world import WorldModel
from worldsmith.posttrain.control import ControlConfig, ControlDiT, ControlObjective
from worldsmith.posttrain.control_data import ControlClips, concat, twin_control_clips, video_control_clips
from worldsmith.posttrain.controls import (
    CONTROL_TYPES,
    ControlError,
    check_controls,
    check_type,
    check_weights,
    control_latents,
)
from worldsmith.posttrain.lora import trainable_parameters
from worldsmith.posttrain.recipes import (
    clip_geometry,
    fit_posttrain,
    load_video_base,
    posttrain_train_config,
)
from worldsmith.posttrain.world import load_posttrained, save_posttrained
from worldsmith.runs import seeded_init
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop


@dataclass(frozen=True, kw_only=True)
class ControlPosttrainConfig:
    controls: tuple[str, ...] = ("depth", "seg", "edge")
    blocks: int = 2  # branch depth N (copies of the base's first N blocks)
    every_n: int = 1  # branch block i feeds base block i * every_n
    appearances: int = 4  # repaints of each twin clip (one control, many appearances)
    control_dropout: float = 0.2  # per control and sample: trains subsets and guidance
    stride: int | None = None  # between clip starts; default: clip length - 1
    videos: tuple[str, ...] = ()  # real videos (edge and blur controls only)
    zoom: bool = False  # crop twin windows to the square around their objects (`object_box`)
    one_control: bool = True  # each clip trains one of its controls (`ControlObjective`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "controls", ControlConfig(controls=self.controls).controls)
        check(self.appearances >= 1, "appearances", self.appearances, "must be >= 1")
        check(0 <= self.control_dropout <= 1, "control_dropout", self.control_dropout, "must be in [0, 1]")


def control_config_for(world: WorldModel, cfg: ControlPosttrainConfig) -> ControlConfig:
    tok = world.tokenizer.config
    return ControlConfig(
        controls=cfg.controls, blocks=cfg.blocks, every_n=cfg.every_n, cell=tok.spatial_compression,
        frames_per_latent=tok.temporal_compression,
    )  # fmt: skip


def clip_control_latents(cfg: ControlConfig, videos: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Control videos ``{name: [N, F, H, W, 3]}`` -> the model's inputs ``{name: [N, Cc, T, h, w]}``."""
    k, s = cfg.frames_per_latent, cfg.cell
    return {
        n: torch.stack([control_latents(v, n, k, s) for v in videos[n]]) for n in cfg.controls if n in videos
    }


def read_training_clips(data: str | Path | None, cfg: ControlPosttrainConfig, frames: int, size, seed: int):
    parts = []
    if data is not None:
        parts.append(twin_control_clips(data, frames=frames, size=size, appearances=cfg.appearances,
                                        stride=cfg.stride, seed=seed, zoom=cfg.zoom))  # fmt: skip
    if cfg.videos:
        parts.append(video_control_clips(list(cfg.videos), frames=frames, size=size, stride=cfg.stride))
    if not parts:
        raise ControlError("no training data: give --data (twin episodes) and/or --video FILE (real clips)")
    return concat(parts)


def control_dataset(world: WorldModel, cfg: ControlConfig, clips: ControlClips) -> list[dict[str, Any]]:
    latents = world.encode_frames(clips.frames)
    ctrl = clip_control_latents(cfg, clips.controls)
    present = {n: clips.present[:, CONTROL_TYPES.index(n)].float() for n in cfg.controls}
    if not any(bool(p.any()) for p in present.values()):
        raise ControlError(f"none of the clips has a {'/'.join(cfg.controls)} control; real videos give only "
                           "edge and blur, twins all four")  # fmt: skip
    return [
        {"latents": latents[i], "controls": {n: c[i] for n, c in ctrl.items()},
         "control_present": {n: p[i] for n, p in present.items()}}
        for i in range(len(clips))
    ]  # fmt: skip


def transfer_objective_config(world: WorldModel) -> ObjectiveConfig:
    """The base's noise family, Text2World only: the controls, not given frames, say what to draw."""
    spec = world.spec
    return ObjectiveConfig(family=spec.family, edm=spec.edm, flow=spec.flow, max_cond_frames=0)


def save_control_world(world: WorldModel, net: ControlDiT, path: str | Path) -> Path:
    meta = {"model": "control-branches", "format_version": FORMAT_VERSION, "config": to_dict(net.control_cfg)}
    return save_posttrained(world, net, path, condition="control", part=net.control, meta=meta, lora=None)


def load_control_world(path: str | Path, *, map_location: str = "cpu") -> tuple[WorldModel, ControlDiT]:
    def make(dit, folder: Path) -> ControlDiT:
        meta = read_json(folder / "control" / CONFIG_FILE)
        return ControlDiT(dit, from_dict(ControlConfig, meta.get("config", {})))

    return load_posttrained(path, "control", make, map_location=map_location)


def posttrain_control(
    init: str | Path,
    data: str | Path | None,
    out: str | Path,
    *,
    config: ControlPosttrainConfig | None = None,
    train: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    tokenizer: str | Path | None = None,
    resume: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Post-train ControlNet branches for `config.controls` on the world model at `init`."""
    cfg = config or ControlPosttrainConfig()
    out = Path(out)
    world, frames, size = load_video_base(init, tokenizer)
    probe = posttrain_train_config(train, overrides, 1)
    clips = read_training_clips(data, cfg, frames, size, probe.seed)
    console.print(f"{len(clips)} clips of {frames} frames with controls {', '.join(cfg.controls)}")
    ccfg = control_config_for(world, cfg)
    dataset = control_dataset(world, ccfg, clips)
    train_cfg = posttrain_train_config(train, overrides, len(clips))
    with seeded_init(train_cfg.seed):
        net = ControlDiT(world.dit, ccfg)
    n_train, n_total = trainable_parameters(net)
    objective = ControlObjective(transfer_objective_config(world), control_dropout=cfg.control_dropout,
                                 one_control=cfg.one_control)  # fmt: skip
    fit = fit_posttrain(net, objective, dataset, train_cfg, out, resume=resume, threads=threads)
    save_control_world(world, net, out / "model")
    metrics = {
        "init": str(init), "clips": len(clips), "frames_per_clip": frames, "controls": list(cfg.controls),
        "trainable_params": n_train, "total_params": n_total, **fit,
    }  # fmt: skip
    fs.write_json(out / "posttrain_metrics.json", metrics)
    return metrics


def weight_map(video: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """A grey weight video ``[F, H, W, 3]`` uint8 (255 = 1) -> a map ``[1, 1, T, H/s, W/s]`` in [0, 1]."""
    lat = control_latents(video, "depth", k, s)  # grey, [-1, 1], [s s, T, h, w]
    return ((lat.mean(0) + 1) / 2)[None, None]  # [1, 1, T, h, w]


@torch.no_grad()
def transfer(
    world: WorldModel,
    net: ControlDiT | None,
    controls: dict[str, torch.Tensor],
    weights: dict[str, Any] | None = None,
    *,
    text: tuple[torch.Tensor, torch.Tensor] | None = None,
    steps: int = 10,
    sampler: str = "heun",
    guidance: float = 1.0,
    seed: int = 0,
    batch: int = 1,
) -> torch.Tensor:
    """Clips ``[B, F, H, W, 3]`` uint8 generated from control videos ``{name: [B, F, H, W, 3]}`` of the
    model's clip size (`net` None or no controls: the base model, Text2World). `weights`: per control
    a float, ``[B]`` or a map ``[B|1, 1, T, h, w]`` (`weight_map`); `text`: (embeddings, mask);
    `batch`: how many clips to draw when there are no controls."""
    frames, size, _ = clip_geometry(world)
    B = len(next(iter(controls.values()))) if controls else batch
    for i in range(B if controls else 0):
        check_controls({n: v[i] for n, v in controls.items()}, frames, size)
    use = net is not None and bool(controls)
    cond_kw = {}
    if use:
        check_weights({n: 1.0 for n in controls} | dict(weights or {}), tuple(controls))  # a user's: > 0
        cond_kw = {
            "controls": clip_control_latents(net.control_cfg, controls),
            "control_weights": weights or {},
        }
    T, h, w = world.spec.latent_size
    model = net if use else world.dit
    x = sample_latents(
        model, (B, world.dit.cfg.latent_channels, T, h, w), steps=steps, sampler=sampler, guidance=guidance,
        noise_cfg=world.spec.noise, fps=world.spec.model_fps, generator=torch.Generator().manual_seed(seed),
        cond_kwargs=cond_kw, text=None if text is None else text[0].expand(B, -1, -1),
        text_mask=None if text is None or text[1] is None else text[1].expand(B, -1),
    )  # fmt: skip
    return world.decode_frames(x)  # [B, F, H, W, 3]


def parse_pairs(specs: list[str] | tuple[str, ...], option: str) -> dict[str, str]:
    """``["depth=d.mp4", ...]`` -> ``{"depth": "d.mp4"}`` (each control named once)."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not value:
            raise ControlError(f"{option} '{spec}' must be NAME=VALUE, e.g. {option} depth=depth.mp4")
        if name in out:
            raise ControlError(f"{option} {name} is given twice; give each control once")
        out[check_type(name, option)] = value
    return out


def _weight(name: str, value: str, frames: int, size, k: int, s: int):
    """`--weight NAME=VALUE`: a number, or a grey video (255 = 1) as a spatiotemporal map."""
    try:
        return float(value)
    except ValueError:
        pass
    if not Path(value).is_file():
        raise ControlError(
            f"--weight {name}={value}: not a number or a video file; give e.g. {name}=0.5 or {name}=map.mp4"
        )
    video = io.read(value).frames
    if len(video) < frames:
        raise ControlError(f"--weight {name}={value}: {len(video)} frames; the model generates {frames}")
    return weight_map(resize_center_crop(video[:frames], size), k, s)


def generate_transfer(
    ckpt: str | Path,
    controls: dict[str, str | Path],
    out: str | Path,
    *,
    weights: dict[str, str] | None = None,
    prompt: str = "",
    guard: str = "default",
    guard_policy: str | Path | None = None,
    **sample: Any,
) -> dict[str, Any]:
    """``worldsmith generate transfer``: control videos (``{type: file}``, one size and length; the
    first clip-length frames are used, resized to the model's size) + weights + prompt ->
    ``out/video.mp4``; the controls as the model saw them go to ``out/controls/<type>.mp4``. `sample`:
    `transfer`'s steps, sampler, guidance, seed."""
    guard_pipe = build_guard(guard, guard_policy)
    if guard_pipe is not None and prompt:
        guard_pipe.require_prompt(prompt)
    world, net = load_control_world(ckpt)
    missing = [n for n in controls if n not in net.control]
    if missing:
        raise ControlError(
            f"--control {missing[0]}: this model has branches for {', '.join(net.control)} only; "
            f"post-train one with --controls {','.join([*net.control, missing[0]])}"
        )
    videos = {n: io.read(p).frames for n, p in controls.items()}
    check_controls(videos, where="--control")
    frames, size, k = clip_geometry(world)
    have = len(next(iter(videos.values())))
    if have < frames:
        raise ControlError(
            f"--control: the controls have {have} frames; the model generates {frames}: give >= {frames}"
        )
    videos = {n: resize_center_crop(v[:frames], size) for n, v in videos.items()}
    s = net.control_cfg.cell
    w = {n: _weight(n, v, frames, size, k, s) for n, v in (weights or {}).items()}
    text = encode_prompt(world, prompt)
    videos_b = {n: v[None] for n, v in videos.items()}  # [1, F, H, W, 3]
    pred = transfer(world, net, videos_b, w, text=text if text[0] is not None else None, **sample)[0]
    out = Path(out)
    for n, v in videos.items():
        io.write(out / "controls" / f"{n}.mp4", v, fps=world.spec.fps)
    if guard_pipe is not None:
        guard_pipe.write_video(out / "video.mp4", pred, world.spec.fps)
    else:
        io.write(out / "video.mp4", pred, fps=world.spec.fps)
    used = {n: str(v) for n, v in (weights or {}).items()}
    return {"frames": frames, "controls": list(videos), "weights": used, "video": str(out / "video.mp4"),
            "guard": guard}  # fmt: skip
