"""Every shot detector by the name the CLI and configs use: `DETECTORS`, a plain dict of factories.
PySceneDetect itself is imported only when its detector runs (an optional dependency)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worldsmith.curate.shots.base import ShotDetector, ShotError
from worldsmith.curate.shots.content import ContentDetector
from worldsmith.curate.shots.pyscenedetect import PySceneDetectDetector
from worldsmith.curate.shots.transnetv2 import TransNetV2Detector


def _pyscenedetect(**kwargs: Any) -> ShotDetector:
    return PySceneDetectDetector(method="content", **kwargs)


def _pyscenedetect_adaptive(**kwargs: Any) -> ShotDetector:
    return PySceneDetectDetector(method="adaptive", **kwargs)


# Every detector, by the name the CLI and configs use.
DETECTORS: dict[str, Callable[..., ShotDetector]] = {
    "content": ContentDetector,
    "transnetv2": TransNetV2Detector,
    "pyscenedetect": _pyscenedetect,
    "pyscenedetect-adaptive": _pyscenedetect_adaptive,
}


def get_detector(name: str, **kwargs: Any) -> ShotDetector:
    """Build the detector registered as `name` (keyword arguments go to its constructor)."""
    if name not in DETECTORS:
        raise ShotError(f"unknown shot detector '{name}'; choose one of: {', '.join(DETECTORS)}")
    return DETECTORS[name](**kwargs)
