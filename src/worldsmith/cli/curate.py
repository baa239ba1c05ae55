"""`worldsmith curate`: raw videos -> captioned, filtered, de-duplicated webdataset shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import Out, Seed, Sets
from worldsmith.curate.pipeline import run_cli


def curate(
    input: Annotated[Path, typer.Argument(help="A video file or a folder of videos (searched recursively).")],
    out: Out,
    runner: Annotated[str, typer.Option(help="sequential (in-process) or ray.")] = "sequential",
    config: Annotated[Path | None, typer.Option("--config", help="YAML/JSON CurateConfig file.")] = None,
    set_: Sets = None,
    ray_address: Annotated[str | None, typer.Option(help="Existing Ray cluster (else a local one).")] = None,
    workers: Annotated[int, typer.Option(help="Ray actors per stage.")] = 2,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any input video failed.")] = False,
    seed: Seed = 0,
) -> None:
    """Curate raw videos into captioned, filtered, de-duplicated webdataset shards (resumable)."""
    code = run_cli(input, out, runner=runner, config=config, overrides=[f"dedup.seed={seed}", *(set_ or [])],
                   ray_address=ray_address, workers=workers, strict=strict, seed=seed)  # fmt: skip
    if code:
        raise typer.Exit(code)


COMMANDS = {"curate": curate}
