"""The one clip dataset every training command reads: windows of clips from any data source.

`open_data(data)` turns what a user passes as ``--data`` into a source of clips:
- the output folder of `worldsmith curate` (or its ``shards/``): `CuratedClips`, read through the
  manifest, optionally narrowed by a `Selection` of buckets and scores;
- a folder of videos (sim episodes, footage, any camera), or video files: `VideoFiles`;
- uint8 ``[T, H, W, 3]`` tensors already in memory: `InMemory`.

Every source yields `Clip`s (frames, fps, caption) and has a `fingerprint` that the latent / token
caches are keyed by. `ClipDataset` decodes them once, resizes each to cover `size` and
centre-crops, and cuts windows of `frames` frames every `stride`: items are float
``[3, T, H, W]`` in [-1, 1] and `captions[i]` is window i's caption.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import Dataset

from worldsmith.console import progress
from worldsmith.data.curated import CuratedClips, Selection, manifest_of
from worldsmith.data.videos import Clip, DataError, VideoFiles, fingerprint
from worldsmith.video.transforms import resize_center_crop, to_model


class ClipSource(Protocol):
    name: str  # how error messages name it, e.g. "--data 'runs/curated'"
    fingerprint: str

    def __len__(self) -> int: ...

    def clips(self, max_frames: int | None = None) -> Iterator[Clip]: ...


class InMemory:
    """Decoded videos uint8 ``[T, H, W, 3]`` (tests, benchmarks, the demo's own renders)."""

    def __init__(self, videos: Sequence[torch.Tensor], *, fps: float = 24.0, captions: Sequence[str] = ()):
        self.videos, self.fps = list(videos), fps
        self.captions = list(captions) or [""] * len(self.videos)
        self.name = f"{len(self.videos)} videos in memory"
        shapes = [list(v.shape) for v in self.videos]
        self.fingerprint = fingerprint({"shapes": shapes, "sums": [int(v.long().sum()) for v in self.videos],
                                        "captions": self.captions})  # fmt: skip

    def __len__(self) -> int:
        return len(self.videos)

    def clips(self, max_frames: int | None = None) -> Iterator[Clip]:
        for i, (v, caption) in enumerate(zip(self.videos, self.captions, strict=True)):
            yield Clip(str(i), v[:max_frames], self.fps, caption)


def open_data(data: Any, selection: Selection | None = None) -> ClipSource:
    """The clip source for `data`: a curate output folder, a folder of videos or video files, tensors,
    or a source already opened (returned as is). `selection` applies to curated data only."""
    if hasattr(data, "clips") and hasattr(data, "fingerprint"):
        return data
    if isinstance(data, torch.Tensor) or (isinstance(data, (list, tuple)) and data
                                          and isinstance(data[0], torch.Tensor)):  # fmt: skip
        return InMemory([data] if isinstance(data, torch.Tensor) else data)
    manifest = manifest_of(data) if isinstance(data, (str, os.PathLike)) else None
    if manifest is not None:
        return CuratedClips(manifest, selection)
    if selection:
        raise DataError(
            f"{selection.describe()} selects curated clips by the manifest, but --data '{data}' is not "
            "the output folder of `worldsmith curate`; drop the filter or pass the curated folder"
        )
    return VideoFiles(data)


def iter_windows(
    source: ClipSource,
    *,
    frames: int,
    size: tuple[int, int] | None = None,
    stride: int | None = None,
    max_frames: int | None = None,
    label: str = "decode clips",
) -> Iterator[tuple[Clip, torch.Tensor]]:
    """``(clip, window)`` for every window (uint8 ``[frames, H, W, 3]``, every `stride` frames, default
    `frames`) of every clip of `source`, resized to cover `size` and centre-cropped; one clip is
    decoded at a time, with a progress bar named `label`."""

    stride = stride or frames
    if frames < 1 or stride < 1:
        raise DataError(f"clip windows need frames >= 1 and stride >= 1, got {frames} and {stride}")
    n = 0
    with progress() as bar:
        task = bar.add_task(label, total=len(source))
        for clip in source.clips(max_frames):
            video = resize_center_crop(clip.frames, tuple(size)) if size else clip.frames
            for t in range(0, video.shape[0] - frames + 1, stride):
                n += 1
                yield clip, video[t : t + frames]
            bar.advance(task)
    if not n:
        raise DataError(f"no clip of {source.name} has {frames} frames; lower --frames or pass longer clips")


class ClipDataset(Dataset):
    """Windows of `frames` frames (every `stride`, default `frames`: no overlap) from every clip of
    `data` (see `open_data`), resized to cover `size` (height, width) and centre-cropped; at most
    `max_frames` frames of each clip are decoded. Items: float ``[3, T, H, W]`` in [-1, 1]."""

    def __init__(
        self,
        data: Any,
        *,
        frames: int,
        size: tuple[int, int] | None = None,
        stride: int | None = None,
        max_frames: int | None = None,
        selection: Selection | None = None,
    ):
        source = open_data(data, selection)
        self.windows: list[torch.Tensor] = []  # uint8 [T, H, W, 3] views of the resized clips
        self.captions: list[str] = []
        self.keys: list[str] = []
        self.fps = 0.0  # the first clip's that has one
        for clip, window in iter_windows(
            source, frames=frames, size=size, stride=stride, max_frames=max_frames
        ):
            self.windows.append(window)
            self.captions.append(clip.caption)
            self.keys.append(clip.key)
            self.fps = self.fps or clip.fps
        self.fps = self.fps or 24.0
        self.source = source
        self.fingerprint = fingerprint(
            {
                "data": source.fingerprint,
                "frames": frames,
                "size": size,
                "stride": stride or frames,
                "max": max_frames,
            }
        )

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return to_model(self.windows[i])  # [3, T, H, W] in [-1, 1]
