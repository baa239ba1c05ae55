"""`worldsmith convert`: released checkpoints into worldsmith's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import Out, Seed, run_command
from worldsmith.console import console
from worldsmith.diffusion.convert import convert_diffusers

app = typer.Typer(help="Convert released checkpoints to worldsmith's layout.", no_args_is_help=True)


@app.command("diffusers")
def diffusers(
    src: Annotated[Path, typer.Argument(help="diffusers Cosmos-1.0 pipeline dir (transformer/, vae/).")],
    out: Out,
    seed: Seed = 0,
) -> None:
    """Convert a diffusers Cosmos-1.0 Text2World/Video2World pipeline into a worldsmith checkpoint."""
    run_command(out, "convert diffusers", {"src": src}, seed, lambda: convert_diffusers(src, out))
    console.print(f"wrote {out}")
