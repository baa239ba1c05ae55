"""Decode once: decoded frames handed from stage to stage inside one process.

Split decodes every frame of a source for shot detection; transcode needs the same frames again,
and filter and embed need some of the clip's frames. Rather than decoding the source a second time
and each transcoded clip twice more, the stages of one process pass `av.VideoFrame`s on through
`CACHE`, a small LRU cache bounded in bytes (set from ``split.share_mb``):

- split puts a source's frames under its path (when they fit in the budget);
- transcode takes them, scales them to the output size (yuv420p, no RGB round trip) and puts the
  clip's encoder input under the clip id;
- filter and embed pick their samples from the clip's encoder input.

A miss (another process on Ray, an evicted or oversized entry) decodes the same frames from the
source (`clip_frames`), so no result depends on a hit: filter and embed score the frames the encoder
was given, never the decoded output of our own lossy encode. Frames never enter a `VideoTask`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import av

from worldsmith.curate.tasks import ClipTask
from worldsmith.video.io import iter_av_frames, reformat

IndexedFrames = list[tuple[int, av.VideoFrame]]  # (frame index in the source, frame)


def frame_bytes(frame: av.VideoFrame) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


class FrameCache:
    """Least recently used entries of decoded frames, at most `max_bytes` in all (0 = off)."""

    def __init__(self, max_bytes: int = 512 << 20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[list, int]] = OrderedDict()
        self.nbytes = 0

    def put(self, key: str, frames: list, nbytes: int) -> bool:
        """Keep `frames` (of `nbytes`) under `key`, evicting old entries; False when too large."""
        self.pop(key)
        if nbytes > self.max_bytes:
            return False
        while self._items and self.nbytes + nbytes > self.max_bytes:
            _, (_, size) = self._items.popitem(last=False)
            self.nbytes -= size
        self._items[key] = (frames, nbytes)
        self.nbytes += nbytes
        return True

    def get(self, key: str) -> list | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def pop(self, key: str) -> list | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self.nbytes -= item[1]
        return item[0]

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0

    def __contains__(self, key: str) -> bool:
        return key in self._items


CACHE = FrameCache()  # one per process, like functools.lru_cache


def source_stride(fps: float, max_fps: float) -> int:
    """Keep every k-th source frame so that the clip runs at no more than `max_fps`."""
    return max(1, math.ceil(fps / max_fps - 1e-6))


def to_yuv(frame: av.VideoFrame, size: tuple[int, int]) -> av.VideoFrame:
    """A decoded frame as yuv420p at (height, width): the encoder's input (area filter to shrink)."""

    h, w = size
    if (frame.height, frame.width) == (h, w) and frame.format.name == "yuv420p":
        return frame
    return reformat(frame, w, h, "yuv420p")


def select(frames: IndexedFrames, start: int, end: int, stride: int) -> Iterator[av.VideoFrame]:
    """Frames ``start, start+stride, ... < end`` of a decoded source, by index (as `iter_av_frames`)."""
    for index, frame in frames:
        if start <= index < end and (index - start) % stride == 0:
            yield frame


def encoder_input(
    source: str, start: int, end: int, stride: int, size: tuple[int, int], decoded: IndexedFrames | None
) -> Iterator[av.VideoFrame]:
    """The frames the encoder gets for a clip: from `decoded` when split kept them, else decoded."""

    frames: Iterable[av.VideoFrame] = (
        select(decoded, start, end, stride)
        if decoded is not None
        else (f for _, f in iter_av_frames(source, start=start, end=end, stride=stride))
    )
    for frame in frames:
        yield to_yuv(frame, size)


def clip_frames(clip: ClipTask, every: int = 1, limit: int | None = None) -> list[av.VideoFrame]:
    """Frames 0, every, 2*every, ... of a transcoded clip's encoder input (at most `limit`): from
    `CACHE` when transcode ran in this process, else decoded from the source again."""
    cached = CACHE.get(clip_key(clip))
    if cached is not None:
        return cached[::every][:limit]
    stride = max(1, round(clip.fps / clip.clip_fps)) if clip.clip_fps else 1
    frames = encoder_input(clip.source, clip.start, clip.end, stride * every, (clip.height, clip.width), None)
    return [f for _, f in zip(range(limit if limit is not None else clip.num_frames), frames, strict=False)]


def clip_key(clip: ClipTask) -> str:
    return f"clip:{clip.clip_id}"


def source_key(path: str) -> str:
    return f"source:{path}"
