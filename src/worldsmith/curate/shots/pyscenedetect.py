"""PySceneDetect (https://www.scenedetect.com) behind our `ShotDetector` seam, to compare in one tool.

`method="content"` is its ContentDetector (weighted HSV + edge differences of consecutive frames
against a fixed threshold, 27 by default); `method="adaptive"` its AdaptiveDetector (the same
score divided by its rolling mean over +-`window_width` frames, threshold 3). Both run exactly as a
user runs them: `scenedetect.detect(path, detector)`, i.e. OpenCV decoding with PySceneDetect's
automatic downscaling, so speed comparisons include its decoder.
"""

from __future__ import annotations

import os
from typing import Any

from worldsmith.curate.shots.base import ShotError
from worldsmith.video.io import VideoError, probe

METHODS = ("content", "adaptive")


class PySceneDetectDetector:
    """Adapter over `scenedetect.ContentDetector` / `scenedetect.AdaptiveDetector`.

    Args:
        method: "content" or "adaptive".
        **options: passed to the PySceneDetect detector (e.g. ``threshold=27``, ``min_scene_len=15``
            for content; ``adaptive_threshold=3.0`` for adaptive).
    """

    def __init__(self, method: str = "content", **options: Any) -> None:
        if method not in METHODS:
            raise ShotError(f"unknown PySceneDetect method '{method}'; choose one of: {', '.join(METHODS)}")
        try:
            import scenedetect  # noqa: F401
        except ImportError as err:
            raise ShotError(
                f"the '{self._name(method)}' detector needs PySceneDetect ({err}); install it with "
                "`pip install --no-deps scenedetect click platformdirs tqdm`"
            ) from None
        self.method = method
        self.options = options
        self.name = self._name(method)

    @staticmethod
    def _name(method: str) -> str:
        return "pyscenedetect" if method == "content" else f"pyscenedetect-{method}"

    def _build(self):
        from scenedetect import AdaptiveDetector, ContentDetector

        try:
            if self.method == "content":
                return ContentDetector(**self.options)
            return AdaptiveDetector(**self.options)
        except (TypeError, ValueError) as err:
            raise ShotError(f"bad option for PySceneDetect's {self.method} detector: {err}") from None

    def detect(self, video: str | os.PathLike) -> list[int]:
        """Frame indices where PySceneDetect starts a new scene."""
        from scenedetect import VideoOpenFailure, detect

        detector = self._build()
        probe(video)  # our clear VideoError for missing, empty or non-video files
        try:
            scenes = detect(str(video), detector)
        except VideoOpenFailure as err:
            raise VideoError(f"video '{video}' cannot be opened by OpenCV: {err}") from None
        return sorted({int(start.frame_num) for start, _ in scenes[1:] if start.frame_num > 0})
