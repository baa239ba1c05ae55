"""Typed records that flow through the curation stages.

A `VideoTask` is one input file; split fills its `clips` with `ClipTask`s. Records hold paths,
numbers and short strings only (never frames), so a run's memory does not grow with its input and
a record crosses a process boundary (Ray) or goes to JSON (completion records, manifest) as is.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ClipTask:
    """One clip: frames ``[start, end)`` of `source`, later a transcoded mp4 under the run folder."""

    clip_id: str  # "<video_id>_<k>", unique in a run, safe as a webdataset key (no dots)
    source: str  # the input video
    start: int  # first frame in the source (inclusive)
    end: int  # last frame in the source (exclusive)
    fps: float  # of the source
    path: str = ""  # transcoded clip (set by transcode)
    width: int = 0
    height: int = 0
    num_frames: int = 0
    clip_fps: float = 0.0  # of the transcoded clip
    scores: dict[str, float] = field(default_factory=dict)
    camera_motion: list[float] = field(default_factory=list)  # median flow (dx, dy) in px/s at 1/W scale
    dropped_by: str = ""  # the stage or filter that dropped the clip ("" = kept)
    drop_reason: str = ""
    caption: str = ""
    caption_source: str = ""  # "" when no caption source: the clip is flagged, never invented
    embedding: list[float] | None = None
    duplicate_of: str = ""  # the kept clip this one duplicates
    bucket: str = ""
    shard: str = ""

    @property
    def t0(self) -> float:
        return self.start / self.fps if self.fps else 0.0

    @property
    def t1(self) -> float:
        return self.end / self.fps if self.fps else 0.0

    @property
    def kept(self) -> bool:
        return not self.dropped_by

    def drop(self, by: str, reason: str) -> None:
        if not self.dropped_by:  # the first reason wins
            self.dropped_by, self.drop_reason = by, reason

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "t0": round(self.t0, 4), "t1": round(self.t1, 4)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipTask:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class VideoTask:
    """One input video: probe facts, then its clips; `error` set means it failed (and why)."""

    path: str
    video_id: str  # stable short id from the path relative to the input root
    fps: float = 0.0
    num_frames: int = 0
    width: int = 0
    height: int = 0
    duration: float = 0.0
    error: str = ""  # "" = fine; otherwise "<stage>: <reason>"
    retryable: bool = False  # failed on an infrastructure error after retries: a rerun tries again
    clips: list[ClipTask] = field(default_factory=list)

    def fail(self, stage: str, reason: str) -> None:
        if not self.error:
            self.error = f"{stage}: {reason}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["clips"] = [c.to_dict() for c in self.clips]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoTask:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names and k != "clips"}
        return cls(**kwargs, clips=[ClipTask.from_dict(c) for c in data.get("clips", [])])


def video_id(path: str | Path, root: str | Path) -> str:
    """A short id that names the video in clip ids: its stem plus a hash of its relative path."""
    path, root = Path(path), Path(root)
    rel = path.relative_to(root).as_posix() if root in path.parents else path.name
    stem = "".join(ch if ch.isalnum() else "-" for ch in path.stem)[:40]
    return f"{stem}-{hashlib.sha1(rel.encode()).hexdigest()[:8]}"
