"""Text overlay: how much of a clip is covered by text (subtitles, logos, news tickers).

Uses the PP-OCRv4 text *detector* that ships inside the `rapidocr-onnxruntime` wheel (no download;
recognition is not needed for area). Installed with ``--no-deps`` (it asks for the GUI
`opencv-python`, which would clash with `opencv-python-headless`); see the Makefile's NODEPS_PKGS.
"""

from __future__ import annotations

import cv2
import numpy as np

from worldsmith.errors import WorldsmithError


class TextDetector:
    def __init__(self, frames: int = 4):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise WorldsmithError(
                "the text filter needs rapidocr-onnxruntime: pip install --no-deps rapidocr-onnxruntime "
                "pyclipper shapely six tqdm (or drop 'text' from filters.enabled)"
            ) from None
        self.engine = RapidOCR()
        self.frames = frames

    def boxes(self, frame: np.ndarray) -> list[np.ndarray]:
        """Text boxes of one uint8 [H, W, 3] frame, each a float [4, 2] polygon in pixels."""
        found, _ = self.engine(frame, use_det=True, use_cls=False, use_rec=False)
        return [np.asarray(b, dtype=np.float32) for b in (found or [])]

    def area(self, frame: np.ndarray) -> float:
        """Fraction of the frame's pixels inside text boxes (overlaps counted once)."""
        mask = np.zeros(frame.shape[:2], dtype=np.uint8)
        for box in self.boxes(frame):
            cv2.fillPoly(mask, [box.round().astype(np.int32)], 1)
        return float(mask.mean())

    def text_area(self, frames: np.ndarray) -> float:
        """Mean text-covered fraction over `self.frames` frames spread through uint8 [N, H, W, 3]."""
        picks = np.linspace(0, len(frames) - 1, min(self.frames, len(frames))).round().astype(int)
        return float(np.mean([self.area(frames[i]) for i in picks]))
