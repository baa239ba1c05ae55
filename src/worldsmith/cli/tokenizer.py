"""`worldsmith tokenizer`: presets, train, encode, decode, reconstruct, eval, convert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import Compile, Out, Seed, Select, TrainData, print_result, run_command, selection
from worldsmith.data import ClipDataset
from worldsmith.errors import WorldsmithError
from worldsmith.tokenizers.commands import convert_dir, decode_file, encode_file, eval_dir, reconstruct_file
from worldsmith.tokenizers.objective import ObjectiveConfig
from worldsmith.tokenizers.presets import PRESETS, get_preset
from worldsmith.tokenizers.train import train_tokenizer

app = typer.Typer(help="Video tokenizers (Cosmos CV/DV/CI/DI): train, encode, decode, evaluate.",
                  no_args_is_help=True)  # fmt: skip
TokCkpt = Annotated[Path, typer.Option("--ckpt", help="Tokenizer checkpoint dir (ours or diffusers format).")]
TokSize = Annotated[int | None, typer.Option("--size", help="Resize the short side to this many pixels.")]
MaxFrames = Annotated[int | None, typer.Option("--max-frames", help="Read at most this many frames.")]
Chunk = Annotated[int | None, typer.Option("--chunk-frames", help="Stream in chunks of this many frames.")]


def _run(run_dir: Path, seed: int, command: str, fn, **args) -> None:
    print_result(run_command(run_dir, f"tokenizer {command}", args, seed, lambda: fn(**args)))


@app.command("presets")
def presets() -> None:
    """List the tokenizer presets and their compression."""
    for name, fn in PRESETS.items():
        c = fn()
        typer.echo(f"{name:>18}  {c.kind:<10} t/{c.temporal_compression} s/{c.spatial_compression}  "
                   f"widths {c.encoder_channels}  ratio {c.compression_ratio:g}")  # fmt: skip


def _train(out, seed, data, select, preset, steps, size, batch_size, lr, stage, init, adversarial_weight,
           adversarial_start, lowpass_shortcut, precision, compile) -> dict:  # fmt: skip
    if lowpass_shortcut and init:
        raise WorldsmithError(
            "--lowpass-shortcut builds a new model; drop it or --init (the checkpoint's config "
            "already says whether it has the shortcut)"
        )
    st = get_preset(preset).temporal_compression
    frames = 1 + 2 * st if st > 1 else 1
    clips = ClipDataset(data, frames=frames, size=(size, size), stride=max(1, frames // 2), max_frames=400,
                        selection=selection(select))  # fmt: skip
    objective = ObjectiveConfig(stage=stage, adversarial_weight=adversarial_weight,
                                adversarial_start=adversarial_start)  # fmt: skip
    _, result = train_tokenizer(preset, clips, out, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                init=init, objective=objective,
                                overrides={"lowpass_shortcut": True} if lowpass_shortcut else None,
                                precision=precision, compile=compile)  # fmt: skip
    return {"tokenizer": str(out / "tokenizer"), "windows": len(clips),
            **{k: v for k, v in result.items() if isinstance(v, (int, float, str))}}  # fmt: skip


@app.command("train")
def train(
    data: TrainData,
    out: Out,
    select: Select = None,
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
        str,
        typer.Option(
            "--precision",
            help="fp32; bf16 autocast (float32 weights; fast on CPUs with AVX512_BF16 or AMX); or auto "
            "(bf16 where the hardware has it natively, else fp32).",
        ),
    ] = "fp32",
    compile_: Compile = False,
    seed: Seed = 0,
) -> None:
    """Train a tokenizer on the shared Trainer; writes OUT/tokenizer (config.json + model.safetensors)."""
    _run(out, seed, "train", lambda **kw: _train(out, seed, **kw), data=data, select=select or [],
         preset=preset, steps=steps, size=size, batch_size=batch_size, lr=lr, stage=stage, init=init,
         adversarial_weight=adversarial_weight, adversarial_start=adversarial_start,
         lowpass_shortcut=lowpass_shortcut, precision=precision, compile=compile_)  # fmt: skip


@app.command("encode")
def encode(video: Annotated[Path, typer.Argument(help="Video file.")], ckpt: TokCkpt, out: Out,
           size: TokSize = None, max_frames: MaxFrames = None, chunk_frames: Chunk = None,
           seed: Seed = 0) -> None:  # fmt: skip
    """Encode a video into OUT/tokens.safetensors (latents or FSQ indices)."""
    _run(out, seed, "encode", encode_file, ckpt=ckpt, video=video, out=out, size=size,
         max_frames=max_frames, chunk_frames=chunk_frames)  # fmt: skip


@app.command("decode")
def decode(tokens: Annotated[Path, typer.Argument(help="tokens.safetensors from `encode`.")],
           ckpt: TokCkpt, out: Out, chunk_latents: Annotated[int | None, typer.Option(
               "--chunk-latents", help="Stream this many latent frames at a time.")] = None,
           seed: Seed = 0) -> None:  # fmt: skip
    """Decode tokens into OUT/decoded.mp4."""
    _run(out, seed, "decode", decode_file, ckpt=ckpt, tokens=tokens, out=out, chunk_latents=chunk_latents)


@app.command("reconstruct")
def reconstruct(video: Annotated[Path, typer.Argument(help="Video.")], ckpt: TokCkpt, out: Out,
                size: TokSize = None, max_frames: MaxFrames = None, chunk_frames: Chunk = None,
                seed: Seed = 0) -> None:  # fmt: skip
    """Write OUT/reconstruction.mp4 (original | reconstruction) and print PSNR/SSIM vs the naive codec."""
    _run(out, seed, "reconstruct", reconstruct_file, ckpt=ckpt, video=video, out=out, size=size,
         max_frames=max_frames, chunk_frames=chunk_frames)  # fmt: skip


@app.command("eval")
def evaluate(
    ckpt: TokCkpt,
    data: TrainData,
    out: Out,
    select: Select = None,
    size: TokSize = None,
    max_frames: MaxFrames = None,
    seed: Seed = 0,
) -> None:
    """PSNR, SSIM, temporal flicker, compression ratio and throughput (and the naive codec's)."""
    _run(out, seed, "eval", lambda select, **kw: eval_dir(**kw, selection=selection(select)), ckpt=ckpt,
         data=data, select=select or [], size=size, max_frames=max_frames)  # fmt: skip


@app.command("convert")
def convert(src: Annotated[Path, typer.Argument(help="diffusers AutoencoderKLCosmos folder.")],
            out: Out, seed: Seed = 0) -> None:  # fmt: skip
    """Convert released Cosmos CV weights (diffusers layout) into OUT (config.json + model.safetensors)."""
    _run(out / "run", seed, "convert", convert_dir, src=src, out=out / "tokenizer")
