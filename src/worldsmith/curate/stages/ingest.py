"""Ingest: find videos under the input and probe them; a bad file becomes a recorded failure."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from worldsmith.config import check
from worldsmith.curate.stage import Resources, guard_video
from worldsmith.curate.tasks import VideoTask, video_id
from worldsmith.data import VIDEO_SUFFIXES
from worldsmith.data import find_videos as find_video_files
from worldsmith.video.io import probe


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    extensions: tuple[str, ...] = VIDEO_SUFFIXES
    max_pixels: int = 3840 * 2160  # larger frames are refused (decoding them would blow memory)
    min_seconds: float = 0.0  # shorter videos are refused before any decoding

    def __post_init__(self) -> None:
        check(self.max_pixels > 0, "ingest.max_pixels", self.max_pixels, "must be positive")


def find_videos(root: str | os.PathLike, extensions=VIDEO_SUFFIXES) -> list[VideoTask]:
    """Every file under `root` (recursively; or `root` itself) whose suffix is a video extension,
    sorted by path so that every run sees the same order."""
    root = Path(root)
    paths = find_video_files(root, extensions=extensions, what="curate input", required=False)
    base = root.parent if root.is_file() else root
    return [VideoTask(path=str(p), video_id=video_id(p, base)) for p in paths]


class IngestStage:
    """Probe each video (no decoding); unreadable, audio-only and oversized files fail here."""

    name = "ingest"
    resources = Resources(cpus=0.5)

    def __init__(self, config: IngestConfig | None = None):
        self.config = config or IngestConfig()

    def setup(self) -> None:
        pass

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        for video in batch:
            if not video.error:
                guard_video(self.name, video, self._probe, video)
        return batch

    def _probe(self, video: VideoTask) -> None:

        info = probe(video.path)
        video.fps, video.num_frames, video.duration = info.fps, info.num_frames, info.duration
        video.width, video.height = info.width, info.height
        if not (info.fps > 0 and info.num_frames > 0):
            video.fail(self.name, f"no frames or no frame rate (fps={info.fps}, frames={info.num_frames})")
        elif info.width * info.height > self.config.max_pixels:
            video.fail(
                self.name,
                f"resolution {info.width}x{info.height} exceeds ingest.max_pixels={self.config.max_pixels}; "
                "downscale it or raise the limit",
            )
        elif info.duration < self.config.min_seconds:
            video.fail(self.name, f"{info.duration:.2f} s is shorter than ingest.min_seconds")
