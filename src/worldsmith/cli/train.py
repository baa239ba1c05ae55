"""`worldsmith train`: the diffusion and autoregressive world models, Medusa heads, diffusion decoder,
context refiner; each reads `--data` through `worldsmith.data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.autoregressive.diffusion_decoder import train_diffusion_decoder
from worldsmith.autoregressive.recipes import train_ar, train_medusa
from worldsmith.cli.common import (
    AC,
    CP,
    ClipFrames,
    ClipSize,
    Compile,
    CondFrames,
    Fsdp,
    NProc,
    Out,
    Seed,
    Select,
    Sets,
    TextEncoderOpt,
    TrainData,
    TrainSteps,
    parallel,
    parse_size,
    run_command,
    selection,
    train_sets,
)
from worldsmith.console import console
from worldsmith.diffusion.recipes import train_diffusion
from worldsmith.diffusion.refiner_data import train_refiner_from_data

app = typer.Typer(help="Train models on the shared Trainer.", no_args_is_help=True)


Cache = Annotated[Path | None, typer.Option("--cache", help="Latent/token cache dir (default under OUT).")]


@app.command("diffusion")
def diffusion(
    tokenizer: Annotated[Path, typer.Option("--tokenizer", help="Continuous tokenizer checkpoint dir.")],
    data: TrainData,
    out: Out,
    select: Select = None,
    preset: Annotated[str, typer.Option("--preset", help="DiT size: tiny | small | 7b | 14b.")] = "tiny",
    frames: ClipFrames = 17,
    size: ClipSize = "64x64",
    cache: Cache = None,
    text_encoder: TextEncoderOpt = "minilm",
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
    nproc: NProc = 1,
    fsdp: Fsdp = True,
    cp: CP = 1,
    ac: AC = False,
    compile_: Compile = False,
) -> None:
    """Train a Text2World + Video2World DiT on tokenizer latents (encoded once into a cache)."""
    hw = parse_size(size)
    sets = [*parallel(nproc, fsdp, cp, ac, compile_, prefix="train."), *train_sets(override, steps)]
    args = dict(
        tokenizer=tokenizer, data=data, select=select or [], preset=preset, frames=frames, size=size, set=sets
    )
    run_command(out, "train diffusion", args, seed, lambda: train_diffusion(
        tokenizer, data, out, preset=preset, frames=frames, size=hw, cache=cache,
        text_encoder=text_encoder, overrides=sets, seed=seed, selection=selection(select),
    ))  # fmt: skip
    console.print(f"wrote {out / 'model'}")


@app.command("ar")
def ar(
    tokenizer: Annotated[Path, typer.Option("--tokenizer", help="Discrete (DV) tokenizer checkpoint dir.")],
    data: TrainData,
    out: Out,
    select: Select = None,
    preset: Annotated[str, typer.Option("--preset", help="tiny | small | 4b | 5b | 12b | 13b.")] = "tiny",
    frames: ClipFrames = 17,
    size: ClipSize = "64x64",
    cache: Cache = None,
    text_encoder: TextEncoderOpt = "minilm",
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Train a Llama-style AR world model on DV tokens (tokenized once into a cache)."""
    hw, sets = parse_size(size), train_sets(override, steps)
    args = dict(tokenizer=tokenizer, data=data, select=select or [], preset=preset, frames=frames, size=size,
                set=sets)  # fmt: skip
    run_command(out, "train ar", args, seed, lambda: train_ar(
        tokenizer, data, out, preset=preset, frames=frames, size=hw, cache=cache,
        text_encoder=text_encoder, overrides=sets, seed=seed, selection=selection(select),
    ))  # fmt: skip
    console.print(f"wrote {out / 'model'}")


@app.command("medusa")
def medusa(
    base: Annotated[Path, typer.Option("--base", help="AR world model dir (OUT/model of train ar).")],
    data: TrainData,
    out: Out,
    select: Select = None,
    heads: Annotated[int, typer.Option("--heads", help="Medusa heads (Cosmos: 7).")] = 7,
    joint: Annotated[bool, typer.Option("--joint", help="Also train the base (Medusa-2).")] = False,
    cache: Cache = None,
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Train Medusa heads on a frozen (or, with --joint, tuned) AR world model."""
    sets = train_sets(override, steps)
    args = dict(base=base, data=data, select=select or [], heads=heads, joint=joint, set=sets)
    run_command(out, "train medusa", args, seed, lambda: train_medusa(
        base, data, out, heads=heads, joint=joint, cache=cache, overrides=sets, seed=seed,
        selection=selection(select),
    ))  # fmt: skip
    console.print(f"wrote {out / 'medusa'}")


@app.command("diffusion-decoder")
def diffusion_decoder(
    dv: Annotated[Path, typer.Option("--dv", help="Discrete (DV) tokenizer dir (the AR model's).")],
    cv: Annotated[Path, typer.Option("--cv", help="Continuous (CV) tokenizer dir to decode with.")],
    data: TrainData,
    out: Out,
    select: Select = None,
    preset: Annotated[str, typer.Option("--preset", help="DiT preset: tiny | small | 7b | 14b.")] = "tiny",
    frames: ClipFrames = 17,
    size: ClipSize = "64x64",
    cache: Cache = None,
    steps: TrainSteps = None,
    override: Sets = None,
    seed: Seed = 0,
) -> None:
    """Train a diffusion decoder: a DiT mapping DV tokens to CV latents (decoded by the CV tokenizer)."""
    hw, sets = parse_size(size), train_sets(override, steps)
    args = dict(dv=dv, cv=cv, data=data, select=select or [], preset=preset, frames=frames, size=size,
                set=sets)  # fmt: skip
    run_command(out, "train diffusion-decoder", args, seed, lambda: train_diffusion_decoder(
        dv, cv, data, out, preset=preset, frames=frames, size=hw, cache=cache,
        overrides=sets, seed=seed, selection=selection(select),
    ))  # fmt: skip
    console.print(f"wrote {out / 'model'}")


@app.command("refiner")
def refiner(
    world: Annotated[Path, typer.Option("--world", help="World model dir (OUT/model of train diffusion).")],
    data: TrainData,
    out: Out,
    select: Select = None,
    cond_frames: CondFrames = 5,
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps.")] = 600,
    sample_steps: Annotated[int, typer.Option("--sample-steps", help="Sampler steps per prediction.")] = 10,
    seed: Seed = 0,
) -> None:
    """Train a context refiner on the world model's predictions of the clips (video2world --refiner)."""
    args = dict(world=world, data=data, select=select or [], cond_frames=cond_frames, steps=steps,
                sample_steps=sample_steps)  # fmt: skip
    run_command(out, "train refiner", args, seed, lambda: train_refiner_from_data(
        world, data, out, cond_frames=cond_frames, steps=steps, sample_steps=sample_steps, seed=seed,
        selection=selection(select),
    ))  # fmt: skip
    console.print(f"wrote {out / 'model'}")
