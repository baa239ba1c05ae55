"""`content`: our fast shot detector for hard cuts and gradual transitions, robust to flashes and motion.

Each frame is decoded straight to 64 px wide by FFmpeg and summarised by two cheap features: a
64-bin RGB colour histogram and a 16x9 luma thumbnail with zero mean, scaled to unit norm times its
contrast (so a fade to black loses structure smoothly). The distance of two frames mixes the
histograms' total-variation distance with the thumbnails' ``(1 - correlation) / 2`` weighted by
their contrast, all in [0, 1]; structure dominates for cuts, colour counts more for gradual ones.

- Hard cut at t: every pair of frames across t, up to ``flash + 1`` frames on each side, must
  differ: the score is the minimum of those (flash + 2)^2 distances. A camera flash of <= `flash`
  frames makes the frames before and after it alike, so it scores low. The score must be a local
  maximum above ``ratio`` x its median over +-`window` frames plus `margin` (an adaptive, locally
  normalised threshold, as in PySceneDetect's AdaptiveDetector, on a flash-proof score).
- Gradual transition centred at t, at scale h (dissolves and fades up to about 2h frames), on
  features median-filtered over +-`flash` frames (flashes removed, steps kept): the change across
  ``d(t-h, t+h)`` must exceed the change over equally long spans just before and just after it
  (several offsets, the larger side) by `gradual_margin`. Camera or object motion changes the
  picture as much beside the span as across it, so it cancels; a transition does not. The boundary
  is the middle of the run of frames that pass.
- Candidates are taken strongest first (hard cuts before gradual ones), keeping `min_shot` frames
  (2h for a gradual one) between boundaries.

Frames are streamed; the features kept are about 1 KB a frame.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from worldsmith.curate.shots.base import ShotError
from worldsmith.video.io import iter_frames, probe

THUMB_H, THUMB_W = 9, 16
FLAT_STD = 8.0  # luma std (levels) below which a thumbnail counts as partly flat
COLOUR_WEIGHT = 0.25  # hard cuts: structure separates shots better; colour sees fades, flat frames
GRADUAL_COLOUR_WEIGHT = 0.5  # gradual: colour drifts less than structure under camera motion
ALIGNED_MIN = 0.1  # aligned (1 - NCC) / 2 at or below which two frames show the same view
ALIGNED_RATIO = 2.0  # ... or below this many times the aligned distance of neighbouring frames
ZOOMS = (1.0, 1.15, 1 / 1.15, 1.35, 1 / 1.35, 1.6, 1 / 1.6)  # tried between a span's ends
FLAT_LUMA = 1.5  # luma std (levels) below which an overlap has no structure to correlate
FLAT_CONTRAST = 0.15  # thumbnail contrast of a flat (black, white) frame


def decode_size(height: int, width: int, target_width: int = 64) -> tuple[int, int]:
    """(height, width) with `target_width` columns, the source aspect ratio, and multiples of 9 x 16."""
    h = max(THUMB_H, round(target_width * height / max(width, 1) / THUMB_H) * THUMB_H)
    return h, target_width


def frame_features(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 ``[H, W, 3]`` -> (64-bin RGB histogram summing to 1, normalised 9x16 luma thumbnail
    [144], uint8 luma ``[H, W]`` for motion-compensated checks)."""
    q = frame >> 6  # 2 bits per channel
    bins = (q[..., 0].astype(np.intp) << 4) | (q[..., 1].astype(np.intp) << 2) | q[..., 2]
    hist = np.bincount(bins.ravel(), minlength=64).astype(np.float32)
    hist /= hist.sum()
    h, w = frame.shape[:2]
    luma = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # [H, W]
    thumb = luma.reshape(THUMB_H, h // THUMB_H, THUMB_W, w // THUMB_W).mean(axis=(1, 3)).ravel()
    thumb -= thumb.mean()
    norm = float(np.linalg.norm(thumb))
    # unit vector scaled by the contrast in [0, 1]: a fading frame loses structure smoothly
    contrast = min(1.0, norm / np.sqrt(thumb.size) / FLAT_STD)
    thumb = thumb * (contrast / norm) if norm > 0 else thumb
    return hist, thumb, np.clip(luma + 0.5, 0, 255).astype(np.uint8)


def median_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """Temporal median over +-`radius` frames of ``[N, D]`` features (edges replicated)."""
    if radius == 0 or len(x) < 2:
        return x
    padded = np.concatenate([np.repeat(x[:1], radius, 0), x, np.repeat(x[-1:], radius, 0)])
    windows = sliding_window_view(padded, 2 * radius + 1, axis=0)  # [N, D, 2r+1]
    return np.median(windows, axis=2).astype(np.float32)


class ContentDetector:
    """Hard cuts and gradual transitions from colour + structure distances, locally normalised.

    Args:
        ratio: a hard cut's distance must exceed `ratio` x the local median of frame distances ...
        margin: ... plus `margin` (absolute, in [0, 1]).
        min_cut: and at least `min_cut`.
        gradual_margin: a gradual transition's distance must exceed the change beside it by this.
        scales: half-lengths h (frames) at which gradual transitions are searched.
        flash: radius of the temporal median filter; events of <= `flash` frames are ignored.
        window: half-width (frames) of the local median for hard cuts.
        min_shot: minimum frames between two reported boundaries.
        width: decode width in pixels (height follows the aspect ratio).
    """

    name = "content"

    def __init__(
        self,
        *,
        ratio: float = 4.0,
        margin: float = 0.02,
        min_cut: float = 0.06,
        gradual_margin: float = 0.12,
        scales: tuple[int, ...] = (3, 6, 11),
        flash: int = 4,
        window: int = 12,
        min_shot: int = 8,
        width: int = 64,
    ) -> None:
        if ratio <= 0 or margin < 0 or min_cut <= 0 or gradual_margin <= 0:
            raise ShotError("content detector: ratio, min_cut and gradual_margin must be > 0, margin >= 0")
        if not scales or min(scales) < 1 or flash < 0 or window < 2 or min_shot < 1 or width < THUMB_W:
            raise ShotError(
                f"content detector: need scales >= 1, flash >= 0, window >= 2, min_shot >= 1, "
                f"width >= {THUMB_W}; got scales={scales}, flash={flash}, window={window}, "
                f"min_shot={min_shot}, width={width}"
            )
        self.ratio, self.margin, self.min_cut = ratio, margin, min_cut
        self.gradual_margin, self.scales = gradual_margin, tuple(sorted(scales))
        self.flash, self.window, self.min_shot, self.width = flash, window, min_shot, width

    def features(self, video: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stream `video` -> (histograms ``[N, 64]``, thumbnails ``[N, 144]``, luma ``[N, H, W]`` uint8)."""
        info = probe(video)
        size = decode_size(info.height, info.width, self.width)
        hists, thumbs, lumas = [], [], []
        for frame in iter_frames(video, size=size):
            hist, thumb, luma = frame_features(frame)
            hists.append(hist)
            thumbs.append(thumb)
            lumas.append(luma)
        if not hists:
            return (
                np.zeros((0, 64), np.float32),
                np.zeros((0, THUMB_H * THUMB_W), np.float32),
                np.zeros((0, *size), np.uint8),
            )
        return np.stack(hists), np.stack(thumbs), np.stack(lumas)

    def detect(self, video: str | os.PathLike) -> list[int]:
        return self.detect_features(*self.features(video))

    def detect_features(self, hists: np.ndarray, thumbs: np.ndarray, lumas: np.ndarray) -> list[int]:
        """Boundaries from per-frame features (see the module docstring for the rules)."""
        n = len(hists)
        if n < 2:
            return []
        t = np.arange(n)
        distance = _distance_fn(hists, thumbs)

        # hard cuts: every pair across the boundary differs, also r frames away, so that a flash of
        # <= r frames (whose onset and offset both look like cuts) is not one
        r = self.flash + 1
        a = np.minimum.reduce([distance(t - 1 - i, t + j) for i in range(r + 1) for j in range(r + 1)])
        a[0] = 0.0
        w = self.window
        padded = np.pad(a, w, mode="reflect")
        neighbours = sliding_window_view(padded, 2 * w + 1)  # [N, 2w+1], centre at w
        keep = np.ones(2 * w + 1, bool)
        keep[w - 1 : w + 2] = False  # the candidate and its direct neighbours do not set the level
        level = np.median(neighbours[:, keep], axis=1)
        local_max = a >= neighbours[:, w - 2 : w + 3].max(1)
        hard = (a > self.ratio * level + self.margin) & (a > self.min_cut) & local_max
        hard[0] = False
        # (score, frame, exclusion radius); hard cuts first, located exactly. A camera move, a flash
        # (a brightness change) or a fade does not survive motion compensation: drop those.
        # Next to black or white frames (a fade through them, placed by `merge_through_flat`) it
        # cannot be checked.
        flat = np.linalg.norm(thumbs, axis=1) < FLAT_CONTRAST
        candidates = [
            (1.0 + float(a[i]), int(i), self.min_shot)
            for i in np.flatnonzero(hard)
            if flat[max(0, i - 2 * r) : i + 2 * r].any() or self._cut_survives_alignment(lumas, int(i))
        ]

        # gradual transitions, on features median-filtered in time (flashes removed)
        smooth_thumbs = median_filter(thumbs, self.flash)
        contrast = median_filter(np.linalg.norm(thumbs, axis=1, keepdims=True), self.flash)
        smooth_thumbs *= contrast / np.maximum(np.linalg.norm(smooth_thumbs, axis=1, keepdims=True), 1e-6)
        distance = _distance_fn(median_filter(hists, self.flash), smooth_thumbs, GRADUAL_COLOUR_WEIGHT)
        # gradual transitions at each scale: change across the span vs change beside it
        for h in self.scales:
            across = distance(t - h, t + h)
            offsets = range(0, h + 1, max(1, h // 2))
            before = np.maximum.reduce([distance(t - 3 * h - k, t - h - k) for k in offsets])
            after = np.maximum.reduce([distance(t + h + k, t + 3 * h + k) for k in offsets])
            beside = np.maximum(before, after)
            score = across - beside
            above = (score > self.gradual_margin) & (t - 3 * h >= 0) & (t + 3 * h <= n - 1)
            for start, end in _runs(above):
                centre = (start + end) // 2  # middle of the plateau = middle of the transition
                if flat[max(0, centre - 2 * h) : centre + 2 * h + 1].any() or self._span_survives_alignment(
                    lumas, centre, h
                ):
                    candidates.append((float(score[start:end].max()), centre, max(self.min_shot, 2 * h)))

        # strongest first: a hard cut is located exactly, so it wins over the gradual view of it
        chosen: list[tuple[int, int]] = []
        for _, index, radius in sorted(candidates, reverse=True):
            if 0 < index < n and all(abs(index - c) >= max(radius, rc) for c, rc in chosen):
                chosen.append((index, radius))
        return merge_through_flat(sorted(c for c, _ in chosen), flat, max(self.scales))

    def _cut_survives_alignment(self, lumas: np.ndarray, t: int) -> bool:
        """A hard cut at t: frames across it still differ after the best global shift (every pair
        up to ``flash + 1`` frames each side), by more than frames beside it do."""
        n = len(lumas)
        side = [
            k
            for k in range(max(1, t - self.window), min(n, t + self.window + 1))
            if abs(k - t) > self.flash + 1
        ]
        beside = [d for k in side if (d := aligned_distance(lumas[k - 1], lumas[k])) is not None]
        need = max(ALIGNED_MIN, ALIGNED_RATIO * float(np.median(beside))) if beside else ALIGNED_MIN
        r = self.flash + 1
        for i in range(r + 1):
            for j in range(r + 1):
                lo, hi = t - 1 - i, t + j
                if lo < 0 or hi >= n:
                    continue
                d = aligned_distance(lumas[lo], lumas[hi])
                if d is not None and d <= need:
                    return False
        return True

    def _span_survives_alignment(self, lumas: np.ndarray, t: int, h: int) -> bool:
        """A gradual transition centred at t: its two ends still differ by more than `ALIGNED_MIN`
        once aligned by the best global shift and zoom; the ends of a pan or a zoom line up."""
        a, b = lumas[max(0, t - h)], lumas[min(len(lumas) - 1, t + h)]
        for zoom in ZOOMS:  # b is a zoomed in (zoom > 1) or out of a
            wide, close = (a, b) if zoom > 1 else (b, a)
            d = aligned_distance(zoom_in(wide, max(zoom, 1 / zoom)), close, max_shift=0.4)
            if d is not None and d <= ALIGNED_MIN:
                return False
        return True


def zoom_in(frame: np.ndarray, zoom: float) -> np.ndarray:
    """The centre 1/`zoom` of `frame`, resized back to its size."""
    if zoom == 1:
        return frame
    h, w = frame.shape
    ch, cw = round(h / zoom), round(w / zoom)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(frame[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def aligned_distance(a: np.ndarray, b: np.ndarray, max_shift: float = 0.25) -> float | None:
    """``(1 - NCC) / 2`` of two luma frames after the global shift that best aligns them, in [0, 1].

    The shift comes from phase correlation, refined by +-1 pixel; normalised cross-correlation over
    the overlap ignores brightness and contrast changes (flashes, fades). None when the shift is
    over `max_shift` of the frame size or either overlap is flat: the frames cannot be compared.
    """
    a, b = a.astype(np.float32), b.astype(np.float32)
    h, w = a.shape
    (dx, dy), _ = cv2.phaseCorrelate(a, b)  # b(x, y) ~ a(x - dx, y - dy)
    best = None
    for sy in (-1, 0, 1):
        for sx in (-1, 0, 1):
            x, y = int(round(dx)) + sx, int(round(dy)) + sy
            if abs(x) > max_shift * w or abs(y) > max_shift * h:
                continue
            pa = a[max(0, -y) : h - max(0, y), max(0, -x) : w - max(0, x)]
            pb = b[max(0, y) : h - max(0, -y), max(0, x) : w - max(0, -x)]
            pa, pb = pa - pa.mean(), pb - pb.mean()
            sa, sb = float(np.sqrt((pa * pa).mean())), float(np.sqrt((pb * pb).mean()))
            if sa < FLAT_LUMA or sb < FLAT_LUMA:
                continue
            d = (1.0 - float((pa * pb).mean()) / (sa * sb)) / 2
            best = d if best is None else min(best, d)
    return best


def merge_through_flat(cuts: list[int], flat: np.ndarray, reach: int) -> list[int]:
    """One boundary per fade through black or white: the boundaries within `reach` frames of a run
    of flat frames (a fade-out and a fade-in seen apart) become one, at the middle of the run."""
    out = list(cuts)
    for start, end in _runs(flat):
        inside = [c for c in out if start - reach <= c <= end + reach]
        if inside:
            out = sorted({*(c for c in out if c not in inside), (start + end) // 2})
    return [c for c in out if c > 0]


def _distance_fn(hists: np.ndarray, thumbs: np.ndarray, colour_weight: float = COLOUR_WEIGHT):
    """d(i, j) for index arrays (clipped to the video): mean of colour and structure distances."""
    n = len(hists)

    def distance(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        i, j = np.clip(i, 0, n - 1), np.clip(j, 0, n - 1)
        colour = 0.5 * np.abs(hists[i] - hists[j]).sum(1)
        zi, zj = thumbs[i], thumbs[j]
        ci, cj = np.linalg.norm(zi, axis=1), np.linalg.norm(zj, axis=1)  # contrasts in [0, 1]
        corr = (zi * zj).sum(1) / np.maximum(ci * cj, 1e-6)
        # flat frames (black, white) have no structure: weigh it by the lower contrast
        structure = 0.5 * (1.0 - corr) * np.minimum(ci, cj) + 0.5 * np.abs(ci - cj)
        return colour_weight * colour + (1 - colour_weight) * structure

    return distance


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) runs of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
