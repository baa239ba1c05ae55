"""Shot detection and clip rules: the first step of curation.

    from worldsmith.curate.shots import split_video
    result = split_video("raw.mp4", detector="content")   # cuts, shots and clips (frame indices)

Detectors (by name, see `DETECTORS`): `content` (ours), `transnetv2` (the learned detector Cosmos
uses), `pyscenedetect` and `pyscenedetect-adaptive` (PySceneDetect's Content/AdaptiveDetector).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from worldsmith.console import progress
from worldsmith.curate.shots.base import ShotDetector, ShotError, cuts_to_shots
from worldsmith.curate.shots.registry import DETECTORS, get_detector
from worldsmith.curate.shots.rules import ClipRules, apply_clip_rules
from worldsmith.video import io
from worldsmith.video.io import probe

__all__ = [
    "DETECTORS",
    "ClipRules",
    "ShotDetector",
    "ShotError",
    "apply_clip_rules",
    "cuts_to_shots",
    "get_detector",
    "shots_table",
    "split_video",
    "write_clips",
]


def split_video(
    path: str | os.PathLike,
    detector: str | ShotDetector = "content",
    rules: ClipRules | None = None,
) -> dict[str, Any]:
    """Detect shots in `path` and apply the clip rules.

    Returns ``{"video", "fps", "num_frames", "detector", "cuts", "shots", "clips"}``, where `shots`
    and `clips` are half-open ``[start, end)`` frame ranges (the CLI's `--json` schema).
    """

    info = probe(path)
    det = get_detector(detector) if isinstance(detector, str) else detector
    cuts = [c for c in det.detect(path) if 0 < c < info.num_frames]
    shots = cuts_to_shots(cuts, info.num_frames)
    clips = apply_clip_rules(shots, info.fps, rules)
    return {
        "video": str(path),
        "fps": info.fps,
        "num_frames": info.num_frames,
        "detector": getattr(det, "name", type(det).__name__),
        "cuts": cuts,
        "shots": [list(s) for s in shots],
        "clips": [list(c) for c in clips],
    }


def write_clips(path: str | os.PathLike, clips: list, out: str | os.PathLike) -> list[Path]:
    """Write each ``[start, end)`` frame range of video `path` to ``out/clip_NNN.mp4``."""

    written = []
    with progress() as bar:
        task = bar.add_task("write clips", total=len(clips))
        for k, (start, end) in enumerate(clips):
            video = io.read(path, start=start, end=end)
            written.append(io.write(Path(out) / f"clip_{k:03d}.mp4", video.frames, fps=video.fps))
            bar.advance(task)
    return written


def shots_table(result: dict[str, Any]):
    """A rich Table of `split_video`'s shots (frames, seconds) and whether each became clips."""
    from rich.table import Table

    fps = result["fps"] or 1.0
    table = Table(
        title=f"{result['video']}: {len(result['shots'])} shots, {len(result['clips'])} clips "
        f"({result['num_frames']} frames at {result['fps']:.2f} fps, detector {result['detector']})"
    )
    for col in ("shot", "frames", "start s", "length s", "clips"):
        table.add_column(col, justify="right")
    for k, (start, end) in enumerate(result["shots"]):
        clips = [c for c in result["clips"] if start <= c[0] and c[1] <= end]
        table.add_row(
            str(k),
            f"{start}-{end}",
            f"{start / fps:.2f}",
            f"{(end - start) / fps:.2f}",
            ", ".join(f"{a}-{b}" for a, b in clips) or "dropped",
        )
    return table
