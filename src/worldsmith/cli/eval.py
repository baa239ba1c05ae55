"""`worldsmith eval`: 3D consistency, physics alignment, multi-view consistency of videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import print_json
from worldsmith.console import console
from worldsmith.eval import files

app = typer.Typer(
    help="Evaluate videos: 3D consistency, physics alignment, multi-view.", no_args_is_help=True
)


Upscale = Annotated[int, typer.Option(help="Match on frames enlarged this much (small videos: 3).")]
Contrast = Annotated[
    float, typer.Option(help="SIFT contrast threshold; lower finds more keypoints in small frames (0.01).")
]


def _matching(upscale: int, contrast_threshold: float) -> dict:
    if upscale < 1 or contrast_threshold <= 0:
        raise typer.BadParameter(
            f"need --upscale >= 1 and --contrast-threshold > 0, got {upscale}, {contrast_threshold}"
        )
    return {"upscale": upscale, "contrast_threshold": contrast_threshold}


def _print_scores(result: dict) -> None:
    """The JSON on stdout; why any score is null, one line each on stderr."""
    for key, why in result.get("why", {}).items():
        console.print(f"[yellow]{key} is null:[/] {why}", soft_wrap=True)
    print_json(result)


@app.command("geometry")
def geometry(
    target: Annotated[Path, typer.Argument(help="A video file, or a sim episode folder (uses its true K).")],
    gap: Annotated[int, typer.Option(help="Frame distance of the compared pairs.")] = 4,
    upscale: Upscale = 1,
    contrast_threshold: Contrast = 0.04,
) -> None:
    """3D consistency: SIFT + RANSAC fundamental matrix, mean Sampson error, pose success."""
    if gap < 1:
        raise typer.BadParameter(f"need --gap >= 1, got {gap}")
    opts = {"gap": gap, **_matching(upscale, contrast_threshold)}
    console.print(f"[dim]3D consistency of {target}: SIFT matches, RANSAC, Sampson error[/]")
    score = files.episode_geometry if target.is_dir() else files.geometry
    _print_scores(score(target, **opts))


@app.command("physics")
def physics(
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
    console.print(f"[dim]physics alignment of {prediction} against {episode} and the baselines[/]")
    print_json(
        files.physics(prediction, episode, cond=cond, lpips_backbone=lpips_backbone, lpips_net=lpips_net)
    )


@app.command("multiview")
def multiview(
    episode: Annotated[Path, typer.Argument(help="Multi-camera sim episode folder.")],
    upscale: Upscale = 1,
    contrast_threshold: Contrast = 0.04,
) -> None:
    """Multi-view consistency: temporal (TSE) and cross-view (CSE) Sampson errors."""
    console.print(f"[dim]multi-view consistency of {episode}: temporal and cross-view Sampson errors[/]")
    _print_scores(files.multiview(episode, **_matching(upscale, contrast_threshold)))
