"""Top-level commands: probe, shots, demo."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from worldsmith.cli.common import AsJson, Out, Seed, run_command
from worldsmith.console import console
from worldsmith.curate.shots import ClipRules, shots_table, split_video, write_clips
from worldsmith.demo import run_demo
from worldsmith.video.io import probe as probe_video


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
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write each clip to OUT/clip_NNN.mp4 (+ run.json).")
    ] = None,
    seed: Seed = 0,
) -> None:
    """Find shot boundaries and the clips they give; --out writes the clips. Clips are shots of 2 s
    or more (--min-seconds), longer ones split at 60 s (--max-seconds); without --out, the frame
    ranges are printed (a table, or --json)."""
    rules = ClipRules(min_seconds=min_seconds, max_seconds=max_seconds, trim_seconds=trim_seconds)

    def work() -> dict:
        result = split_video(video, detector, rules)
        if out is not None:
            result["written"] = [str(p) for p in write_clips(video, result["clips"], out)]
        return result

    args = {"video": video, "detector": detector, **asdict(rules)}
    result = work() if out is None else run_command(out, "shots", args, seed, work)
    if as_json:
        keys = ("video", "fps", "num_frames", "cuts", "shots", "clips")
        typer.echo(json.dumps({k: result[k] for k in keys}))
    else:
        Console().print(shots_table(result))
    if out is not None:
        console.print(f"wrote {len(result['written'])} clips to {out}")


def demo(
    out: Out = Path("runs/demo"),
    seed: Seed = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smallest sizes (for tests).")] = False,
) -> None:
    """Run the main job end to end and write an HTML report under --out."""
    run_demo(out, seed=seed, quick=quick)


COMMANDS = {"probe": probe, "shots": shots, "demo": demo}
