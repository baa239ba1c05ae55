"""Control fidelity metrics by formula: edge F1 with a tolerance, colour-cluster IoU, diversity."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.eval.control import (
    appearance_iou,
    edge_f1,
    kmeans_colours,
    matched_iou,
    other_source,
    pixel_diversity,
)


def line(shift: int = 0, T: int = 2) -> np.ndarray:
    m = np.zeros((T, 16, 16), bool)
    m[:, 8 + shift, 2:14] = True
    return m


def test_edge_f1_counts_pixels_within_the_tolerance():
    assert edge_f1(line(), line())["f1"] == 1.0
    assert edge_f1(line(1), line(), tol=1)["f1"] == 1.0  # one pixel off: inside the tolerance
    assert edge_f1(line(1), line(), tol=0)["f1"] == 0.0
    assert edge_f1(line(3), line(), tol=1)["f1"] == 0.0
    half = line()
    half[:, 8, 8:] = False  # half the true line found, nothing wrong: P = 1, R = 6/12 (tol 0)
    r = edge_f1(half, line(), tol=0)
    assert r["precision"] == 1.0 and r["recall"] == 0.5 and r["f1"] == pytest.approx(2 / 3)
    assert edge_f1(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))["f1"] == 1.0
    assert edge_f1(np.zeros((1, 4, 4)), line(T=1)[:, :4, :4] | True)["f1"] == 0.0
    # the tolerance is per frame: an edge in frame 0 does not excuse frame 1
    a, b = np.zeros((2, 8, 8), bool), np.zeros((2, 8, 8), bool)
    a[0, 4], b[1, 4] = True, True
    assert edge_f1(a, b)["f1"] == 0.0


def test_matched_iou_by_hand():
    true = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    assert matched_iou(true * 7 + 3, true) == 1.0  # any label names: matched one to one
    pred = np.array([[0, 0, 0, 1], [0, 0, 0, 1]])  # IoU 4/6 and 2/4
    assert matched_iou(pred, true) == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert matched_iou(np.zeros_like(true), true) == pytest.approx(0.5 / 2)  # one cluster: 4/8 to one segment
    assert matched_iou(pred, true, background=False) == pytest.approx(2 / 4)  # segment 1 only
    assert np.isnan(matched_iou(pred, np.zeros_like(true), background=False))  # no object to score


def test_appearance_iou_of_flat_renders_and_of_a_blank_video():
    masks = np.zeros((2, 12, 12), np.int64)
    masks[:, 2:6, 2:6], masks[:, 7:11, 5:10] = 1, 2
    palette = np.array([[30, 30, 30], [200, 50, 50], [40, 180, 60]], np.uint8)
    video = palette[masks]
    assert appearance_iou(video, masks) == 1.0
    noisy = np.clip(video + np.random.default_rng(0).integers(-10, 10, video.shape), 0, 255)
    assert appearance_iou(noisy, masks) == 1.0  # colour noise does not move the clusters
    assert appearance_iou(np.full_like(video, 90), masks) == 0.0  # nothing to segment: no object found
    assert appearance_iou(np.full_like(video, 90), masks, background=True) < 0.35
    assert kmeans_colours(video[0], 3).max() == 2


def test_appearance_iou_scores_objects_so_a_shuffled_clip_cannot_ride_on_the_background():
    """Small objects on a large background (the twins: ~98 % background): another clip's true video,
    its objects elsewhere, matches the background alone. With the background in the mean that gives
    it 1/3 here and the true clip could not score 2x it; over objects it scores 0."""
    a, b = np.zeros((1, 32, 32), np.int64), np.zeros((1, 32, 32), np.int64)
    a[:, 2:6, 2:6], a[:, 20:24, 8:12] = 1, 2
    b[:, 10:14, 25:29], b[:, 26:30, 20:24] = 1, 2
    palette = np.array([[30, 30, 30], [200, 50, 50], [40, 180, 60]], np.uint8)
    assert appearance_iou(palette[a], a) == 1.0
    assert appearance_iou(palette[b], a) == 0.0
    bg = (992 - 32) / (992 + 32)  # b's objects lie on a's background
    assert appearance_iou(palette[b], a, background=True) == pytest.approx(bg / 3)


def test_pixel_diversity_is_the_mean_per_pixel_std():
    a = np.zeros((1, 2, 2, 3))
    assert pixel_diversity(np.stack([a, a + 10])) == 5.0
    with pytest.raises(ValueError):
        pixel_diversity(a[None])


def test_other_source_never_pairs_a_clip_with_its_own_episode():
    sources = ["a", "a", "a", "b", "b", "c"]
    idx = other_source(sources)
    assert [sources[j] != s for j, s in zip(idx, sources, strict=True)] == [True] * 6
    assert idx.tolist() == [3, 4, 5, 0, 1, 2]  # clip i + N // 2, cyclic: far from the clip itself
    assert other_source(list("aaaab")).tolist() == [4, 4, 4, 4, 1]  # else the next of another source
    assert other_source(["x", "y"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="2 sources"):
        other_source(["a", "a"])
