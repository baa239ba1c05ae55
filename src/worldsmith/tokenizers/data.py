"""Training clips for tokenizers: windows of ``1 + k s_t`` frames cut from video files.

Videos (sim episodes, curated clips or real footage) are decoded once, resized so the short side
is `size`, centre-cropped to ``size x size`` and cut into overlapping windows; items are float
``[3, T, H, W]`` in [-1, 1]. Because the tokenizer encodes frame 0 on its own, every video window
also trains the image (one-frame) path: joint image and video training from the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from worldsmith.errors import WorldsmithError
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop, to_model

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


class TokenizerDataError(WorldsmithError):
    """No usable training videos were found."""


def find_videos(source: str | Path | Sequence[str | Path]) -> list[Path]:
    """Video files under a folder (recursively), or the given files."""
    items = [source] if isinstance(source, (str, Path)) else list(source)
    found: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        elif item.is_file():
            found.append(item)
        else:
            raise TokenizerDataError(
                f"training data '{item}' does not exist; pass a folder of videos or video files"
            )
    if not found:
        raise TokenizerDataError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {items}")
    return found


def load_frames(path: str | Path, *, size: int, max_frames: int | None = None) -> torch.Tensor:
    """Decode a video, resize-and-crop to ``size x size``: uint8 ``[T, size, size, 3]``."""
    video = io.read(path, end=max_frames)
    return resize_center_crop(video.frames, (size, size))


class ClipDataset(Dataset):
    """Windows of `frames` frames (stride `stride`) from videos, as float ``[3, T, size, size]``."""

    def __init__(
        self,
        videos: Sequence[torch.Tensor],
        *,
        frames: int,
        stride: int | None = None,
    ):
        stride = stride or max(1, frames // 2)
        self.windows: list[torch.Tensor] = []
        for v in videos:  # uint8 [T, H, W, 3]
            for t in range(0, v.shape[0] - frames + 1, stride):
                self.windows.append(v[t : t + frames])
        if not self.windows:
            raise TokenizerDataError(f"no video has {frames} frames; use shorter windows or longer videos")

    @classmethod
    def from_files(
        cls, source, *, frames: int, size: int, stride: int | None = None, max_frames: int | None = 400
    ) -> ClipDataset:
        return cls([load_frames(p, size=size, max_frames=max_frames) for p in find_videos(source)],
                   frames=frames, stride=stride)  # fmt: skip

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return to_model(self.windows[i])  # [3, T, H, W] in [-1, 1]
