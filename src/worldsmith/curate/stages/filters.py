"""Filters: scores stored on every clip; a clip outside a threshold is dropped with the filter's
name and score.

Scores are computed on a sample of the frames given to the encoder (`curate.frames`: no decode
when transcode ran in this process), about `sample_fps` a second, at most `max_samples` a clip.

- motion: dense optical flow (OpenCV DIS) between the sampled frames, on frames downscaled to
  `flow_height`. `motion` = mean flow magnitude in frame widths per second (static
  clips score ~0); `jitter` = standard deviation of the per-pair global (median) flow, i.e. shaky
  or erratic camera; `camera_motion` = mean global flow (dx, dy) in widths per second, kept on the
  clip for captions and bucketing.
- quality, on frames at `quality_height`: `sharpness` = variance of the Laplacian (blur),
  `brightness` = mean luma (exposure), `entropy` = Shannon entropy of the luma histogram in bits
  (low information: flat or nearly flat frames), `frozen` = fraction of consecutive sampled frames
  that do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from worldsmith.config import check
from worldsmith.curate.frames import clip_frames
from worldsmith.curate.stage import ClipStage, Resources
from worldsmith.curate.tasks import ClipTask
from worldsmith.video.io import to_rgb

FILTERS = ("motion", "exposure", "blur", "entropy", "frozen", "text")  # checked in this order


@dataclass(frozen=True, kw_only=True)
class FilterConfig:
    enabled: tuple[str, ...] = ("motion", "blur", "exposure", "entropy", "frozen")
    sample_fps: float = 4.0
    max_samples: int = 48  # at most this many frames per clip are analysed (spread evenly)
    flow_height: int = 96
    quality_height: int = 180
    min_motion: float = 0.002  # widths/s: below is a static clip
    max_motion: float = 1.5  # widths/s: above is extreme motion
    max_jitter: float = 1.0  # widths/s
    min_sharpness: float = 5.0
    min_brightness: float = 16.0
    max_brightness: float = 240.0
    min_entropy: float = 2.0  # bits
    max_frozen: float = 0.5  # fraction of frame pairs
    max_text_area: float = 0.1  # fraction of the frame covered by text boxes (text filter)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.enabled) - set(FILTERS))
        check(
            not unknown, "filters.enabled", list(self.enabled), f"has unknown filters; choose from {FILTERS}"
        )
        check(self.sample_fps > 0, "filters.sample_fps", self.sample_fps, "must be > 0")
        check(self.max_samples >= 2, "filters.max_samples", self.max_samples, "must be >= 2")
        check(
            self.min_motion <= self.max_motion, "filters.min_motion", self.min_motion, "must be <= max_motion"
        )


def sample_stride(clip_fps: float, num_frames: int, config: FilterConfig) -> int:
    """Every k-th clip frame is analysed: about `sample_fps` frames a second, at most `max_samples`."""
    return max(1, round(clip_fps / config.sample_fps), -(-num_frames // config.max_samples))


def sample_frames(clip: ClipTask, config: FilterConfig, height: int) -> np.ndarray:
    """Frames of a clip's encoder input sampled at about `sample_fps` (at most `max_samples`),
    scaled to `height` (never up), as uint8 [N, h, w, 3]."""

    stride = sample_stride(clip.clip_fps or clip.fps, clip.num_frames, config)
    h = min(height, clip.height)
    w = max(2, round(clip.width * h / clip.height))
    frames = [to_rgb(f, (h, w)) for f in clip_frames(clip, every=stride)]
    if len(frames) < 2:
        raise ValueError(f"clip has {len(frames)} sampled frame(s); need 2 to score it")
    return np.stack(frames)  # [N, h, w, 3]


def motion_scores(frames: np.ndarray, seconds_per_pair: float) -> dict[str, float | list[float]]:
    """Mean flow magnitude, jitter and mean global flow of uint8 [N, h, w, 3] frames (widths/s)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    width = frames.shape[2]
    mags, globals_ = [], []
    for a, b in zip(grey[:-1], grey[1:], strict=True):
        flow = dis.calc(a, b, None)  # [h, w, 2] pixels per pair
        mags.append(float(np.linalg.norm(flow, axis=-1).mean()))
        globals_.append(np.median(flow.reshape(-1, 2), axis=0))
    scale = 1.0 / (width * seconds_per_pair)
    g = np.array(globals_) * scale  # [N-1, 2] widths/s
    return {
        "motion": float(np.mean(mags) * scale),
        "jitter": float(np.linalg.norm(g - g.mean(0), axis=1).std()) if len(g) > 1 else 0.0,
        "camera_motion": [round(float(v), 5) for v in g.mean(0)],
    }


def quality_scores(frames: np.ndarray) -> dict[str, float]:
    """Sharpness, brightness, entropy and frozen fraction of uint8 [N, h, w, 3] frames."""
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])  # [N, h, w]
    sharp = [float(cv2.Laplacian(g, cv2.CV_64F).var()) for g in grey]
    ent = []
    for g in grey:
        p = np.bincount(g.ravel(), minlength=256) / g.size
        p = p[p > 0]
        ent.append(float(-(p * np.log2(p)).sum()))
    diffs = np.abs(np.diff(grey.astype(np.int16), axis=0)).mean(axis=(1, 2))  # [N-1]
    return {
        "sharpness": float(np.median(sharp)),
        "brightness": float(grey.mean()),
        "entropy": float(np.median(ent)),
        "frozen": float((diffs < 0.5).mean()),
    }


def verdict(scores: dict[str, float], config: FilterConfig) -> tuple[str, str] | None:
    """The first enabled filter a clip fails, as (filter, reason), or None when it passes."""
    c = config
    rules = {
        "motion": [
            ("motion", scores.get("motion"), lambda v: v >= c.min_motion, f"< min_motion {c.min_motion}"),
            ("motion", scores.get("motion"), lambda v: v <= c.max_motion, f"> max_motion {c.max_motion}"),
            ("jitter", scores.get("jitter"), lambda v: v <= c.max_jitter, f"> max_jitter {c.max_jitter}"),
        ],
        "blur": [
            ("sharpness", scores.get("sharpness"), lambda v: v >= c.min_sharpness, f"< {c.min_sharpness}")
        ],
        "exposure": [
            (
                "brightness",
                scores.get("brightness"),
                lambda v: v >= c.min_brightness,
                f"< {c.min_brightness}",
            ),
            (
                "brightness",
                scores.get("brightness"),
                lambda v: v <= c.max_brightness,
                f"> {c.max_brightness}",
            ),
        ],
        "entropy": [("entropy", scores.get("entropy"), lambda v: v >= c.min_entropy, f"< {c.min_entropy}")],
        "frozen": [("frozen", scores.get("frozen"), lambda v: v <= c.max_frozen, f"> {c.max_frozen}")],
        "text": [
            ("text_area", scores.get("text_area"), lambda v: v <= c.max_text_area, f"> {c.max_text_area}")
        ],
    }
    for name in FILTERS:
        if name not in c.enabled:
            continue
        for key, value, ok, why in rules[name]:
            if value is not None and not ok(value):
                return name, f"{key}={value:.4g} {why}"
    return None


class FilterStage(ClipStage):
    """Score every kept clip (motion, quality, optionally text) and drop the ones out of bounds."""

    name = "filter"
    resources = Resources(cpus=1.0)

    def __init__(self, config: FilterConfig | None = None):
        self.config = config or FilterConfig()
        self._text = None

    def setup(self) -> None:
        if "text" in self.config.enabled and self._text is None:
            from worldsmith.curate.stages.text_overlay import TextDetector

            self._text = TextDetector()

    def process_clip(self, clip: ClipTask) -> None:
        c = self.config
        fps = clip.clip_fps or clip.fps
        quality = sample_frames(clip, c, c.quality_height)  # [N, h, w, 3]
        stride = sample_stride(fps, clip.num_frames, c)
        h = min(c.flow_height, quality.shape[1])
        w = max(2, round(quality.shape[2] * h / quality.shape[1]))
        small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in quality])
        motion = motion_scores(small, stride / fps)
        clip.camera_motion = motion.pop("camera_motion")
        clip.scores.update({k: round(v, 5) for k, v in {**motion, **quality_scores(quality)}.items()})
        if "text" in c.enabled:
            self.setup()
            clip.scores["text_area"] = round(self._text.text_area(quality), 5)
        failed = verdict(clip.scores, c)
        if failed:
            clip.drop(f"filter:{failed[0]}", failed[1])
