"""Clip rules: turn detected shots into training clips (the Cosmos curation recipe).

Cosmos (arXiv 2501.03575, Sec. 3.1 "Splitting") keeps shots of at least 2 s, cuts shots longer
than 60 s into pieces of at most 60 s, and its curator crops a little from each end so that no
clip holds part of a transition. The rules apply in that order: trim, drop, split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from worldsmith.config import check
from worldsmith.curate.shots.base import ShotError


@dataclass(frozen=True, kw_only=True)
class ClipRules:
    """Which shots become clips. Durations are in seconds and turned into frames at the video's fps."""

    min_seconds: float = 2.0  # shorter shots are dropped
    max_seconds: float = 60.0  # longer shots are split into equal pieces of at most this
    trim_seconds: float = 0.0  # cut from both ends of every shot (0.5 in cosmos-curate)
    min_frames: int = 0  # also drop clips with fewer frames (cosmos-curate uses 48)

    def __post_init__(self) -> None:
        check(self.min_seconds >= 0, "min_seconds", self.min_seconds, "must be >= 0")
        check(self.max_seconds > 0, "max_seconds", self.max_seconds, "must be > 0")
        check(
            self.max_seconds >= self.min_seconds,
            "max_seconds",
            self.max_seconds,
            f"must be >= min_seconds ({self.min_seconds})",
        )
        check(self.trim_seconds >= 0, "trim_seconds", self.trim_seconds, "must be >= 0")
        check(self.min_frames >= 0, "min_frames", self.min_frames, "must be >= 0")


def apply_clip_rules(
    shots: Sequence[tuple[int, int]], fps: float, rules: ClipRules | None = None
) -> list[tuple[int, int]]:
    """Apply `rules` to half-open shots ``[start, end)`` (frame indices) of a video at `fps`.

    Returns half-open clips in order. A 150 s shot with the default rules gives three 50 s clips:
    long shots are split into ``ceil(len / max)`` pieces of near-equal length, so no tiny tail
    is left to be dropped.
    """
    rules = rules or ClipRules()
    if not (fps > 0 and math.isfinite(fps)):
        raise ShotError(f"clip rules need a positive frame rate, got fps={fps}")
    trim = round(rules.trim_seconds * fps)
    min_len = max(math.ceil(rules.min_seconds * fps - 1e-6), rules.min_frames, 1)
    max_len = max(1, math.floor(rules.max_seconds * fps + 1e-6))
    clips: list[tuple[int, int]] = []
    for start, end in shots:
        if end < start or start < 0:
            raise ShotError(f"bad shot [{start}, {end}): need 0 <= start <= end")
        start, end = start + trim, end - trim
        if end - start < min_len:
            continue
        pieces = math.ceil((end - start) / max_len)
        edges = [start + round(i * (end - start) / pieces) for i in range(pieces + 1)]
        clips.extend((a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b - a >= min_len)
    return clips
