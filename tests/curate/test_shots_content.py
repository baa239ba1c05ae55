"""The `content` detector's motion-compensated checks and its fade merging, on real pictures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from worldsmith.curate.shots.content import (
    ALIGNED_MIN,
    BLEND_MIN,
    STEP_MIN,
    ContentDetector,
    active_area,
    aligned_distance,
    blend_gain,
    block_distance,
    decode_size,
    local_block_distance,
    merge_through_flat,
    plane_features,
    rgb_planes,
    zoom_in,
)


def _luma(image: np.ndarray, size=(128, 72)) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def pictures() -> tuple[np.ndarray, np.ndarray]:
    return _luma(data.astronaut()), _luma(data.coffee())


def test_aligned_distance_ignores_shift_and_brightness_but_not_content(pictures):
    a, other = pictures
    big = _luma(data.astronaut(), (160, 90))
    left, right = big[9:81, 10:138], big[9:81, 22:150]  # the same view, 12 px apart (a pan)
    assert aligned_distance(left, right) < 0.05
    assert float(np.abs(left.astype(int) - right).mean()) > 10  # without alignment they differ
    flash = (a.astype(np.float32) * 0.3 + 170).astype(np.uint8)  # a camera flash: affine in brightness
    assert aligned_distance(a, flash) < 0.02
    assert aligned_distance(a, other) > 3 * ALIGNED_MIN
    assert aligned_distance(a, np.full_like(a, 128)) is None  # a flat frame has nothing to align
    assert aligned_distance(left, right, max_shift=0.05) is None or aligned_distance(left, right, 0.05) > 0.05


def test_zoom_in_then_align_matches_a_zoomed_view(pictures):
    a = _luma(data.astronaut(), (256, 144))
    wide = cv2.resize(a, (128, 72), interpolation=cv2.INTER_AREA)
    close = cv2.resize(a[18:126, 32:224], (128, 72), interpolation=cv2.INTER_AREA)  # 1.33x zoom
    assert aligned_distance(wide, close) > 0.1
    assert aligned_distance(zoom_in(wide, 1.35), close) < 0.08


def test_merge_through_flat_keeps_one_boundary_in_the_middle():
    flat = np.zeros(100, bool)
    flat[50:52] = True
    assert merge_through_flat([44, 51, 58], flat, reach=11) == [51]
    assert merge_through_flat([10, 44, 58, 90], flat, reach=11) == [10, 51, 90]
    assert merge_through_flat([10, 90], flat, reach=11) == [10, 90]  # no boundary near the black


def _pan_video(rng: np.random.Generator, n: int = 80) -> np.ndarray:
    """A fast hand-held pan (8 px a frame, a 30 px jerk) over a real picture, the jerk hidden in a
    2-frame camera flash: without motion compensation its frames look like a cut."""
    big = cv2.resize(data.astronaut(), (1400, 240), interpolation=cv2.INTER_AREA)
    xs = [8 * i + (30 if i >= 40 else 0) for i in range(n)]
    ys = [20 + int(8 * np.sin(i / 5)) for i in range(n)]
    frames = np.stack([big[y : y + 180, x : x + 320] for x, y in zip(xs, ys, strict=True)])
    frames[40:42] = (frames[40:42].astype(np.float32) * 0.25 + 190).astype(np.uint8)
    return np.clip(frames + rng.normal(0, 2, frames.shape), 0, 255).astype(np.uint8)


def test_no_boundary_in_a_fast_pan_with_a_flash_but_a_cut_is_found():
    det = ContentDetector()
    rng = np.random.default_rng(0)
    pan = _pan_video(rng)
    other = np.clip(cv2.resize(data.coffee(), (320, 180))[None] + rng.normal(0, 2, (60, 180, 320, 3)), 0, 255)

    assert det.detect_frames(pan) == []
    assert det.detect_frames(np.concatenate([pan, other.astype(np.uint8)])) == [80]


def test_plane_features_histogram_and_thumbnail():
    rng = np.random.default_rng(1)
    n, h, w = 3, 36, 64
    y = np.full((n, h, w), 16, np.uint8)  # frame 0: flat black
    u = np.full((n, h // 2, w // 2), 128, np.uint8)
    v = np.full((n, h // 2, w // 2), 128, np.uint8)
    y[1] = _luma(data.astronaut(), (w, h))  # frame 1: a picture; frame 2: the same, dimmed
    y[2] = (y[1].astype(np.float32) * 0.5 + 20).astype(np.uint8)
    u[1:] = rng.integers(0, 256, (2, h // 2, w // 2))
    hists, thumbs = plane_features(y, u, v)
    assert hists.shape == (n, 64) and thumbs.shape == (n, 144)
    np.testing.assert_allclose(hists.sum(1), 1.0, rtol=1e-6)
    assert hists[0, (0 << 4) | (2 << 2) | 2] == 1.0  # Y 16 -> bin 0, U = V = 128 -> bin 2
    assert np.count_nonzero(hists[1]) > 4
    assert np.linalg.norm(thumbs[0]) == 0.0  # no structure, no contrast
    assert 0.99 < np.linalg.norm(thumbs[1]) <= 1.0 + 1e-6  # a contrasty picture: full contrast
    cos = thumbs[1] @ thumbs[2] / np.linalg.norm(thumbs[1]) / np.linalg.norm(thumbs[2])
    assert cos > 0.999  # dimming keeps the structure


def test_rgb_planes_match_the_decoder_path(tmp_path):
    """`detect_frames` (RGB in memory) and `detect` (swscale from the file) see the same frames."""
    from worldsmith.video import io

    frames = np.stack(
        [cv2.resize(data.astronaut(), (320, 180))] * 4 + [cv2.resize(data.coffee(), (320, 180))] * 4
    )
    path = io.write(tmp_path / "two.mp4", frames, 25.0, crf=12)
    det = ContentDetector()
    size = decode_size(180, 320)
    assert size == (36, 64)
    y_mem = rgb_planes(frames, size)[0].astype(int)
    y_file = det.features(path)[2].astype(int)
    assert y_file.shape == y_mem.shape
    assert np.abs(y_file - y_mem).mean() < 4  # BT.601 both; codec and filter differences only


def test_block_distance_finds_parts_that_moved_apart(pictures):
    a, other = pictures
    big = _luma(data.astronaut(), (160, 90))
    # parallax: the top half moves left, the bottom half right (no single shift fits both)
    moved = np.concatenate([big[9:45, 2:130], big[45:81, 30:158]])
    assert aligned_distance(a := big[9:81, 16:144], moved) > 0.1
    assert block_distance(a, moved) < 0.06
    assert block_distance(a, other) > 0.15
    assert block_distance(a, np.full_like(a, 90)) is None


def test_local_block_distance_follows_local_motion_but_not_a_new_view(pictures):
    a, other = pictures
    big = _luma(data.astronaut(), (160, 90))
    before = big[9:81, 16:144]
    # the next frame: the top half moved 4 px left, the bottom 5 px right, brighter (local motion)
    after = np.concatenate([big[9:45, 20:148], big[45:81, 11:139]]).astype(np.float32) * 0.8 + 40
    after = after.astype(np.uint8)
    assert aligned_distance(before, after) > 0.1  # no single shift explains it
    assert local_block_distance(before, after) < 0.03
    assert local_block_distance(before, other) > 3 * STEP_MIN
    assert local_block_distance(before, np.full_like(before, 90)) is None
    # the search is local: the same picture moved by 40 px is not found
    far = big[9:81, 0:128]
    assert local_block_distance(big[9:81, 32:160], far) > local_block_distance(before, after) + 0.05


def test_blend_gain_is_one_for_a_dissolve_and_near_zero_for_a_pan(pictures):
    a, b = pictures
    alpha = np.linspace(0, 1, 9)[:, None, None]
    dissolve = ((1 - alpha) * a + alpha * b).round().astype(np.uint8)  # 9 frames, A to B
    assert blend_gain(dissolve, 0, 8, 4) > 0.999
    big = _luma(data.astronaut(), (200, 90))
    pan = np.stack([big[9:81, 8 * k : 8 * k + 128] for k in range(9)])  # 8 px a frame
    assert blend_gain(pan, 0, 8, 4) < 0.3 < BLEND_MIN

    # the formula, written out: best over frames 3..5 of 1 - residual(A, B, 1) / min residual(end, 1)
    def residual(m, *cols):
        x = np.stack([*cols, np.ones_like(m)], 1)
        return float(np.square(m - x @ np.linalg.lstsq(x, m, rcond=None)[0]).sum())

    ends = pan[0].astype(np.float64).ravel(), pan[8].astype(np.float64).ravel()
    frames = [pan[k].astype(np.float64).ravel() for k in (3, 4, 5)]
    want = max(1 - residual(m, *ends) / min(residual(m, ends[0]), residual(m, ends[1])) for m in frames)
    assert blend_gain(pan, 0, 8, 4) == pytest.approx(want, abs=1e-9)
    still = np.repeat(a[None], 9, 0)
    assert blend_gain(still, 0, 8, 4) == 0.0  # nothing to explain: no gain


def test_block_measures_look_inside_letterbox_bars(pictures):
    """Pillarbox bars put the same sharp edge into the border blocks of any two frames; the block
    measures tile the picture between the bars, so two different shots stay different."""
    a, b = pictures  # 72 x 128

    def pillarbox(img: np.ndarray) -> np.ndarray:
        out = np.full((72, 160), 16, np.uint8)  # video black
        out[:, 16:144] = img
        return out

    pa, pb = pillarbox(a), pillarbox(b)
    pa[:, :16] += np.random.default_rng(0).integers(0, 2, (72, 16), dtype=np.uint8)  # codec noise
    assert active_area(pa, pb) == (slice(0, 72), slice(16, 144))
    assert active_area(a, b) == (slice(0, 72), slice(0, 128))  # no bars: the whole frame
    assert local_block_distance(pa, pb) > 3 * STEP_MIN
    assert abs(local_block_distance(pa, pb) - local_block_distance(a, b)) < 1e-6
    assert block_distance(pa, pb) == block_distance(a, b)
