"""Split: shot detection + clip rules (drop < 2 s, split > 60 s) through `curate.shots`.

With the `content` detector the source is decoded once here: the detector gets its thumbnails from
the decoded frames, and the frames themselves go to `curate.frames.CACHE` for transcode (when the
video fits in ``share_mb``), which then needs no second decode. Other detectors decode on their own
(`split_video`) and transcode decodes again.
"""

from __future__ import annotations

from dataclasses import dataclass

from worldsmith.config import check
from worldsmith.curate import frames as shared
from worldsmith.curate.shots import (
    DETECTORS,
    ClipRules,
    apply_clip_rules,
    cuts_to_shots,
    get_detector,
    split_video,
)
from worldsmith.curate.shots.content import decode_size, plane_features
from worldsmith.curate.stage import Resources, guard_video
from worldsmith.curate.tasks import ClipTask, VideoTask
from worldsmith.video.io import iter_av_frames, reformat


@dataclass(frozen=True, kw_only=True)
class SplitConfig:
    detector: str = "content"
    min_seconds: float = 2.0
    max_seconds: float = 60.0
    trim_seconds: float = 0.0
    share_mb: int = 512  # decoded frames kept for transcode when a video fits (0 = decode twice)

    def __post_init__(self) -> None:
        check(
            self.detector in DETECTORS, "split.detector", self.detector, f"must be one of {list(DETECTORS)}"
        )
        check(self.share_mb >= 0, "split.share_mb", self.share_mb, "must be >= 0")
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
        self.detector = None

    def setup(self) -> None:
        if self.detector is None:
            self.detector = get_detector(self.config.detector)
            shared.CACHE.max_bytes = self.config.share_mb << 20

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        self.setup()
        for video in batch:
            if not video.error:
                guard_video(self.name, video, self._split, video)
        return batch

    def _split(self, video: VideoTask) -> None:
        if self.config.detector == "content":
            clips = self._split_decode_once(video)
        else:
            clips = split_video(video.path, self.detector, self.rules)["clips"]
        video.clips = [
            ClipTask(clip_id=f"{video.video_id}_{k:04d}", source=video.path, start=a, end=b, fps=video.fps)
            for k, (a, b) in enumerate(clips)
        ]

    def _split_decode_once(self, video: VideoTask) -> list[tuple[int, int]]:
        """`split_video` with the content detector, keeping the decoded frames for transcode.

        The detector's features come from the same small yuv420p planes its own `features()` makes
        (swscale's area filter to `decode_size`), so the cuts are the same as `split_video`'s
        (a test checks it).
        """
        import numpy as np

        det = self.detector
        h, w = decode_size(video.height, video.width, det.width)
        budget = shared.CACHE.max_bytes
        keep = budget > 0 and video.num_frames * video.width * video.height * 3 // 2 <= budget
        decoded: shared.IndexedFrames = []
        nbytes = 0
        small = []  # I420 buffers [3h/2, w], a few KB a frame
        for index, frame in iter_av_frames(video.path):
            small.append(reformat(frame, w, h, "yuv420p").to_ndarray())
            if keep:
                decoded.append((index, frame))
                nbytes += shared.frame_bytes(frame)
                keep = nbytes <= budget  # the header undercounted: give up sharing
                if not keep:
                    decoded.clear()
        if keep:
            shared.CACHE.put(shared.source_key(video.path), decoded, nbytes)
        del decoded
        if not small:
            return []
        yuv = np.stack(small)  # [N, 3h/2, w]
        y, chroma = yuv[:, :h], yuv[:, h:].reshape(len(yuv), 2, h // 2, w // 2)
        cuts = det.detect_features(*plane_features(y, chroma[:, 0], chroma[:, 1]), y)
        cuts = [c for c in cuts if 0 < c < video.num_frames]
        return apply_clip_rules(cuts_to_shots(cuts, video.num_frames), video.fps, self.rules)
