"""The `ShotDetector` seam and the registry of detectors by name.

A shot detector reads a video file and returns the frame indices where a new shot starts (frame 0
is never listed). Detectors stream frames, so a long video never sits in memory whole. Every
detector is built from its name through `DETECTORS`, a plain dict of factories; the heavy imports
(torch models, PySceneDetect) happen only when that detector is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from worldsmith.errors import WorldsmithError


class ShotError(WorldsmithError):
    """Bad input to shot detection (unknown detector, bad cut list, bad clip rules)."""


@runtime_checkable
class ShotDetector(Protocol):
    """Finds shot boundaries: `detect(video) -> list[int]`, sorted frame indices > 0."""

    name: str

    def detect(self, video: str | os.PathLike) -> list[int]: ...


def _content(**kwargs: Any) -> ShotDetector:
    from worldsmith.curate.shots.content import ContentDetector

    return ContentDetector(**kwargs)


def _transnetv2(**kwargs: Any) -> ShotDetector:
    from worldsmith.curate.shots.transnetv2 import TransNetV2Detector

    return TransNetV2Detector(**kwargs)


def _pyscenedetect(**kwargs: Any) -> ShotDetector:
    from worldsmith.curate.shots.pyscenedetect import PySceneDetectDetector

    return PySceneDetectDetector(method="content", **kwargs)


def _pyscenedetect_adaptive(**kwargs: Any) -> ShotDetector:
    from worldsmith.curate.shots.pyscenedetect import PySceneDetectDetector

    return PySceneDetectDetector(method="adaptive", **kwargs)


# Every detector, by the name the CLI and configs use.
DETECTORS: dict[str, Callable[..., ShotDetector]] = {
    "content": _content,
    "transnetv2": _transnetv2,
    "pyscenedetect": _pyscenedetect,
    "pyscenedetect-adaptive": _pyscenedetect_adaptive,
}


def get_detector(name: str, **kwargs: Any) -> ShotDetector:
    """Build the detector registered as `name` (keyword arguments go to its constructor)."""
    if name not in DETECTORS:
        raise ShotError(f"unknown shot detector '{name}'; choose one of: {', '.join(DETECTORS)}")
    return DETECTORS[name](**kwargs)


def cuts_to_shots(cuts: Sequence[int], num_frames: int) -> list[tuple[int, int]]:
    """Turn cut indices into half-open shots ``[start, end)`` covering ``[0, num_frames)``.

    Cuts at 0, at or past the end, or repeated are ignored (detectors near the end of a
    stream may report the frame count itself).
    """
    if num_frames < 0:
        raise ShotError(f"num_frames must be >= 0, got {num_frames}")
    bounds = [0, *sorted({int(c) for c in cuts if 0 < int(c) < num_frames}), num_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
