"""`worldsmith sim`: digital twins (MuJoCo scenes rendered to video with exact ground truth)."""

from __future__ import annotations

from typing import Annotated

import typer

from worldsmith.cli.common import Out, Seed, run_command
from worldsmith.console import console
from worldsmith.sim import SCENARIOS
from worldsmith.sim.catalogue import build_scene
from worldsmith.sim.dataset import DatasetConfig, scenario_list, write_dataset
from worldsmith.sim.footage import write_footage

app = typer.Typer(help="Digital twins: MuJoCo scenes rendered to video with exact ground truth.",
                  no_args_is_help=True)  # fmt: skip


@app.command("list")
def list_() -> None:
    """List the scenarios with one-line descriptions."""
    for s in SCENARIOS.values():
        tag = " [physics]" if s.physics_alignment else ""
        typer.echo(f"{s.name:<11} {s.description}{tag}")


def default_cameras(scenarios: tuple[str, ...]) -> int:
    """The rig size when every scenario films with a camera rig (drive), else one camera."""
    rigs = {len(build_scene(name, 0).rig) for name in scenarios if name in SCENARIOS}
    return rigs.pop() if len(rigs) == 1 and 0 not in rigs else 1


@app.command("run")
def run(
    scenario: Annotated[
        str, typer.Argument(help="Scenario name, a comma list, 'physics', 'robot' or 'all'.")
    ],
    out: Out,
    seed: Seed = 0,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 8,
    frames: Annotated[int, typer.Option(help="Frames per episode.")] = 33,
    size: Annotated[int, typer.Option(help="Frame height and width in pixels.")] = 128,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 10.0,
    cameras: Annotated[
        int | None,
        typer.Option(help="Synchronised cameras per episode (default: a scenario's rig, drive: 6; else 1)."),
    ] = None,
    camera_mode: Annotated[str, typer.Option(help="static|orbit|pan|dolly|truck|crane|mixed.")] = "static",
    masks: Annotated[bool, typer.Option(help="Write instance masks.")] = True,
    depth: Annotated[bool, typer.Option(help="Write metric depth.")] = True,
    workers: Annotated[int, typer.Option(help="Rendering processes.")] = 1,
) -> None:
    """Render episodes (videos + ground truth) under --out; finished episodes are skipped."""
    if cameras is None:
        cameras = default_cameras(scenario_list(scenario))
    config = DatasetConfig(scenarios=scenario_list(scenario), episodes=episodes, frames=frames, size=size,
                           fps=fps, cameras=cameras, camera_mode=camera_mode, masks=masks, depth=depth,
                           seed=seed)  # fmt: skip
    args = {"scenario": scenario, "workers": workers, "out": out, **vars(config)}
    summary = run_command(out, "sim run", args, seed, lambda: write_dataset(config, out, workers=workers))
    console.print(f"{summary['written']} episodes written, {summary['skipped']} skipped, "
                  f"{summary['frames_per_s']} frames/s; index in {out / 'index.json'}")  # fmt: skip


@app.command("footage")
def footage(
    out: Out,
    seed: Seed = 0,
    videos: Annotated[int, typer.Option(help="Number of long videos.")] = 1,
    seconds: Annotated[float, typer.Option(help="Approximate length of each video.")] = 120.0,
    height: Annotated[int, typer.Option(help="Frame height.")] = 72,
    width: Annotated[int, typer.Option(help="Frame width.")] = 128,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 10.0,
) -> None:
    """Write long videos joining episodes with cuts, dissolves and fades, plus true shot boundaries."""
    args = {"videos": videos, "seconds": seconds, "height": height, "width": width, "fps": fps, "out": out}
    result = run_command(out, "sim footage", args, seed, lambda: {"videos": write_footage(
        out, videos=videos, seed=seed, total_seconds=seconds, size=(height, width), fps=fps)})  # fmt: skip
    console.print(f"wrote {len(result['videos'])} videos with ground truth under {out}")
