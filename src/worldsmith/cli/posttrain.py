"""`worldsmith posttrain`: teach a pretrained world model a new condition (robot actions, cameras,
controls), fully or with LoRA; `merge` folds LoRA adapters into the DiT for export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from worldsmith.cli.common import Out, Seed, Sets, TrainSteps, parse_size, run_command, train_sets
from worldsmith.console import console
from worldsmith.errors import ConfigError
from worldsmith.posttrain.ar_recipes import is_ar_world, posttrain_ar_action
from worldsmith.posttrain.camera_recipes import CameraPosttrainConfig, posttrain_camera
from worldsmith.posttrain.control_recipes import ControlPosttrainConfig, posttrain_control
from worldsmith.posttrain.controls import parse_controls
from worldsmith.posttrain.multiview_recipes import MultiViewPosttrainConfig, posttrain_multiview
from worldsmith.posttrain.recipes import ActionPosttrainConfig, posttrain_action
from worldsmith.posttrain.world import merge_export

app = typer.Typer(help="Post-train a pretrained world model on new conditions.", no_args_is_help=True)

Init = Annotated[Path, typer.Option("--init", help="Base world-model dir (ours, or a converted Cosmos-1.0).")]
LoraRank = Annotated[int, typer.Option("--lora-rank", help="LoRA rank; 0 = full fine-tuning.")]
Tokenizer = Annotated[Path | None, typer.Option("--tokenizer", help="Tokenizer dir, if --init has none.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue OUT/train's latest checkpoint.")]


def run_posttrain(out: Path, command: str, fn: Callable[..., dict[str, Any]], *, init: Path,
                  data: Path | None, config: Any, args: dict[str, Any], seed: int, override: list[str] | None,
                  steps: int | None, tokenizer: Path | None, resume: bool) -> None:  # fmt: skip
    """One post-training command: ``fn(init, data, out, config=, train=, overrides=, tokenizer=, resume=)``
    inside the run directory, with the `train.` overrides checked and recorded (every `posttrain` recipe
    has this signature, so a new condition is one recipe and one command)."""
    sets = _train_sets(train_sets(override, steps))
    record = {"init": init, "data": data, **args, "set": sets}
    keys = [s.removeprefix("train.") for s in sets]  # the recipes take TrainConfig keys
    run_command(out, f"posttrain {command}", record, seed, lambda: fn(
        init, data, out, config=config, train={"seed": seed}, overrides=keys, tokenizer=tokenizer,
        resume=resume,
    ))  # fmt: skip
    console.print(f"wrote {out / 'model'}")


@app.command("action")
def action(
    init: Init,
    data: Annotated[
        Path, typer.Option("--data", help="Robot episodes with actions (worldsmith sim render).")
    ],
    out: Out,
    lora_rank: LoraRank = 16,
    action_dropout: Annotated[
        float, typer.Option("--action-dropout", help="P(actions dropped) in training, for guidance.")
    ] = 0.1,
    inject: Annotated[
        str, typer.Option("--inject", help="Diffusion: where actions enter: adaln (Cosmos), tokens, or both.")
    ] = "adaln",
    motion_weight: Annotated[
        float,
        typer.Option("--motion-weight", help="Diffusion: loss weight on changing latents (0 = uniform)."),
    ] = 0.0,
    action_hidden: Annotated[
        float, typer.Option("--action-hidden", help="Diffusion: action MLP width / DiT width (Cosmos: 4).")
    ] = 4.0,
    tokenizer: Tokenizer = None,
    frames: Annotated[
        int | None, typer.Option("--frames", help="Frames per clip (default: the base's).")
    ] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="HxW of the clips (default: the base's).")
    ] = None,
    resume: Resume = False,
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Make a pretrained world model follow a robot's actions (action dimension read from --data); an AR
    --init (train ar's OUT/model) gets cross-attention to the actions, a diffusion one action MLPs."""
    family, recipe = ("ar", posttrain_ar_action) if is_ar_world(init) else ("diffusion", posttrain_action)
    cfg = ActionPosttrainConfig(
        lora_rank=lora_rank,
        action_dropout=action_dropout,
        inject=inject,
        motion_weight=motion_weight,
        hidden_mult=action_hidden,
        frames=frames,
        size=parse_size(size) if size else None,
    )
    args = dict(family=family, lora_rank=lora_rank, action_dropout=action_dropout, inject=inject,
                motion_weight=motion_weight, action_hidden=action_hidden, frames=frames,
                size=size)  # fmt: skip
    run_posttrain(out, "action", recipe, init=init, data=data, config=cfg, args=args, seed=seed,
                  override=override, steps=steps, tokenizer=tokenizer, resume=resume)  # fmt: skip


def _train_sets(override: list[str] | None) -> list[str]:
    sets = list(override or [])
    bad = [s for s in sets if not s.startswith("train.")]
    if bad:
        raise ConfigError(
            f"override '{bad[0]}' must start with train. (TrainConfig keys, e.g. train.steps=200)"
        )
    return sets


@app.command("camera")
def camera(
    init: Init,
    data: Annotated[
        Path, typer.Option("--data", help="Twin episodes filmed by moving cameras (worldsmith sim).")
    ],
    out: Out,
    lora_rank: LoraRank = 16,
    camera_dropout: Annotated[
        float, typer.Option("--camera-dropout", help="P(camera dropped) in training, for guidance.")
    ] = 0.1,
    tokenizer: Tokenizer = None,
    resume: Resume = False,
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Make a pretrained world model follow a requested camera path (Plücker rays on its input)."""
    cfg = CameraPosttrainConfig(lora_rank=lora_rank, camera_dropout=camera_dropout)
    args = dict(lora_rank=lora_rank, camera_dropout=camera_dropout)
    run_posttrain(out, "camera", posttrain_camera, init=init, data=data, config=cfg, args=args, seed=seed,
                  override=override, steps=steps, tokenizer=tokenizer, resume=resume)  # fmt: skip


@app.command("control")
def control(
    init: Init,
    out: Out,
    controls: Annotated[
        str, typer.Option("--controls", help="Comma-separated: edge, blur, depth, seg (one branch each).")
    ] = "depth,seg,edge",
    data: Annotated[
        Path | None, typer.Option("--data", help="Twin episodes with depth and masks (worldsmith sim).")
    ] = None,
    video: Annotated[
        list[Path] | None, typer.Option("--video", help="Real video for edge/blur controls (repeatable).")
    ] = None,
    blocks: Annotated[int, typer.Option("--blocks", help="Blocks per branch (copies of the first N).")] = 2,
    every_n: Annotated[int, typer.Option("--every-n", help="Branch block i feeds base block i*N.")] = 1,
    appearances: Annotated[
        int, typer.Option("--appearances", help="Repaints of each twin clip (one control, many looks).")
    ] = 4,
    control_dropout: Annotated[
        float, typer.Option("--control-dropout", help="P(a control dropped) in training, for guidance.")
    ] = 0.2,
    zoom: Annotated[
        bool, typer.Option("--zoom", help="Crop twin clips to the square around the objects.")
    ] = False,
    one_control: Annotated[
        bool, typer.Option("--one-control/--subsets", help="Each clip trains one control, or every subset.")
    ] = True,
    tokenizer: Tokenizer = None,
    resume: Resume = False,
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Teach a frozen world model to follow depth, segmentation, edge and blur videos (ControlNet)."""
    names = parse_controls(controls)
    videos = tuple(str(v) for v in video or ())
    cfg = ControlPosttrainConfig(controls=names, blocks=blocks, every_n=every_n, appearances=appearances,
                                 control_dropout=control_dropout, videos=videos, zoom=zoom,
                                 one_control=one_control)  # fmt: skip
    args = dict(controls=list(names), video=list(videos), blocks=blocks, every_n=every_n,
                appearances=appearances, control_dropout=control_dropout, zoom=zoom,
                one_control=one_control)  # fmt: skip
    run_posttrain(out, "control", posttrain_control, init=init, data=data, config=cfg, args=args, seed=seed,
                  override=override, steps=steps, tokenizer=tokenizer, resume=resume)  # fmt: skip


@app.command("multiview")
def multiview(
    init: Init,
    data: Annotated[
        Path, typer.Option("--data", help="Rig episodes (worldsmith sim run drive --cameras 6).")
    ],
    out: Out,
    cameras: Annotated[
        str | None, typer.Option("--cameras", help="Comma-separated rig cameras (default: all).")
    ] = None,
    lora_rank: LoraRank = 0,
    trajectory_points: Annotated[
        int | None,
        typer.Option("--trajectory-points", help="Ego points every 0.1 s (default: cover a clip)."),
    ] = None,
    trajectory_dropout: Annotated[
        float, typer.Option("--trajectory-dropout", help="P(trajectory dropped) in training.")
    ] = 0.1,
    tokenizer: Tokenizer = None,
    resume: Resume = False,
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Make a single-view world model generate a camera rig jointly, following the ego trajectory."""
    cams = tuple(c.strip() for c in cameras.split(",")) if cameras else None
    cfg = MultiViewPosttrainConfig(
        cameras=cams,
        lora_rank=lora_rank,
        trajectory_points=trajectory_points,
        trajectory_dropout=trajectory_dropout,
    )
    args = dict(cameras=cameras, lora_rank=lora_rank, trajectory_points=trajectory_points,
                trajectory_dropout=trajectory_dropout)  # fmt: skip
    run_posttrain(out, "multiview", posttrain_multiview, init=init, data=data, config=cfg, args=args,
                  seed=seed, override=override, steps=steps, tokenizer=tokenizer, resume=resume)  # fmt: skip


@app.command("merge")
def merge(
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Post-trained model dir with LoRA adapters.")],
    out: Out,
    seed: Seed = 0,
) -> None:
    """Fold the LoRA adapters into the DiT (a plain post-trained model for export)."""
    run_command(
        out,
        "posttrain merge",
        {"ckpt": ckpt},
        seed,
        lambda: {"model": str(merge_export(ckpt, out / "model"))},
    )
    console.print(f"wrote {out / 'model'}")
