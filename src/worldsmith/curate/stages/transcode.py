"""Transcode: each clip to an H.264 mp4 with a maximum height, a maximum fps and a crf.

Frames stream from the decoder into the encoder (one frame in memory at a time) and the file is
written atomically, so an interrupted run leaves no half clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from worldsmith import fs
from worldsmith.config import check
from worldsmith.curate.stage import ClipStage, Resources
from worldsmith.curate.tasks import ClipTask


@dataclass(frozen=True, kw_only=True)
class TranscodeConfig:
    max_height: int = 480  # taller clips are scaled down (aspect kept, even sizes)
    max_fps: float = 30.0  # faster clips keep every k-th frame
    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        check(self.max_height >= 16, "transcode.max_height", self.max_height, "must be >= 16")
        check(self.max_fps > 0, "transcode.max_fps", self.max_fps, "must be > 0")
        check(0 <= self.crf <= 51, "transcode.crf", self.crf, "must be in [0, 51]")


def output_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    """(height, width) after scaling down to `max_height`, both even (yuv420p)."""
    if height > max_height:
        width, height = width * max_height / height, max_height
    return max(2, int(round(height / 2)) * 2), max(2, int(round(width / 2)) * 2)


class TranscodeStage(ClipStage):
    name = "transcode"
    resources = Resources(cpus=1.0)

    def __init__(self, clip_dir: str | Path, config: TranscodeConfig | None = None):
        self.clip_dir = Path(clip_dir)
        self.config = config or TranscodeConfig()

    def process_clip(self, clip: ClipTask) -> None:
        from worldsmith.video.io import iter_frames, probe

        c = self.config
        info = probe(clip.source)
        stride = max(1, math.ceil(clip.fps / c.max_fps - 1e-6))
        h, w = output_size(info.width, info.height, c.max_height)
        out = self.clip_dir / f"{clip.clip_id}.mp4"
        n = 0
        rate = Fraction(clip.fps / stride).limit_denominator(1001)
        with fs.atomic_path(out) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(c.crf), "preset": c.preset}
            for image in iter_frames(clip.source, start=clip.start, end=clip.end, stride=stride, size=(h, w)):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                n += 1
            container.mux(stream.encode(None))
            if n == 0:
                raise ValueError(f"no frames decoded in [{clip.start}, {clip.end})")
        clip.path, clip.width, clip.height, clip.num_frames = str(out), w, h, n
        clip.clip_fps = round(float(rate), 4)
