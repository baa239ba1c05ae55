"""The `ShotDetector` seam and the registry of detectors by name.

A shot detector reads a video file and returns the frame indices where a new shot starts (frame 0
is never listed). Detectors stream frames, so a long video never sits in memory whole. The
detectors import this module; `registry.py` imports the detectors (so there is no cycle).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from worldsmith.errors import WorldsmithError


class ShotError(WorldsmithError):
    """Bad input to shot detection (unknown detector, bad cut list, bad clip rules)."""


@runtime_checkable
class ShotDetector(Protocol):
    """Finds shot boundaries: `detect(video) -> list[int]`, sorted frame indices > 0."""

    name: str

    def detect(self, video: str | os.PathLike) -> list[int]: ...


def cuts_to_shots(cuts: Sequence[int], num_frames: int) -> list[tuple[int, int]]:
    """Turn cut indices into half-open shots ``[start, end)`` covering ``[0, num_frames)``.

    Cuts at 0, at or past the end, or repeated are ignored (detectors near the end of a
    stream may report the frame count itself).
    """
    if num_frames < 0:
        raise ShotError(f"num_frames must be >= 0, got {num_frames}")
    bounds = [0, *sorted({int(c) for c in cuts if 0 < int(c) < num_frames}), num_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
