"""Top-level commands: version, probe, shots, demo."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from worldsmith.cli.common import AsJson, Out, Seed
from worldsmith.curate.shots import ClipRules, shots_table, split_video
from worldsmith.demo import run_demo
from worldsmith.runs import versions
from worldsmith.video.io import probe as probe_video


def version() -> None:
    """Print the versions of worldsmith, torch and PyAV."""
    v = versions()
    typer.echo(f"worldsmith {v['worldsmith']}\ntorch {v['torch']}\nav {v['av']}\npython {v['python']}")


def probe(
    video: Annotated[Path, typer.Argument(help="Video file to inspect.")], as_json: AsJson = False
) -> None:
    """Show a video's frame rate, frame count, duration, size and codec."""
    info = asdict(probe_video(video))
    if as_json:
        typer.echo(json.dumps(info))
    else:
        for key, value in info.items():
            typer.echo(f"{key:>10}: {value}")


def shots(
    video: Annotated[Path, typer.Argument(help="Video file to split into shots.")],
    detector: Annotated[
        str,
        typer.Option(help="content, transnetv2, pyscenedetect or pyscenedetect-adaptive."),
    ] = "content",
    as_json: AsJson = False,
    min_seconds: Annotated[float, typer.Option(help="Drop shots shorter than this.")] = 2.0,
    max_seconds: Annotated[float, typer.Option(help="Split shots longer than this.")] = 60.0,
    trim_seconds: Annotated[float, typer.Option(help="Trim from both ends of every shot.")] = 0.0,
) -> None:
    """Find shot boundaries and the clips they give (drop < 2 s, split > 60 s); prints the ranges."""
    rules = ClipRules(min_seconds=min_seconds, max_seconds=max_seconds, trim_seconds=trim_seconds)
    result = split_video(video, detector, rules)
    if as_json:
        keys = ("video", "fps", "num_frames", "cuts", "shots", "clips")
        typer.echo(json.dumps({k: result[k] for k in keys}))
    else:
        Console().print(shots_table(result))


def demo(
    out: Out = Path("runs/demo"),
    seed: Seed = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smallest sizes (for tests).")] = False,
) -> None:
    """Run the main job end to end and write an HTML report under --out."""
    run_demo(out, seed=seed, quick=quick)


COMMANDS = {"version": version, "probe": probe, "shots": shots, "demo": demo}
