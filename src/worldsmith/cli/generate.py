"""`worldsmith generate`: text2world, video2world (diffusion), ar-video2world (autoregressive), and the
post-trained action2world, camera2world, transfer (from control videos) and multiview."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.autoregressive.pipeline import run_ar_generate
from worldsmith.cli.common import CondFrames, Guard, GuardPolicyOpt, Out, Seed, run_command
from worldsmith.console import console, progress
from worldsmith.diffusion.pipeline import run_generate
from worldsmith.posttrain.camera_recipes import generate_camera2world
from worldsmith.posttrain.control_recipes import generate_transfer, parse_pairs
from worldsmith.posttrain.multiview_recipes import generate_multiview
from worldsmith.posttrain.recipes import generate_action2world

app = typer.Typer(help="Generate video with a world model.", no_args_is_help=True)

Ckpt = Annotated[Path, typer.Option("--ckpt", help="World-model dir (train diffusion writes OUT/model).")]
Prompt = Annotated[str, typer.Option("--prompt", help="What the video should show.")]
Steps = Annotated[int, typer.Option("--steps", help="Sampler steps.")]
Sampler = Annotated[str, typer.Option("--sampler", help="euler | heun | dpmpp_2m | flow_euler | unipc.")]
Guidance = Annotated[float, typer.Option("--guidance", help="CFG scale (1 = off; Cosmos' w=7 is 8).")]
Tokenizer = Annotated[
    Path | None,
    typer.Option("--tokenizer", help="Continuous tokenizer dir (a world model without tokenizer/)."),
]


def _generate(out: Path, seed: int, command: str, **kw) -> None:
    ckpt = kw.pop("ckpt")

    def work() -> dict:
        with progress() as bar:
            task = bar.add_task("sample", total=kw["steps"])

            def step(done: int, _: int) -> None:
                bar.update(task, completed=done)

            return run_generate(ckpt, out, seed=seed, on_step=step, **kw)

    run_command(out, command, {"ckpt": ckpt, **kw}, seed, work)
    console.print(f"wrote {out / 'video.mp4'}")


@app.command("text2world")
def text2world(
    prompt: Prompt,
    ckpt: Ckpt,
    out: Out,
    seed: Seed = 0,
    steps: Steps = 35,
    sampler: Sampler = "euler",
    guidance: Guidance = 1.0,
    guard: Guard = "default",
    tokenizer: Tokenizer = None,
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Generate a video from a text prompt."""
    kw = dict(ckpt=ckpt, prompt=prompt, steps=steps, sampler=sampler, guidance=guidance, guard=guard,
              tokenizer=tokenizer, guard_policy=guard_policy)  # fmt: skip
    _generate(out, seed, "generate text2world", **kw)


@app.command("video2world")
def video2world(
    video: Annotated[Path, typer.Option("--video", help="Video whose first frames are given.")],
    prompt: Prompt,
    ckpt: Ckpt,
    out: Out,
    cond_frames: CondFrames = 1,
    seed: Seed = 0,
    steps: Steps = 35,
    sampler: Sampler = "euler",
    guidance: Guidance = 1.0,
    guard: Guard = "default",
    guard_policy: GuardPolicyOpt = None,
    refiner: Annotated[
        Path | None,
        typer.Option("--refiner", help="Context refiner dir (the demo writes OUT/refiner/model)."),
    ] = None,
    tokenizer: Tokenizer = None,
    relative: Annotated[
        bool,
        typer.Option("--relative-decode", help="Future = last given frame + the decoded predicted change."),
    ] = False,
) -> None:
    """Continue a video: its first --cond-frames frames are kept, the rest is generated."""
    kw = dict(ckpt=ckpt, prompt=prompt, steps=steps, sampler=sampler, guidance=guidance, guard=guard,
              tokenizer=tokenizer, refiner=refiner, guard_policy=guard_policy, relative=relative)  # fmt: skip
    _generate(out, seed, "generate video2world", video=video, cond_frames=cond_frames, **kw)


@app.command("ar-video2world")
def ar_video2world(
    video: Annotated[Path, typer.Option("--video", help="Video whose first frames are given.")],
    ckpt: Annotated[Path, typer.Option("--ckpt", help="AR world model dir (OUT/model of train ar).")],
    out: Out,
    prompt: Annotated[str, typer.Option("--prompt", help="What the video should show.")] = "",
    cond_frames: CondFrames = 1,
    latent_frames: Annotated[
        int | None, typer.Option("--latent-frames", help="Latent frames to generate (default: fill).")
    ] = None,
    medusa: Annotated[Path | None, typer.Option("--medusa", help="Medusa heads dir (train medusa).")] = None,
    diffusion_decoder: Annotated[
        Path | None,
        typer.Option(
            "--diffusion-decoder",
            help="Decode tokens by a diffusion decoder (OUT/model of "
            "train diffusion-decoder) instead of the DV decoder.",
        ),
    ] = None,
    decoder_steps: Annotated[
        int | None, typer.Option("--decoder-steps", help="Diffusion decoder sampler steps.")
    ] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="0 = greedy.")] = 1.0,
    top_k: Annotated[int, typer.Option("--top-k", help="0 = off.")] = 0,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus mass (Cosmos: 0.8; 1 = off).")] = 0.8,
    seed: Seed = 0,
    guard: Guard = "default",
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Continue a video token by token with an AR world model (KV cache; Medusa with --medusa)."""
    kw = dict(video=video, prompt=prompt, cond_frames=cond_frames, latent_frames=latent_frames, medusa=medusa,
              diffusion_decoder=diffusion_decoder, decoder_steps=decoder_steps, temperature=temperature,
              top_k=top_k, top_p=top_p, guard=guard, guard_policy=guard_policy)  # fmt: skip
    run_command(out, "generate ar-video2world", {"ckpt": ckpt, **kw}, seed,
                lambda: run_ar_generate(ckpt, out, seed=seed, **kw))  # fmt: skip
    console.print(f"wrote {out / 'video.mp4'}")


@app.command("action2world")
def action2world(
    video: Annotated[Path, typer.Option("--video", help="Video whose first frame is the start state.")],
    actions: Annotated[Path, typer.Option("--actions", help=".npy [T, A] actions, one per frame step.")],
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Action world model (posttrain action: OUT/model).")],
    out: Out,
    seed: Seed = 0,
    steps: Steps = 10,
    sampler: Sampler = "heun",
    guidance: Annotated[float, typer.Option("--guidance", help="CFG scale on actions (1 = off).")] = 1.0,
    guard: Guard = "default",
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Predict what the robot's actions do, from one start frame (a diffusion or an AR action world
    model; the AR one decodes greedily, token by token, and has no steps, sampler or guidance)."""
    kw = dict(steps=steps, sampler=sampler, guidance=guidance, guard=guard, guard_policy=guard_policy)
    _conditioned(out, seed, "action2world", generate_action2world, ckpt, video, actions=actions, **kw)


def _conditioned(out: Path, seed: int, command: str, fn, ckpt: Path, video: Path, **kw) -> None:
    """A post-trained model's generation: ``fn(ckpt, video, <condition file>, out, seed=, ...)``."""
    (name, cond), rest = next(iter(kw.items())), dict(list(kw.items())[1:])
    args = {"video": video, name: cond, "ckpt": ckpt, **rest}
    run_command(out, f"generate {command}", args, seed, lambda: fn(ckpt, video, cond, out, seed=seed, **rest))
    console.print(f"wrote {out / 'video.mp4'}")


@app.command("camera2world")
def camera2world(
    video: Annotated[Path, typer.Option("--video", help="Video whose first frame is the start view.")],
    camera: Annotated[
        Path, typer.Option("--camera", help="path.json (docs/posttrain.md) or a COLMAP text folder.")
    ],
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Camera world model (posttrain camera: OUT/model).")],
    out: Out,
    seed: Seed = 0,
    steps: Steps = 10,
    sampler: Sampler = "heun",
    guidance: Annotated[float, typer.Option("--guidance", help="CFG scale on the camera (1 = off).")] = 1.0,
    guard: Guard = "default",
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Render what the camera would see moving along a requested path, from one start frame."""
    kw = dict(steps=steps, sampler=sampler, guidance=guidance, guard=guard, guard_policy=guard_policy)
    _conditioned(out, seed, "camera2world", generate_camera2world, ckpt, video, camera=camera, **kw)


@app.command("transfer")
def transfer(
    control: Annotated[
        list[str], typer.Option("--control", help="TYPE=video: edge|blur|depth|seg (docs/posttrain.md).")
    ],
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Control world model (posttrain control: OUT/model).")],
    out: Out,
    weight: Annotated[
        list[str] | None, typer.Option("--weight", help="TYPE=number or TYPE=grey map video (default 1).")
    ] = None,
    prompt: Annotated[str, typer.Option("--prompt", help="What the video should show.")] = "",
    seed: Seed = 0,
    steps: Steps = 10,
    sampler: Sampler = "heun",
    guidance: Annotated[float, typer.Option("--guidance", help="CFG scale on the controls (1 = off).")] = 1.0,
    guard: Guard = "default",
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Generate video that follows depth, segmentation, edge or blur videos (sim-to-real)."""
    controls, weights = parse_pairs(control, "--control"), parse_pairs(weight or [], "--weight")
    kw = dict(weights=weights, prompt=prompt, steps=steps, sampler=sampler, guidance=guidance, guard=guard,
              guard_policy=guard_policy)  # fmt: skip
    run_command(out, "generate transfer", {"control": controls, "ckpt": ckpt, **kw}, seed,
                lambda: generate_transfer(ckpt, controls, out, seed=seed, **kw))  # fmt: skip
    console.print(f"wrote {out / 'video.mp4'}")


@app.command("multiview")
def multiview(
    rig: Annotated[Path, typer.Option("--rig", help="Start rig: an episode folder or <camera>.png files.")],
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Multi-view model (posttrain multiview: OUT/model).")],
    out: Out,
    trajectory: Annotated[
        Path | None, typer.Option("--trajectory", help='Ego path {"dt": 0.1, "points": [[x, y, z], ...]}.')
    ] = None,
    seed: Seed = 0,
    steps: Steps = 10,
    sampler: Sampler = "heun",
    guidance: Annotated[
        float, typer.Option("--guidance", help="CFG scale on the trajectory (1 = off).")
    ] = 1.0,
    guard: Guard = "default",
    guard_policy: GuardPolicyOpt = None,
) -> None:
    """Generate every camera of a rig jointly from its first frames: OUT/<camera>.mp4 + OUT/preview.mp4."""
    kw = dict(steps=steps, sampler=sampler, guidance=guidance, guard=guard, guard_policy=guard_policy)
    args = {"rig": rig, "trajectory": trajectory, "ckpt": ckpt, **kw}
    run_command(out, "generate multiview", args, seed,
                lambda: generate_multiview(ckpt, rig, trajectory, out, seed=seed, **kw))  # fmt: skip
    console.print(f"wrote {out / 'preview.mp4'}")
