"""Split: shot detection + clip rules (drop < 2 s, split > 60 s) through `curate.shots.split_video`."""

from __future__ import annotations

from dataclasses import dataclass

from worldsmith.config import check
from worldsmith.curate.shots import DETECTORS, ClipRules, split_video
from worldsmith.curate.stage import Resources, guard_video
from worldsmith.curate.tasks import ClipTask, VideoTask


@dataclass(frozen=True, kw_only=True)
class SplitConfig:
    detector: str = "content"
    min_seconds: float = 2.0
    max_seconds: float = 60.0
    trim_seconds: float = 0.0

    def __post_init__(self) -> None:
        check(
            self.detector in DETECTORS, "split.detector", self.detector, f"must be one of {list(DETECTORS)}"
        )
        ClipRules(min_seconds=self.min_seconds, max_seconds=self.max_seconds, trim_seconds=self.trim_seconds)


class SplitStage:
    name = "split"
    resources = Resources(cpus=1.0)

    def __init__(self, config: SplitConfig | None = None):
        self.config = config or SplitConfig()
        c = self.config
        self.rules = ClipRules(
            min_seconds=c.min_seconds, max_seconds=c.max_seconds, trim_seconds=c.trim_seconds
        )

    def setup(self) -> None:
        pass

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        for video in batch:
            if not video.error:
                guard_video(self.name, video, self._split, video)
        return batch

    def _split(self, video: VideoTask) -> None:
        result = split_video(video.path, self.config.detector, self.rules)
        video.clips = [
            ClipTask(clip_id=f"{video.video_id}_{k:04d}", source=video.path, start=a, end=b, fps=video.fps)
            for k, (a, b) in enumerate(result["clips"])
        ]
