"""The one video finder: every video file under a folder (recursively), sorted, or the given files.

Training commands (`--data DIR`) and `worldsmith curate` find their inputs through it, so a suffix
that one of them reads the other reads too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldsmith.data.captions import sidecar_caption
from worldsmith.errors import WorldsmithError
from worldsmith.video import io

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts")


class DataError(WorldsmithError):
    """Training data cannot be found, read or selected; the message names the input and the fix."""


def find_videos(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    extensions: Sequence[str] = VIDEO_SUFFIXES,
    what: str = "--data",
    required: bool = True,
) -> list[Path]:
    """Video files under each folder of `source` (recursively, sorted by path) and its files as given.

    Raises `DataError` naming `what` for a path that does not exist and, when `required`, when
    no video is found.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    exts = {e.lower() for e in extensions}
    found: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in exts)
        elif item.is_file():
            found.append(item)
        else:
            raise DataError(f"{what} '{item}' does not exist; pass a folder of videos or video files")
    if required and not found:
        names = ", ".join(str(i) for i in items)
        raise DataError(
            f"{what} '{names}' holds no video files ({', '.join(extensions)}); pass a folder of videos "
            "or the output folder of `worldsmith curate`"
        )
    return found


@dataclass(frozen=True)
class Clip:
    """One decoded video or curated clip, with the caption that came with it."""

    key: str
    frames: torch.Tensor  # uint8 [T, H, W, 3]
    fps: float
    caption: str = ""


def fingerprint(value: Any) -> str:
    """A short stable hash of a JSON-able value (cache keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class VideoFiles:
    """Videos found under folders or given as files (`find_videos`), with their sidecar captions.

    `fingerprint` hashes the paths, sizes, modification times and captions: it changes when a video
    or a caption does, without decoding anything.
    """

    def __init__(self, source: str | os.PathLike | Sequence[str | os.PathLike], *, what: str = "--data"):
        self.files = find_videos(source, what=what)
        self.name = f"{what} '{source}'" if isinstance(source, (str, os.PathLike)) else what
        found = [sidecar_caption(f) for f in self.files]
        self.captions = [c[0] if c else "" for c in found]
        stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in self.files]
        self.fingerprint = fingerprint({"videos": stats, "captions": self.captions})

    def __len__(self) -> int:
        return len(self.files)

    def clips(self, max_frames: int | None = None) -> Iterator[Clip]:

        for path, caption in zip(self.files, self.captions, strict=True):
            video = io.read(path, end=max_frames)
            yield Clip(str(path), video.frames, video.fps, caption)
