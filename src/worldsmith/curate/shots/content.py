"""`content`: our fast shot detector for hard cuts and gradual transitions, robust to flashes and motion.

Each frame is decoded and shrunk by FFmpeg's swscale straight to small yuv420p planes (64 px wide,
no RGB conversion) and summarised by two cheap features, computed for chunks of frames at once: a
64-bin YUV colour histogram and a 16x9 luma thumbnail with zero mean, scaled to unit norm times its
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
  (2h for a gradual one) between boundaries. A candidate about to be taken is checked with motion
  compensation on the small luma frames (`aligned_distance`: phase-correlation shift, then
  normalised cross-correlation, which ignores brightness and contrast). A cut must leave every
  pair across it different (> `ALIGNED_MIN` and > `ALIGNED_RATIO` x the aligned change of
  neighbouring frames), and its two frames different block by block (`local_block_distance`:
  each of 3x4 blocks searched within a few pixels of its place, > `STEP_MIN`). A gradual span must
  leave its two ends different under the chained frame-to-frame shift and under a few zooms, and
  then show a change of shot in one of three ways: a hard cut inside it (two neighbouring frames
  differ block by block, > `STEP_CUT`: the boundary moves there), ends whose blocks are found
  nowhere in each other (`block_distance` > `BLOCK_MIN`), or a middle that is a mix of its ends
  (`blend_gain` >= `BLEND_MIN`, the dissolve model ``x A + y B + c``). Pans, zooms, shake, a
  camera turning in 3D, and flashes hiding a camera jerk line up or fail all three, and are
  dropped. Near black or white frames nothing can be aligned: no check.
- A fade through black or white is one transition: boundaries within max(scales) frames of a run
  of flat frames merge into one at the middle of the run (`merge_through_flat`).

Frames are streamed; the features kept are about 2.5 KB a frame (mostly the 64-px luma).
"""

from __future__ import annotations

import os
from functools import partial

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from worldsmith.curate.shots.base import ShotError
from worldsmith.video.io import iter_av_frames, probe, reformat

THUMB_H, THUMB_W = 9, 16
FLAT_STD = 8.0  # luma std (levels) below which a thumbnail counts as partly flat
COLOUR_WEIGHT = 0.25  # hard cuts: structure separates shots better; colour sees fades, flat frames
GRADUAL_COLOUR_WEIGHT = 0.5  # gradual: colour drifts less than structure under camera motion
ALIGNED_MIN = 0.1  # aligned (1 - NCC) / 2 at or below which two frames show the same view
ALIGNED_RATIO = 2.0  # ... or below this many times the aligned distance of neighbouring frames
BLOCK_MIN = 0.2  # median block distance above which a span's ends show two scenes
BLEND_MIN = 0.36  # blend gain at or above which a span's middle is a mix of its ends (a dissolve)
STEP_MIN = 0.08  # local block distance of the frames across a cut at or below which they show one view
STEP_CUT = 0.15  # local block distance of two neighbouring frames inside a span that makes it a cut
BAR_LUMA = 48.0  # mean luma (levels) below which a flat border row or column is a letterbox bar
LOCAL_RADIUS = 6  # pixels (of the 64-px luma) a block may move between neighbouring frames
ZOOMS = (1.0, 1.15, 1 / 1.15, 1.35, 1 / 1.35, 1.6, 1 / 1.6)  # tried between a span's ends
FLAT_LUMA = 1.5  # luma std (levels) below which an overlap has no structure to correlate
FLAT_CONTRAST = 0.15  # thumbnail contrast of a flat (black, white) frame
CHUNK = 256  # frames whose features are computed together


def decode_size(height: int, width: int, target_width: int = 64) -> tuple[int, int]:
    """(height, width) with `target_width` columns (rounded to 16), the source aspect ratio, and a
    height that is a multiple of 18 (9 thumbnail rows, even for the chroma planes)."""
    w = max(THUMB_W, round(target_width / THUMB_W) * THUMB_W)
    h = max(2 * THUMB_H, round(w * height / max(width, 1) / (2 * THUMB_H)) * 2 * THUMB_H)
    return h, w


def plane_features(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """yuv420p planes of N frames (uint8 ``[N, H, W]``, ``[N, H/2, W/2]`` x 2) -> (64-bin YUV colour
    histograms ``[N, 64]`` summing to 1, normalised 9x16 luma thumbnails ``[N, 144]``)."""
    n, h, w = y.shape
    if n == 0:
        return np.zeros((0, 64), np.float32), np.zeros((0, THUMB_H * THUMB_W), np.float32)
    # colour: 2 bits each of luma (at chroma resolution), U and V
    y2 = y[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4), dtype=np.float32)
    bins = ((y2.astype(np.intp) >> 6) << 4) | ((u.astype(np.intp) >> 6) << 2) | (v.astype(np.intp) >> 6)
    bins += (np.arange(n) * 64)[:, None, None]
    hists = np.bincount(bins.ravel(), minlength=64 * n).reshape(n, 64).astype(np.float32)
    hists /= hists.sum(axis=1, keepdims=True)
    # structure: 9x16 block means of luma, zero mean, unit norm times the contrast in [0, 1] (a fading
    # frame loses structure smoothly)
    thumbs = y.reshape(n, THUMB_H, h // THUMB_H, THUMB_W, w // THUMB_W).mean(axis=(2, 4), dtype=np.float32)
    thumbs = thumbs.reshape(n, -1)
    thumbs -= thumbs.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(thumbs, axis=1, keepdims=True)
    contrast = np.minimum(1.0, norm / np.sqrt(thumbs.shape[1]) / FLAT_STD)
    thumbs *= np.where(norm > 0, contrast / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
    return hists, thumbs


def rgb_planes(frames: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB frames ``[N, H, W, 3]`` -> yuv420p planes at `size` = (height, width) (area filter)."""
    h, w = size
    planes = [
        cv2.cvtColor(cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2YUV_I420)
        for f in frames
    ]
    yuv = np.stack(planes) if planes else np.zeros((0, h * 3 // 2, w), np.uint8)
    return _split_planes(yuv, h, w)


def _split_planes(yuv: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[N, 3H/2, W]`` I420 buffers -> Y ``[N, H, W]``, U and V ``[N, H/2, W/2]``."""
    n = len(yuv)
    chroma = yuv[:, h:].reshape(n, 2, h // 2, w // 2)
    return yuv[:, :h], chroma[:, 0], chroma[:, 1]


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
        ratio: float = 3.0,
        margin: float = 0.02,
        min_cut: float = 0.06,
        gradual_margin: float = 0.07,
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
        """Stream `video` -> (histograms ``[N, 64]``, thumbnails ``[N, 144]``, luma ``[N, H, W]`` uint8).

        FFmpeg's swscale shrinks each decoded frame straight to small yuv420p planes (no RGB
        conversion, no full-size copy); features are computed a chunk of frames at a time.
        """
        info = probe(video)
        h, w = decode_size(info.height, info.width, self.width)
        hists, thumbs, lumas, chunk = [], [], [], []

        def flush() -> None:
            y, u, v = _split_planes(np.stack(chunk), h, w)
            hist, thumb = plane_features(y, u, v)
            hists.append(hist)
            thumbs.append(thumb)
            lumas.append(y.copy())
            chunk.clear()

        for _, frame in iter_av_frames(video):
            chunk.append(reformat(frame, w, h, "yuv420p").to_ndarray())
            if len(chunk) == CHUNK:
                flush()
        if chunk:
            flush()
        if not hists:
            return plane_features(*(np.zeros((0, h, w), np.uint8),) * 3) + (np.zeros((0, h, w), np.uint8),)
        return np.concatenate(hists), np.concatenate(thumbs), np.concatenate(lumas)

    def detect_frames(self, frames: np.ndarray) -> list[int]:
        """Boundaries in uint8 RGB frames ``[N, H, W, 3]`` already in memory."""
        y, u, v = rgb_planes(frames, decode_size(*frames.shape[1:3], self.width))
        return self.detect_features(*plane_features(y, u, v), y)

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
        # (score, frame, exclusion radius, kind); hard cuts first, located exactly. A camera move, a
        # flash (a brightness change) or a fade does not survive motion compensation: candidates
        # that would be chosen are checked (lazily, it costs more than everything else), except
        # next to black or white frames (a fade through them, placed by `merge_through_flat`).
        flat = np.linalg.norm(thumbs, axis=1) < FLAT_CONTRAST
        candidates = [(1.0 + float(a[i]), int(i), self.min_shot, 0) for i in np.flatnonzero(hard)]

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
                candidates.append((float(score[start:end].max()), centre, max(self.min_shot, 2 * h), h))

        # strongest first: a hard cut is located exactly, so it wins over the gradual view of it
        chosen: list[tuple[int, int]] = []

        def spaced(i: int, radius: int) -> bool:  # min_shot (or 2h) from every chosen boundary
            return all(abs(i - c) >= max(radius, rc) for c, rc in chosen)

        for _, index, radius, h in sorted(candidates, reverse=True):
            if not (0 < index < n and spaced(index, radius)):
                continue
            near = max(2 * self.flash + 2, 2 * h)
            fade = flat[max(0, index - near) : index + near + 1].any()  # black or white: nothing to align
            if fade:
                chosen.append((index, radius))
                continue
            check = self._cut_survives_alignment if h == 0 else partial(self._span_survives_alignment, h=h)
            at = check(lumas, index)
            if at is not None and spaced(at, radius):
                chosen.append((at, radius))
        return merge_through_flat(sorted(c for c, _ in chosen), flat, max(self.scales))

    def _cut_survives_alignment(self, lumas: np.ndarray, t: int) -> int | None:
        """A hard cut at t (returned, or None): frames across it still differ after the best global
        shift (every pair up to ``flash + 1`` frames each side), by more than frames beside it do,
        and the two frames at it differ block by block under local motion (`local_block_distance`:
        an object moving on its own or a camera turning in 3D leaves no global shift to find)."""
        n = len(lumas)
        step = local_block_distance(lumas[t - 1], lumas[t])
        if step is not None and step <= STEP_MIN:
            return None
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
                    return None
        return t

    def _span_survives_alignment(self, lumas: np.ndarray, t: int, *, h: int) -> int | None:
        """A gradual transition centred at t: its boundary (t, or the frame of a hard cut found
        inside the span), or None for a camera or object move.

        The span's two ends must differ by more than `ALIGNED_MIN` once aligned by the best global
        shift and zoom (the ends of a pan or a zoom line up). Then one of three must show a change
        of shot: two neighbouring frames inside the span differ block by block under local motion
        (a hard cut that motion hid from the hard-cut score: it is returned), the ends' blocks are
        found nowhere in each other (`block_distance` > `BLOCK_MIN`: two scenes), or the middle
        frames are a mix of the ends (`blend_gain` >= `BLEND_MIN`: a dissolve). A camera turning in
        3D passes the first test but none of the others.
        """
        lo, hi = max(0, t - h), min(len(lumas) - 1, t + h)
        a, b = lumas[lo], lumas[hi]
        # a fast pan: the shift of the ends is the sum of the frame-to-frame shifts
        steps = [cv2.phaseCorrelate(*lumas[k : k + 2].astype(np.float32))[0] for k in range(lo, hi)]
        chained = aligned_distance(a, b, max_shift=0.6, shift=tuple(np.sum(steps, axis=0))) if steps else None
        if chained is not None and chained <= ALIGNED_MIN:
            return None
        for zoom in ZOOMS:  # b is a zoomed in (zoom > 1) or out of a
            wide, close = (a, b) if zoom > 1 else (b, a)
            d = aligned_distance(zoom_in(wide, max(zoom, 1 / zoom)), close, max_shift=0.4)
            if d is not None and d <= ALIGNED_MIN:
                return None
        jumps = [local_block_distance(lumas[k - 1], lumas[k]) or 0.0 for k in range(lo + 1, hi + 1)]
        if max(jumps) > STEP_CUT:
            return lo + 1 + int(np.argmax(jumps))
        d = block_distance(a, b)
        if d is None or d > BLOCK_MIN or blend_gain(lumas, lo, hi, t) >= BLEND_MIN:
            return t
        return None


def active_area(*frames: np.ndarray) -> tuple[slice, slice]:
    """(rows, columns) of the picture inside the dark flat bars (letterbox, pillarbox) at the borders
    of every one of `frames`; the whole frame when the bars would leave less than half of it.

    Blocks that straddle a bar's edge show the same sharp edge in any two frames of a video, so the
    block measures look inside the bars."""
    stack = np.stack(frames).astype(np.float32)  # [n, H, W]

    def span(axis: int) -> slice:
        flat = (stack.std(axis=axis) < FLAT_LUMA) & (stack.mean(axis=axis) < BAR_LUMA)  # [n, len]
        picture = np.flatnonzero(~flat.all(axis=0))
        size = stack.shape[3 - axis]
        if len(picture) == 0 or picture[-1] + 1 - picture[0] < size / 2:
            return slice(0, size)
        return slice(int(picture[0]), int(picture[-1]) + 1)

    return span(2), span(1)


def local_block_distance(a: np.ndarray, b: np.ndarray, grid: tuple[int, int] = (3, 4)) -> float | None:
    """`block_distance` with each block searched within `LOCAL_RADIUS` pixels of its place in `a`
    (two neighbouring frames: local motion)."""
    return block_distance(a, b, grid, radius=LOCAL_RADIUS)


def blend_gain(lumas: np.ndarray, lo: int, hi: int, t: int) -> float:
    """How much better frames t-1..t+1 are fitted as a mix of the span's ends, ``x A + y B + c``,
    than by the better end alone, ``x A + c``: ``1 - residual(both) / residual(one)``, the best of
    the three frames, in [0, 1] (0 where one end leaves under one grey level rms). A dissolve's
    middle is such a mix (about 1); a camera move's middle is the picture shifted, which no mix of
    the ends reproduces (about 0)."""
    ends = lumas[lo].astype(np.float64).ravel(), lumas[hi].astype(np.float64).ravel()
    one = np.ones_like(ends[0])

    def residual(m: np.ndarray, *columns: np.ndarray) -> float:
        x = np.stack([*columns, one], 1)
        coef, *_ = np.linalg.lstsq(x, m, rcond=None)
        return float(np.square(m - x @ coef).sum())

    best = 0.0
    for k in range(max(lo + 1, t - 1), min(hi, t + 2)):
        m = lumas[k].astype(np.float64).ravel()
        one_end = min(residual(m, ends[0]), residual(m, ends[1]))
        if one_end > m.size:  # one end explains it to within a grey level: nothing left to gain
            best = max(best, 1.0 - residual(m, *ends) / one_end)
    return best


def block_distance(
    a: np.ndarray, b: np.ndarray, grid: tuple[int, int] = (3, 4), *, radius: int | None = None
) -> float | None:
    """Median over a `grid` of blocks of `b` of ``(1 - NCC) / 2`` at the block's best match in `a`:
    anywhere (local motion over a span), or within `radius` pixels of its place; None when every
    block is flat. Blocks tile the `active_area` of the two frames."""
    rows, cols = active_area(a, b)
    a, b = a[rows, cols].astype(np.float32), b[rows, cols].astype(np.float32)
    h, w = b.shape
    bh, bw = h // grid[0], w // grid[1]
    out = []
    for y in range(0, grid[0] * bh, bh):
        for x in range(0, grid[1] * bw, bw):
            block = b[y : y + bh, x : x + bw]
            if block.std() < FLAT_LUMA:
                continue
            r = radius
            window = a if r is None else a[max(0, y - r) : y + bh + r, max(0, x - r) : x + bw + r]
            out.append((1.0 - float(cv2.matchTemplate(window, block, cv2.TM_CCOEFF_NORMED).max())) / 2)
    return float(np.median(out)) if out else None


def zoom_in(frame: np.ndarray, zoom: float) -> np.ndarray:
    """The centre 1/`zoom` of `frame`, resized back to its size."""
    if zoom == 1:
        return frame
    h, w = frame.shape
    ch, cw = round(h / zoom), round(w / zoom)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(frame[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def aligned_distance(
    a: np.ndarray, b: np.ndarray, max_shift: float = 0.25, shift: tuple[float, float] | None = None
) -> float | None:
    """``(1 - NCC) / 2`` of two luma frames after the global shift that best aligns them, in [0, 1].

    The shift (dx, dy), ``b(x, y) ~ a(x - dx, y - dy)``, comes from phase correlation unless given,
    refined by +-1 pixel; normalised cross-correlation over the overlap ignores brightness and
    contrast changes (flashes, fades). None when the shift is over `max_shift` of the frame size or
    either overlap is flat: the frames cannot be compared.
    """
    a, b = a.astype(np.float32), b.astype(np.float32)
    h, w = a.shape
    (dx, dy), _ = cv2.phaseCorrelate(a, b) if shift is None else (shift, None)
    x, y = int(round(dx)), int(round(dy))
    if abs(x) > max_shift * w or abs(y) > max_shift * h:
        return None
    # a[r, c] ~ b[r + y, c + x]: a's overlap less a 1-pixel border, searched over +-1 in b's overlap
    template = a[max(0, -y) + 1 : h - max(0, y) - 1, max(0, -x) + 1 : w - max(0, x) - 1]
    search = b[max(0, y) : h - max(0, -y), max(0, x) : w - max(0, -x)]
    if min(template.shape) < 4 or template.std() < FLAT_LUMA or search.std() < FLAT_LUMA:
        return None
    ncc = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)  # [3, 3]
    return float(np.clip((1.0 - ncc.max()) / 2, 0.0, 1.0))


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
