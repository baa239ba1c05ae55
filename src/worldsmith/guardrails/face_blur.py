"""Face blur (post-guard): detect faces in every frame, smooth the boxes over time, blur them.

Cosmos (arXiv 2501.03575, Sec. 7.2) blurs every face in generated video before it is shown. We
detect with OpenCV's Haar cascades (Viola & Jones, CVPR 2001), whose weights ship inside the
opencv-python-headless wheel, on a downscaled grey frame, every `detect_every`-th frame. Each
detected face is then tracked forwards and backwards by template matching (normalised
cross-correlation in a window around its last box) until the match fails or another detection
takes over: the detector misses small faces in runs of frames, the tracker does not. Finally a box
found or tracked in frame t is also blurred in frames t - hold .. t + hold (temporal smoothing: a face
missed for up to `hold` frames in a row stays blurred, and a moving face is covered by the union of
its neighbours' boxes). Each box is expanded by `expand` on every side and blurred with a strong
Gaussian (sigma = box size / `sigma_div`) or pixelated into `blocks` x `blocks` cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from worldsmith.guardrails.base import GuardrailError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


@dataclass(frozen=True, kw_only=True)
class FaceBlurConfig:
    cascades: tuple[str, ...] = ("haarcascade_frontalface_default.xml",)
    # Frames are resized to this width (at most 2x up) before detection. The cascade's window is
    # 24 px, so the smallest face found is about 24 * W / detect_width px (32 px at 854x480); at
    # 384 px faces of 66 px were already missed on real footage.
    detect_width: int = 640
    scale_factor: float = 1.1  # 1.2 at 640 px missed a 44 px face that 1.1 finds in every frame
    min_neighbors: int = 5  # recall first: a false face only costs an extra blurred patch
    min_face: int = 24  # smallest face side in pixels at detection resolution (the cascade window)
    detect_every: int = 5  # run the detector on every n-th frame; tracking and `hold` cover the rest
    expand: float = 0.25  # fraction of the box side added on every side
    hold: int = 4  # frames before/after a detection (or tracked box) that are also blurred
    # Tracking: each detected face is followed forwards and backwards by template matching (normalised
    # cross-correlation of its grey patch in a window around its last position) for up to `track`
    # frames, until the match falls below `track_min_score` or another detection takes over. The
    # detector misses small faces in runs of frames (a 44 px face at 640 px wide: 15 of 90 frames,
    # several in a row); the tracker carries the box through them.
    track: int = 30
    track_min_score: float = 0.6
    track_search: float = 0.5  # search window: the box grown by this fraction of its side per side
    method: Literal["gaussian", "pixelate"] = "gaussian"
    sigma_div: float = 4.0  # gaussian: sigma = max(box w, h) / sigma_div
    blocks: int = 6  # pixelate: cells per box side

    def __post_init__(self):
        if self.method not in ("gaussian", "pixelate"):
            raise GuardrailError(f"face blur method '{self.method}' is unknown; use 'gaussian' or 'pixelate'")
        if self.track < 0 or not 0 < self.track_min_score <= 1:
            raise GuardrailError("face blur needs track >= 0 and 0 < track_min_score <= 1")
        if self.hold < 0 or self.expand < 0 or self.detect_width < 32 or self.blocks < 1:
            raise GuardrailError("face blur needs hold >= 0, expand >= 0, detect_width >= 32, blocks >= 1")
        if not 1 <= self.detect_every <= self.hold + 1:
            raise GuardrailError(
                f"face blur detect_every={self.detect_every} leaves frames unguarded: use 1 <= detect_every "
                f"<= hold + 1 (hold={self.hold})"
            )


class FaceDetector:
    """Haar-cascade face detector over uint8 RGB frames; returns boxes in frame pixels."""

    def __init__(self, config: FaceBlurConfig | None = None, cascade_dir: str | Path | None = None):
        self.config = config or FaceBlurConfig()
        folder = Path(cascade_dir if cascade_dir is not None else cv2.data.haarcascades)
        self.cascades = []
        for name in self.config.cascades:
            path = folder / name
            cascade = cv2.CascadeClassifier(str(path)) if path.is_file() else None
            if cascade is None or cascade.empty():
                raise GuardrailError(
                    f"face cascade '{path}' is missing or unreadable; reinstall opencv-python-headless<5 "
                    "(its 5.x wheels ship no Haar cascades)"
                )
            self.cascades.append(cascade)

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Faces in one uint8 [H, W, 3] RGB frame."""
        cfg = self.config
        h, w = frame.shape[:2]
        scale = min(2.0, cfg.detect_width / w)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        gray = cv2.equalizeHist(gray)
        boxes: list[Box] = []
        for cascade in self.cascades:
            found = cascade.detectMultiScale(
                gray,
                scaleFactor=cfg.scale_factor,
                minNeighbors=cfg.min_neighbors,
                minSize=(cfg.min_face,) * 2,
            )
            for x, y, bw, bh in np.asarray(found).reshape(-1, 4):
                boxes.append(
                    (
                        int(x / scale),
                        int(y / scale),
                        int(np.ceil((x + bw) / scale)),
                        int(np.ceil((y + bh) / scale)),
                    )
                )
        return boxes


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def track_faces(
    grays: list[np.ndarray], detections: list[list[Box]], config: FaceBlurConfig
) -> list[list[Box]]:
    """Follow every detected box forwards and backwards through `grays` (uint8 [H, W] frames in the
    boxes' pixel units) by template matching; returns the tracked boxes per frame (detections
    excluded). A track stops after `config.track` frames, when the best normalised cross-correlation
    drops below `config.track_min_score`, or at a frame whose own detection overlaps it."""
    n = len(grays)
    tracked: list[list[Box]] = [[] for _ in range(n)]
    for t, boxes in enumerate(detections):
        for box in boxes:
            x0, y0, x1, y1 = box
            template = grays[t][y0:y1, x0:x1]
            if template.shape[0] < 4 or template.shape[1] < 4:
                continue
            for step in (1, -1):
                prev = box
                for k in range(1, config.track + 1):
                    u = t + step * k
                    if not 0 <= u < n or any(_overlap(prev, d) for d in detections[u]):
                        break
                    found = _match(grays[u], template, prev, config.track_search)
                    if found is None or found[1] < config.track_min_score:
                        break
                    prev = found[0]
                    tracked[u].append(prev)
    return tracked


def _match(gray: np.ndarray, template: np.ndarray, prev: Box, search: float) -> tuple[Box, float] | None:
    """Best position of `template` in a window around `prev`: (box, normalised correlation)."""
    h, w = template.shape
    height, width = gray.shape
    mx, my = int(round(w * search)), int(round(h * search))
    sx0, sy0 = max(0, prev[0] - mx), max(0, prev[1] - my)
    sx1, sy1 = min(width, prev[2] + mx), min(height, prev[3] + my)
    window = gray[sy0:sy1, sx0:sx1]
    if window.shape[0] < h or window.shape[1] < w:
        return None
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    return (sx0 + bx, sy0 + by, sx0 + bx + w, sy0 + by + h), float(best)


def expand_box(box: Box, fraction: float, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    dx, dy = int(round((x1 - x0) * fraction)), int(round((y1 - y0) * fraction))
    return max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)


def smooth_tracks(detections: list[list[Box]], hold: int) -> list[list[Box]]:
    """Boxes to blur in each frame: every box detected within `hold` frames of it (union over time),
    overlapping ones merged into their bounding box."""
    n = len(detections)
    return [
        merge_boxes([b for s in range(max(0, t - hold), min(n, t + hold + 1)) for b in detections[s]])
        for t in range(n)
    ]


def merge_boxes(boxes: list[Box]) -> list[Box]:
    """Replace every group of overlapping boxes by the box bounding the group."""
    merged: list[Box] = []
    for box in sorted(boxes):
        for k, other in enumerate(merged):
            if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                merged[k] = (
                    min(box[0], other[0]),
                    min(box[1], other[1]),
                    max(box[2], other[2]),
                    max(box[3], other[3]),
                )
                break
        else:
            merged.append(box)
    return merged if len(merged) == len(boxes) else merge_boxes(merged)


def blur_box(frame: np.ndarray, box: Box, config: FaceBlurConfig) -> None:
    """Blur one box of `frame` in place."""
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    roi = frame[y0:y1, x0:x1]
    h, w = roi.shape[:2]
    if config.method == "pixelate":
        small = cv2.resize(roi, (min(w, config.blocks), min(h, config.blocks)), interpolation=cv2.INTER_AREA)
        roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        return
    # A Gaussian of sigma s on a k-times smaller copy is close to sigma k*s at full size, at 1/k^2 cost.
    k = 4 if min(w, h) >= 32 else 1
    sigma = max(w, h) / (config.sigma_div * k)
    small = cv2.resize(roi, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    # Feather the outer `FEATHER` of the box so its border leaves no sharp seam (a seam can itself
    # look like a face edge to the detector); the face sits inside the expanded box, fully blurred.
    alpha = _feather(h, w)[..., None]  # [h, w, 1]
    roi[:] = (alpha * blurred + (1 - alpha) * roi).round().astype(np.uint8)


FEATHER = 0.12


def _feather(h: int, w: int) -> np.ndarray:
    """1 inside, ramping linearly to 0 over the outer FEATHER of each side: [h, w] float32."""
    ramp_y = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / max(1.0, FEATHER * h), 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / max(1.0, FEATHER * w), 0, 1)
    return np.minimum(ramp_y[:, None], ramp_x[None, :]).astype(np.float32)


class FaceBlur:
    """Post-guard transform: `FaceBlur()(frames) -> blurred frames`, uint8 [T, H, W, 3] in and out."""

    name = "face_blur"

    def __init__(self, config: FaceBlurConfig | None = None, detector: FaceDetector | None = None):
        self.config = config or FaceBlurConfig()
        self._detector = detector
        self.last_faces: list[list[Box]] = []  # per frame, the faces the last call detected
        self.last_tracked: list[list[Box]] = []  # per frame, the boxes tracked from other frames' faces
        self.last_boxes: list[list[Box]] = []  # per frame, the (expanded, smoothed) boxes it blurred

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector(self.config)
        return self._detector

    def detect(self, frames: np.ndarray, every: int = 1) -> list[list[Box]]:
        """Boxes per frame; with `every` > 1 only every n-th frame (and the last) is searched."""
        last = len(frames) - 1
        return [self.detector.detect(f) if t % every == 0 or t == last else [] for t, f in enumerate(frames)]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"face blur needs uint8 [T, H, W, 3] frames, got {frames.dtype} {list(frames.shape)}"
            )
        _, h, w, _ = frames.shape
        self.last_faces = self.detect(frames, self.config.detect_every)
        faces = self.last_faces
        if self.config.track > 0 and any(faces):
            # Track at (at most) the detector's resolution: cheaper, and as sharp as detection saw it.
            scale = min(1.0, self.config.detect_width / w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            grays = [
                cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
                for f in frames
            ]
            small = [[_scale_box(b, scale) for b in boxes] for boxes in faces]
            tracked = track_faces(grays, small, self.config)
            self.last_tracked = [[_scale_box(b, 1 / scale) for b in boxes] for boxes in tracked]
            faces = [d + t for d, t in zip(faces, self.last_tracked, strict=True)]
        else:
            self.last_tracked = [[] for _ in faces]
        found = [[expand_box(b, self.config.expand, w, h) for b in boxes] for boxes in faces]
        self.last_boxes = smooth_tracks(found, self.config.hold)
        out = frames.copy()
        for frame, boxes in zip(out, self.last_boxes, strict=True):
            for box in boxes:
                blur_box(frame, box, self.config)
        return out


def _scale_box(box: Box, scale: float) -> Box:
    return (
        int(box[0] * scale),
        int(box[1] * scale),
        int(np.ceil(box[2] * scale)),
        int(np.ceil(box[3] * scale)),
    )


def high_frequency_energy(image: np.ndarray, sigma: float = 1.5) -> float:
    """Mean squared difference between an image and its Gaussian blur: the energy above ~1/sigma."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    gray = gray.astype(np.float32)
    return float(np.mean((gray - cv2.GaussianBlur(gray, (0, 0), sigma)) ** 2))
