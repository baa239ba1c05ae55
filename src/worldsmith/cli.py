"""The `worldsmith` command line: one typer app, each subcommand a thin call into the package.

Errors the user can fix (`WorldsmithError`) print one line and exit 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from worldsmith.console import console
from worldsmith.errors import WorldsmithError

app = typer.Typer(
    name="worldsmith",
    help="Build world foundation models for physical AI: digital twins, curation, tokenizers, "
    "world models, guardrails and evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class _State:
    debug = False


state = _State()

# Options shared by every command that writes.
Out = Annotated[Path, typer.Option("--out", "-o", help="Run directory for outputs and run.json.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
# Options every training command takes (worldsmith.distributed); --nproc re-runs it under torchrun.
# Options shared by the training commands that read a folder of videos.
TrainData = Annotated[Path, typer.Option("--data", help="Folder of videos (+ <stem>.txt captions).")]
ClipFrames = Annotated[int, typer.Option("--frames", help="Frames per clip (1 + k * s_t).")]
ClipSize = Annotated[str, typer.Option("--size", help="HxW of the clips, e.g. 64x64.")]
TextEncoderOpt = Annotated[str, typer.Option("--text-encoder", help="minilm | t5:<dir> | none.")]
NProc = Annotated[int, typer.Option("--nproc", help="Local processes (re-runs under torchrun).")]
Fsdp = Annotated[bool, typer.Option("--fsdp/--no-fsdp", help="Shard params with FSDP2 (else replicate).")]
CP = Annotated[int, typer.Option("--cp", help="Context-parallel degree: ranks splitting each sequence.")]
AC = Annotated[bool, typer.Option("--ac", help="Activation checkpointing of every block.")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile every block.")]


def _parallel(nproc: int, fsdp: bool, cp: int, ac: bool, compile_: bool, prefix: str = "") -> list[str]:
    """Relaunch under torchrun for --nproc > 1 (exits with its code); else the parallel overrides."""
    from worldsmith.distributed.launch import parallel_overrides, relaunch

    code = relaunch(nproc)
    if code is not None:
        raise typer.Exit(code)
    return parallel_overrides(fsdp=fsdp, cp=cp, ac=ac, compile=compile_, prefix=prefix)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    state.debug = debug


@app.command()
def version() -> None:
    """Print the versions of worldsmith, torch and PyAV."""
    from worldsmith.runs import versions

    v = versions()
    typer.echo(f"worldsmith {v['worldsmith']}\ntorch {v['torch']}\nav {v['av']}\npython {v['python']}")


@app.command()
def probe(
    video: Annotated[Path, typer.Argument(help="Video file to inspect.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a video's frame rate, frame count, duration, size and codec."""
    from dataclasses import asdict

    from worldsmith.video.io import probe as probe_video

    info = asdict(probe_video(video))
    if as_json:
        typer.echo(json.dumps(info))
    else:
        for key, value in info.items():
            typer.echo(f"{key:>10}: {value}")


@app.command()
def shots(
    video: Annotated[Path, typer.Argument(help="Video file to split into shots.")],
    detector: Annotated[
        str,
        typer.Option(help="content, transnetv2, pyscenedetect or pyscenedetect-adaptive."),
    ] = "content",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    min_seconds: Annotated[float, typer.Option(help="Drop shots shorter than this.")] = 2.0,
    max_seconds: Annotated[float, typer.Option(help="Split shots longer than this.")] = 60.0,
    trim_seconds: Annotated[float, typer.Option(help="Trim from both ends of every shot.")] = 0.0,
) -> None:
    """Find shot boundaries and cut the shots into clips (drop < 2 s, split > 60 s)."""
    from worldsmith.curate.shots import ClipRules, shots_table, split_video

    rules = ClipRules(min_seconds=min_seconds, max_seconds=max_seconds, trim_seconds=trim_seconds)
    result = split_video(video, detector, rules)
    if as_json:
        keys = ("video", "fps", "num_frames", "cuts", "shots", "clips")
        typer.echo(json.dumps({k: result[k] for k in keys}))
    else:
        from rich.console import Console

        Console().print(shots_table(result))


@app.command()
def demo(
    out: Out = Path("runs/demo"),
    seed: Seed = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smallest sizes (for tests).")] = False,
) -> None:
    """Run the main job end to end and write an HTML report under --out."""
    from worldsmith.demo import run_demo

    run_demo(out, seed=seed, quick=quick)


# --- diffusion world model: generate / train diffusion / convert diffusers --------------------------

generate_app = typer.Typer(help="Generate video with a diffusion world model.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
train_app = typer.Typer(help="Train models on the shared Trainer.", no_args_is_help=True)
app.add_typer(train_app, name="train")
convert_app = typer.Typer(help="Convert released checkpoints to worldsmith's layout.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")

Ckpt = Annotated[Path, typer.Option("--ckpt", help="World-model dir (train diffusion writes OUT/model).")]
Prompt = Annotated[str, typer.Option("--prompt", help="What the video should show.")]
Steps = Annotated[int, typer.Option("--steps", help="Sampler steps.")]
Sampler = Annotated[str, typer.Option("--sampler", help="euler | heun | dpmpp_2m.")]
Guidance = Annotated[float, typer.Option("--guidance", help="CFG scale (1 = off; Cosmos' w=7 is 8).")]
Guard = Annotated[str, typer.Option("--guard", help="Guards: default | blocklist | none (loudly off).")]
CondFrames = Annotated[int, typer.Option("--cond-frames", help="Given frames (1 + k * s_t).")]


def _generate(out: Path, seed: int, command: str, **kw) -> None:
    from worldsmith.diffusion.pipeline import run_generate
    from worldsmith.runs import RunDir

    with RunDir(out, command=command, args=kw, seed=seed) as run:
        run.record(**run_generate(kw.pop("ckpt"), out, seed=seed, **kw))
    console.print(f"wrote {out / 'video.mp4'}")


@generate_app.command("text2world")
def generate_text2world(
    prompt: Prompt,
    ckpt: Ckpt,
    out: Out,
    seed: Seed = 0,
    steps: Steps = 35,
    sampler: Sampler = "euler",
    guidance: Guidance = 1.0,
    guard: Guard = "default",
) -> None:
    """Generate a video from a text prompt."""
    kw = dict(ckpt=ckpt, prompt=prompt, steps=steps, sampler=sampler, guidance=guidance, guard=guard)
    _generate(out, seed, "generate text2world", **kw)


@generate_app.command("video2world")
def generate_video2world(
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
    refiner: Annotated[
        Path | None,
        typer.Option("--refiner", help="Context refiner dir (the demo writes OUT/refiner/model)."),
    ] = None,
) -> None:
    """Continue a video: its first --cond-frames frames are kept, the rest is generated."""
    kw = dict(ckpt=ckpt, prompt=prompt, steps=steps, sampler=sampler, guidance=guidance, guard=guard)
    if refiner is not None:
        kw["refiner"] = refiner
    _generate(out, seed, "generate video2world", video=video, cond_frames=cond_frames, **kw)


@train_app.command("diffusion")
def train_diffusion_cmd(
    tokenizer: Annotated[Path, typer.Option("--tokenizer", help="Continuous tokenizer checkpoint dir.")],
    data: TrainData,
    out: Out,
    preset: Annotated[str, typer.Option("--preset", help="DiT size: tiny | small | 7b | 14b.")] = "tiny",
    frames: ClipFrames = 17,
    size: ClipSize = "64x64",
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Latent cache (default OUT/latent_cache).")
    ] = None,
    text_encoder: TextEncoderOpt = "minilm",
    override: Annotated[
        list[str] | None,
        typer.Option("--set", help="train.steps=200, model.depth=2, objective.p_text2world=0.5"),
    ] = None,
    seed: Seed = 0,
    nproc: NProc = 1,
    fsdp: Fsdp = True,
    cp: CP = 1,
    ac: AC = False,
    compile_: Compile = False,
) -> None:
    """Train a Text2World + Video2World DiT on tokenizer latents (encoded once into a cache)."""
    from worldsmith.diffusion.recipes import train_diffusion
    from worldsmith.errors import ConfigError
    from worldsmith.runs import RunDir

    h, _, w = size.partition("x")
    if not (h.isdigit() and w.isdigit()):
        raise ConfigError(f"--size '{size}' must look like 64x64")
    sets = [*_parallel(nproc, fsdp, cp, ac, compile_, prefix="train."), *(override or [])]
    args = dict(tokenizer=tokenizer, data=data, preset=preset, frames=frames, size=size, set=sets)
    with RunDir(out, command="train diffusion", args=args, seed=seed) as run:
        metrics = train_diffusion(
            tokenizer, data, out, preset=preset, frames=frames, size=(int(h), int(w)), cache=cache,
            text_encoder=text_encoder, overrides=sets, seed=seed,
        )  # fmt: skip
        run.record(**metrics)
    console.print(f"wrote {out / 'model'}")


@convert_app.command("diffusers")
def convert_diffusers_cmd(
    src: Annotated[Path, typer.Argument(help="diffusers Cosmos-1.0 pipeline dir (transformer/, vae/).")],
    out: Out,
) -> None:
    """Convert a diffusers Cosmos-1.0 Text2World/Video2World pipeline into a worldsmith checkpoint."""
    from worldsmith.diffusion.convert import convert_diffusers
    from worldsmith.runs import RunDir

    with RunDir(out, command="convert diffusers", args={"src": src}) as run:
        run.record(**convert_diffusers(src, out))
    console.print(f"wrote {out}")


# --- tokenizers: worldsmith tokenizer presets|train|encode|decode|reconstruct|eval|convert ----------

tokenizer_app = typer.Typer(help="Video tokenizers (Cosmos CV/DV/CI/DI): train, encode, decode, evaluate.",
                            no_args_is_help=True)  # fmt: skip
app.add_typer(tokenizer_app, name="tokenizer")
TokCkpt = Annotated[Path, typer.Option("--ckpt", help="Tokenizer checkpoint dir (ours or diffusers format).")]
TokSize = Annotated[int | None, typer.Option("--size", help="Resize the short side to this many pixels.")]
MaxFrames = Annotated[int | None, typer.Option("--max-frames", help="Read at most this many frames.")]
Chunk = Annotated[int | None, typer.Option("--chunk-frames", help="Stream in chunks of this many frames.")]


def _tok_run(run_dir: Path, seed: int, command: str, fn, **args) -> dict:
    from worldsmith.runs import RunDir, seed_everything

    with RunDir(run_dir, command=f"tokenizer {command}", args=args, seed=seed) as run:
        seed_everything(seed)
        result = fn(**args)
        run.record(**result)
    for key, value in result.items():
        console.print(f"{key:>18}: {value}")
    return result


@tokenizer_app.command("presets")
def tokenizer_presets_cmd() -> None:
    """List the tokenizer presets and their compression."""
    from worldsmith.tokenizers.presets import PRESETS

    for name, fn in PRESETS.items():
        c = fn()
        typer.echo(f"{name:>18}  {c.kind:<10} t/{c.temporal_compression} s/{c.spatial_compression}  "
                   f"widths {c.encoder_channels}  ratio {c.compression_ratio:g}")  # fmt: skip


@tokenizer_app.command("train")
def tokenizer_train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Folder of videos (sim episodes, curated clips).")],
    out: Out,
    preset: Annotated[str, typer.Option("--preset", help="See `tokenizer presets`.")] = "tiny-cv4x8x8",
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps.")] = 200,
    size: Annotated[int, typer.Option("--size", help="Train crops of size x size.")] = 32,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 4,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    stage: Annotated[int, typer.Option("--stage", help="1: L1; 2: + temporal consistency.")] = 1,
    init: Annotated[Path | None, typer.Option("--init", help="Continue from a checkpoint dir.")] = None,
    adversarial_weight: Annotated[
        float,
        typer.Option("--adversarial-weight", help="Stage 2: weight of the 3D PatchGAN hinge loss (0 = off)."),
    ] = 0.0,
    adversarial_start: Annotated[
        int, typer.Option("--adversarial-start", help="Steps of stage 2 before the adversarial loss starts.")
    ] = 0,
    lowpass_shortcut: Annotated[
        bool,
        typer.Option(
            "--lowpass-shortcut",
            help="Start as the block-mean codec and learn the residual "
            "(not in Cosmos; trains faster; new models only, not with --init).",
        ),
    ] = False,
    precision: Annotated[
        str, typer.Option("--precision", help="fp32, or bf16 autocast (float32 weights; fast on AMX CPUs).")
    ] = "fp32",
    compile_: Compile = False,
    seed: Seed = 0,
) -> None:
    """Train a tokenizer on the shared Trainer; writes OUT/tokenizer (config.json + model.safetensors)."""
    from worldsmith.tokenizers.data import ClipDataset
    from worldsmith.tokenizers.objective import ObjectiveConfig
    from worldsmith.tokenizers.presets import get_preset
    from worldsmith.tokenizers.train import train_tokenizer

    def run(data, preset, steps, size, batch_size, lr, stage, init, adversarial_weight, adversarial_start,
            lowpass_shortcut, precision, compile):  # fmt: skip
        if lowpass_shortcut and init:
            raise WorldsmithError(
                "--lowpass-shortcut builds a new model; drop it or --init (the checkpoint's config "
                "already says whether it has the shortcut)"
            )
        st = get_preset(preset).temporal_compression
        clips = ClipDataset.from_files(data, frames=1 + 2 * st if st > 1 else 1, size=size)
        objective = ObjectiveConfig(stage=stage, adversarial_weight=adversarial_weight,
                                    adversarial_start=adversarial_start)  # fmt: skip
        _, result = train_tokenizer(preset, clips, out, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                    init=init, objective=objective,
                                    overrides={"lowpass_shortcut": True} if lowpass_shortcut else None,
                                    precision=precision, compile=compile)  # fmt: skip
        return {"tokenizer": str(out / "tokenizer"), "windows": len(clips),
                **{k: v for k, v in result.items() if isinstance(v, (int, float, str))}}  # fmt: skip

    _tok_run(out, seed, "train", run, data=data, preset=preset, steps=steps, size=size, batch_size=batch_size,
             lr=lr, stage=stage, init=init, adversarial_weight=adversarial_weight,
             adversarial_start=adversarial_start, lowpass_shortcut=lowpass_shortcut, precision=precision,
             compile=compile_)  # fmt: skip


@tokenizer_app.command("encode")
def tokenizer_encode_cmd(video: Annotated[Path, typer.Argument(help="Video file.")], ckpt: TokCkpt, out: Out,
                         size: TokSize = None, max_frames: MaxFrames = None, chunk_frames: Chunk = None,
                         seed: Seed = 0) -> None:  # fmt: skip
    """Encode a video into OUT/tokens.safetensors (latents or FSQ indices)."""
    from worldsmith.tokenizers.commands import encode_file

    _tok_run(out, seed, "encode", encode_file, ckpt=ckpt, video=video, out=out, size=size,
             max_frames=max_frames, chunk_frames=chunk_frames)  # fmt: skip


@tokenizer_app.command("decode")
def tokenizer_decode_cmd(tokens: Annotated[Path, typer.Argument(help="tokens.safetensors from `encode`.")],
                         ckpt: TokCkpt, out: Out, chunk_latents: Annotated[int | None, typer.Option(
                             "--chunk-latents", help="Stream this many latent frames at a time.")] = None,
                         seed: Seed = 0) -> None:  # fmt: skip
    """Decode tokens into OUT/decoded.mp4."""
    from worldsmith.tokenizers.commands import decode_file

    _tok_run(out, seed, "decode", decode_file, ckpt=ckpt, tokens=tokens, out=out, chunk_latents=chunk_latents)


@tokenizer_app.command("reconstruct")
def tokenizer_reconstruct_cmd(video: Annotated[Path, typer.Argument(help="Video.")], ckpt: TokCkpt, out: Out,
                              size: TokSize = None, max_frames: MaxFrames = None, chunk_frames: Chunk = None,
                              seed: Seed = 0) -> None:  # fmt: skip
    """Write OUT/reconstruction.mp4 (original | reconstruction) and print PSNR/SSIM vs the naive codec."""
    from worldsmith.tokenizers.commands import reconstruct_file

    _tok_run(out, seed, "reconstruct", reconstruct_file, ckpt=ckpt, video=video, out=out, size=size,
             max_frames=max_frames, chunk_frames=chunk_frames)  # fmt: skip


@tokenizer_app.command("eval")
def tokenizer_eval_cmd(
    ckpt: TokCkpt,
    data: Annotated[Path, typer.Option("--data", help="Folder of videos.")],
    out: Out,
    size: TokSize = None,
    max_frames: MaxFrames = None,
    seed: Seed = 0,
) -> None:
    """PSNR, SSIM, temporal flicker, compression ratio and throughput (and the naive codec's)."""
    from worldsmith.tokenizers.commands import eval_dir

    _tok_run(out, seed, "eval", eval_dir, ckpt=ckpt, data=data, size=size, max_frames=max_frames)


@tokenizer_app.command("convert")
def tokenizer_convert_cmd(src: Annotated[Path, typer.Argument(help="diffusers AutoencoderKLCosmos folder.")],
                          out: Out, seed: Seed = 0) -> None:  # fmt: skip
    """Convert released Cosmos CV weights (diffusers layout) into OUT (config.json + model.safetensors)."""
    from worldsmith.tokenizers.commands import convert_dir

    _tok_run(out / "run", seed, "convert", convert_dir, src=src, out=out / "tokenizer")


# --- guardrails: guard prompt / guard video / guard train-classifier ------------------------------

eval_app = typer.Typer(
    help="Evaluate videos: 3D consistency, physics alignment, multi-view.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


def _print_json(result: dict) -> None:
    typer.echo(json.dumps(result, indent=2, default=float))


@eval_app.command("geometry")
def eval_geometry(
    target: Annotated[Path, typer.Argument(help="A video file, or a sim episode folder (uses its true K).")],
    gap: Annotated[int, typer.Option(help="Frame distance of the compared pairs.")] = 4,
    upscale: Annotated[int, typer.Option(help="Match on frames enlarged this much (small videos).")] = 1,
    contrast_threshold: Annotated[
        float, typer.Option(help="SIFT contrast threshold; lower finds more keypoints in small frames.")
    ] = 0.04,
) -> None:
    """3D consistency: SIFT + RANSAC fundamental matrix, mean Sampson error, pose success."""
    from worldsmith.eval import files

    if gap < 1 or upscale < 1 or contrast_threshold <= 0:
        raise typer.BadParameter(
            f"need --gap >= 1, --upscale >= 1 and --contrast-threshold > 0, got {gap}, {upscale}, "
            f"{contrast_threshold}"
        )
    opts = {"gap": gap, "upscale": upscale, "contrast_threshold": contrast_threshold}
    _print_json(files.episode_geometry(target, **opts) if target.is_dir() else files.geometry(target, **opts))


@eval_app.command("physics")
def eval_physics(
    prediction: Annotated[Path, typer.Argument(help="Predicted video (future frames, or the whole length).")],
    episode: Annotated[Path, typer.Option("--episode", help="Sim episode folder with masks.")],
    cond: Annotated[int, typer.Option("--cond", help="Number of given frames.")] = 9,
    lpips_backbone: Annotated[
        Path | None,
        typer.Option(
            "--lpips-backbone",
            help="torchvision AlexNet/VGG-16 weights on disk (e.g. alexnet-owt-7be5be79.pth): adds LPIPS.",
        ),
    ] = None,
    lpips_net: Annotated[str, typer.Option("--lpips-net", help="alex or vgg.")] = "alex",
) -> None:
    """Physics alignment against simulator ground truth, with copy-last and linear baselines."""
    from worldsmith.eval import files

    _print_json(
        files.physics(prediction, episode, cond=cond, lpips_backbone=lpips_backbone, lpips_net=lpips_net)
    )


@eval_app.command("multiview")
def eval_multiview(episode: Annotated[Path, typer.Argument(help="Multi-camera sim episode folder.")]) -> None:
    """Multi-view consistency: temporal (TSE) and cross-view (CSE) Sampson errors."""
    from worldsmith.eval import files

    _print_json(files.multiview(episode))


guard_app = typer.Typer(help="Guardrails: check prompts, guard and face-blur videos.", no_args_is_help=True)
app.add_typer(guard_app, name="guard")
BlocklistFiles = Annotated[
    list[Path] | None, typer.Option("--blocklist", help="Extra blocklist YAML (category: [terms]).")
]


@guard_app.command("prompt")
def guard_prompt(
    text: Annotated[str, typer.Argument(help="The prompt to check.")],
    blocklist: BlocklistFiles = None,
    classifier: Annotated[bool, typer.Option(help="Run the MiniLM prompt classifier.")] = True,
    llm_guard: Annotated[
        Path | None, typer.Option("--llm-guard", help="Local Llama-Guard-style model dir.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a prompt with the pre-guards; print the verdict, exit 1 when it is blocked."""
    from dataclasses import asdict

    from worldsmith.guardrails.pipeline import default_pipeline

    pipeline = default_pipeline(
        classifier=classifier, llm_guard_dir=llm_guard, video_safety=False, face_blur=False,
        blocklist_files=blocklist or [],
    )  # fmt: skip
    verdict = pipeline.check_prompt(text)
    typer.echo(json.dumps(asdict(verdict)) if as_json else str(verdict))
    raise typer.Exit(0 if verdict.ok else 1)


@guard_app.command("video")
def guard_video(
    video: Annotated[Path, typer.Argument(help="Video to guard.")],
    out: Out,
    seed: Seed = 0,
    safety: Annotated[bool, typer.Option(help="Run the NudeNet video classifier.")] = True,
    blur: Annotated[str, typer.Option("--blur", help="Face blur: gaussian | pixelate.")] = "gaussian",
) -> None:
    """Post-guard a video and blur its faces into OUT/guarded.mp4; exit 1 (writing no video) when blocked."""
    from worldsmith.guardrails.face_blur import FaceBlur, FaceBlurConfig
    from worldsmith.guardrails.pipeline import GuardPipeline
    from worldsmith.guardrails.video_safety import VideoSafety
    from worldsmith.runs import RunDir
    from worldsmith.video import io

    face_blur = FaceBlur(FaceBlurConfig(method=blur))  # type: ignore[arg-type]
    pipeline = GuardPipeline(post_guards=[VideoSafety()] if safety else [], face_blur=face_blur)
    with RunDir(
        out, command="guard video", args={"video": video, "safety": safety, "blur": blur}, seed=seed
    ) as run:
        clip = io.read(video)
        verdict, safe = pipeline.check_video(clip.frames)
        faces = sum(len(f) for f in face_blur.last_faces)
        run.record(
            ok=verdict.ok, reason=verdict.reason, category=verdict.category, frames=len(clip), faces=faces
        )
        if safe is not None:
            path = io.write(out / "guarded.mp4", safe, fps=clip.fps)
            console.print(f"{verdict}; {faces} face detections blurred; wrote {path}")
    if safe is None:
        typer.echo(str(verdict))
        raise typer.Exit(1)


@guard_app.command("train-classifier")
def guard_train_classifier(
    out: Out,
    seed: Seed = 0,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="JSONL of {text, label, split} (default: packaged).")
    ] = None,
) -> None:
    """Train the MiniLM prompt classifier head; write OUT/prompt_classifier.safetensors + metrics."""
    from worldsmith.guardrails.classifier import train_classifier
    from worldsmith.runs import RunDir, seed_everything

    seed_everything(seed)
    with RunDir(out, command="guard train-classifier", args={"prompts": prompts}, seed=seed) as run:
        metrics = train_classifier(out / "prompt_classifier.safetensors", prompts=prompts, seed=seed)
        run.record(**metrics)
    console.print_json(data=metrics)
    console.print(f"wrote {out / 'prompt_classifier.safetensors'}")


# --- autoregressive world model: train ar / train medusa / generate ar-video2world -----------------

Sets = Annotated[
    list[str] | None, typer.Option("--set", help="train.steps=200, model.layers=2, objective.decay=0.8")
]


def _size(size: str) -> tuple[int, int]:
    from worldsmith.errors import ConfigError

    h, _, w = size.partition("x")
    if not (h.isdigit() and w.isdigit()):
        raise ConfigError(f"--size '{size}' must look like 64x64")
    return int(h), int(w)


@train_app.command("ar")
def train_ar_cmd(
    tokenizer: Annotated[Path, typer.Option("--tokenizer", help="Discrete (DV) tokenizer checkpoint dir.")],
    data: TrainData,
    out: Out,
    preset: Annotated[str, typer.Option("--preset", help="tiny | small | 4b | 5b | 12b | 13b.")] = "tiny",
    frames: ClipFrames = 17,
    size: ClipSize = "64x64",
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Token cache (default OUT/token_cache).")
    ] = None,
    text_encoder: TextEncoderOpt = "minilm",
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Train a Llama-style AR world model on DV tokens (tokenized once into a cache)."""
    from worldsmith.autoregressive.recipes import train_ar
    from worldsmith.runs import RunDir

    args = dict(tokenizer=tokenizer, data=data, preset=preset, frames=frames, size=size, set=override or [])
    with RunDir(out, command="train ar", args=args, seed=seed) as run:
        metrics = train_ar(
            tokenizer, data, out, preset=preset, frames=frames, size=_size(size), cache=cache,
            text_encoder=text_encoder, overrides=override or [], seed=seed,
        )  # fmt: skip
        run.record(**metrics)
    console.print(f"wrote {out / 'model'}")


@train_app.command("medusa")
def train_medusa_cmd(
    base: Annotated[Path, typer.Option("--base", help="AR world model dir (OUT/model of train ar).")],
    data: Annotated[Path, typer.Option("--data", help="Folder of videos (as for train ar).")],
    out: Out,
    heads: Annotated[int, typer.Option("--heads", help="Medusa heads (Cosmos: 7).")] = 7,
    joint: Annotated[bool, typer.Option("--joint", help="Also train the base (Medusa-2).")] = False,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Token cache (default OUT/token_cache).")
    ] = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Train Medusa heads on a frozen (or, with --joint, tuned) AR world model."""
    from worldsmith.autoregressive.recipes import train_medusa
    from worldsmith.runs import RunDir

    args = dict(base=base, data=data, heads=heads, joint=joint, set=override or [])
    with RunDir(out, command="train medusa", args=args, seed=seed) as run:
        run.record(**train_medusa(base, data, out, heads=heads, joint=joint, cache=cache,
                                  overrides=override or [], seed=seed))  # fmt: skip
    console.print(f"wrote {out / 'medusa'}")


@train_app.command("diffusion-decoder")
def train_diffusion_decoder_cmd(
    dv: Annotated[Path, typer.Option("--dv", help="Discrete (DV) tokenizer dir (the AR model's).")],
    cv: Annotated[Path, typer.Option("--cv", help="Continuous (CV) tokenizer dir to decode with.")],
    data: TrainData,
    out: Out,
    preset: Annotated[str, typer.Option("--preset", help="DiT preset: tiny | small | 7b | 14b.")] = "tiny",
    frames: ClipFrames = 17,
    size: ClipSize = "64x64",
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Token and latent caches (default OUT/cache).")
    ] = None,
    override: Annotated[
        list[str] | None, typer.Option("--set", help="train.steps=500, model.depth=2, decoder.embed_dim=8")
    ] = None,
    seed: Seed = 0,
) -> None:
    """Train a diffusion decoder: a DiT mapping DV tokens to CV latents (decoded by the CV tokenizer)."""
    from worldsmith.autoregressive.diffusion_decoder import train_diffusion_decoder
    from worldsmith.runs import RunDir

    args = dict(dv=dv, cv=cv, data=data, preset=preset, frames=frames, size=size, set=override or [])
    with RunDir(out, command="train diffusion-decoder", args=args, seed=seed) as run:
        metrics = train_diffusion_decoder(
            dv, cv, data, out, preset=preset, frames=frames, size=_size(size), cache=cache,
            overrides=override or [], seed=seed,
        )  # fmt: skip
        run.record(**metrics)
    console.print(f"wrote {out / 'model'}")


@generate_app.command("ar-video2world")
def generate_ar_video2world(
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
) -> None:
    """Continue a video token by token with an AR world model (KV cache; Medusa with --medusa)."""
    from worldsmith.autoregressive.pipeline import run_ar_generate
    from worldsmith.runs import RunDir

    kw = dict(video=video, prompt=prompt, cond_frames=cond_frames, latent_frames=latent_frames, medusa=medusa,
              diffusion_decoder=diffusion_decoder, decoder_steps=decoder_steps,
              temperature=temperature, top_k=top_k, top_p=top_p, guard=guard)  # fmt: skip
    with RunDir(out, command="generate ar-video2world", args={"ckpt": ckpt, **kw}, seed=seed) as run:
        run.record(**run_ar_generate(ckpt, out, seed=seed, **kw))
    console.print(f"wrote {out / 'video.mp4'}")


# --- digital twins: sim list / sim run / sim footage ----------------------------------------------

sim_app = typer.Typer(help="Digital twins: MuJoCo scenes rendered to video with exact ground truth.",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(sim_app, name="sim")


@sim_app.command("list")
def sim_list() -> None:
    """List the scenarios with one-line descriptions."""
    from worldsmith.sim import SCENARIOS

    for s in SCENARIOS.values():
        tag = " [physics]" if s.physics_alignment else ""
        typer.echo(f"{s.name:<11} {s.description}{tag}")


@sim_app.command("run")
def sim_run(
    scenario: Annotated[str, typer.Argument(help="Scenario name, a comma list, 'physics' or 'all'.")],
    out: Out,
    seed: Seed = 0,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 8,
    frames: Annotated[int, typer.Option(help="Frames per episode.")] = 33,
    size: Annotated[int, typer.Option(help="Frame height and width in pixels.")] = 128,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 10.0,
    cameras: Annotated[int, typer.Option(help="Synchronised cameras per episode.")] = 1,
    camera_mode: Annotated[str, typer.Option(help="static | orbit | pan | dolly.")] = "static",
    masks: Annotated[bool, typer.Option(help="Write instance masks.")] = True,
    depth: Annotated[bool, typer.Option(help="Write metric depth.")] = True,
    workers: Annotated[int, typer.Option(help="Rendering processes.")] = 1,
) -> None:
    """Render episodes (videos + ground truth) under --out; finished episodes are skipped."""
    from worldsmith.runs import RunDir
    from worldsmith.sim.dataset import DatasetConfig, scenario_list, write_dataset

    config = DatasetConfig(scenarios=scenario_list(scenario), episodes=episodes, frames=frames, size=size,
                           fps=fps, cameras=cameras, camera_mode=camera_mode, masks=masks, depth=depth,
                           seed=seed)  # fmt: skip
    args = {"scenario": scenario, "workers": workers, "out": out, **vars(config)}
    with RunDir(out, command="sim run", args=args, seed=seed) as run:
        summary = write_dataset(config, out, workers=workers)
        run.record(**summary)
    console.print(f"{summary['written']} episodes written, {summary['skipped']} skipped, "
                  f"{summary['frames_per_s']} frames/s; index in {out / 'index.json'}")  # fmt: skip


@sim_app.command("footage")
def sim_footage(
    out: Out,
    seed: Seed = 0,
    videos: Annotated[int, typer.Option(help="Number of long videos.")] = 1,
    seconds: Annotated[float, typer.Option(help="Approximate length of each video.")] = 120.0,
    height: Annotated[int, typer.Option(help="Frame height.")] = 72,
    width: Annotated[int, typer.Option(help="Frame width.")] = 128,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 10.0,
) -> None:
    """Write long videos joining episodes with cuts, dissolves and fades, plus true shot boundaries."""
    from worldsmith.runs import RunDir
    from worldsmith.sim.footage import write_footage

    args = {"videos": videos, "seconds": seconds, "height": height, "width": width, "fps": fps, "out": out}
    with RunDir(out, command="sim footage", args=args, seed=seed) as run:
        files = write_footage(
            out, videos=videos, seed=seed, total_seconds=seconds, size=(height, width), fps=fps
        )
        run.record(videos=files)
    console.print(f"wrote {len(files)} videos with ground truth under {out}")


@app.command()
def curate(
    input: Annotated[Path, typer.Argument(help="A video file or a folder of videos (searched recursively).")],
    out: Out,
    runner: Annotated[str, typer.Option(help="sequential (in-process) or ray.")] = "sequential",
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON CurateConfig file.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config key: key=value.")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Existing Ray cluster (else a local one).")] = None,
    workers: Annotated[int, typer.Option(help="Ray actors per stage.")] = 2,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any input video failed.")] = False,
) -> None:
    """Curate raw videos into captioned, filtered, de-duplicated webdataset shards (resumable)."""
    from worldsmith.curate.pipeline import run_cli

    code = run_cli(input, out, runner=runner, config=config, overrides=set_ or [],
                   ray_address=ray_address, workers=workers, strict=strict)  # fmt: skip
    if code:
        raise typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `worldsmith` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:
        state.debug = True
    try:
        app(args=argv, prog_name="worldsmith")  # exits via SystemExit with the command's code
    except WorldsmithError as err:
        if state.debug:
            raise
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
