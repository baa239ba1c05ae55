"""Video safety: parity with nudenet's own detector, real footage passes, aggregation and sampling
rules, and a missing model blocks (fail closed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from worldsmith.guardrails import GuardPipeline
from worldsmith.guardrails.base import GUARD_ERROR, GuardrailError
from worldsmith.guardrails.video_safety import VideoSafety, aggregate, sample_indices
from worldsmith.video import io


@pytest.fixture(scope="module")
def safety() -> VideoSafety:
    return VideoSafety()


def test_parity_with_nudenet_detector(safety, tmp_path):
    nudenet = pytest.importorskip("nudenet")
    image = data.astronaut()
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), image[..., ::-1])  # nudenet's reference use reads files with cv2 (BGR)
    theirs = nudenet.NudeDetector().detect(str(path))
    ours = safety.detect(image)
    assert [(d["class"], d["box"]) for d in theirs] == [(d.label, list(d.box)) for d in ours]
    np.testing.assert_allclose([d["score"] for d in theirs], [d.score for d in ours], atol=1e-4)
    assert ours[0].label == "FACE_FEMALE"


def test_real_footage_is_allowed(safety, real_clips):
    for name in ("bikes", "carphone_pristine"):
        frames = io.read(real_clips[name], end=120).frames.numpy()
        verdict = safety.check(frames)
        assert verdict.ok, (name, verdict)
        assert safety.scores(frames[::30]).max() < 0.3


def test_aggregation_and_sampling():
    assert aggregate(np.array([0.1, 0.7, 0.2]), 0.6, 1) == (True, 1)
    assert aggregate(np.array([0.1, 0.7, 0.2]), 0.6, 2) == (False, 1)
    assert aggregate(np.array([0.65, 0.7]), 0.6, 2) == (True, 2)
    idx = sample_indices(240, every=12, max_frames=64)
    assert idx[0] == 0 and idx[-1] == 239 and len(idx) == 21
    assert len(sample_indices(10_000, 12, 64)) == 64 and list(sample_indices(1, 12, 64)) == [0]


def test_missing_model_blocks(tmp_path):
    guard = VideoSafety(tmp_path / "320n.onnx")
    frames = np.zeros((4, 64, 64, 3), np.uint8)
    with pytest.raises(GuardrailError, match="320n.onnx"):
        guard.check(frames)
    verdict, out = GuardPipeline(post_guards=[guard]).check_video(frames)
    assert not verdict.ok and verdict.category == GUARD_ERROR and out is None
    (tmp_path / "320n.onnx").write_bytes(b"garbage")
    assert not GuardPipeline(post_guards=[VideoSafety(tmp_path / "320n.onnx")]).check_video(frames)[0].ok


def test_real_detections_drive_the_block_decision():
    """The positive path without unsafe imagery: a guard whose 'unsafe' class is FACE_FEMALE, on a
    video whose first 12 of 24 frames show scikit-image's astronaut and the rest are black. Each
    sampled frame's score is the model's FACE_FEMALE confidence (equal to the decoded detection's),
    the count of frames at or above the threshold is what `aggregate` gets, and the video is blocked
    exactly when that count reaches `min_unsafe_frames`."""
    photo = data.astronaut()
    frames = np.zeros((24, 512, 512, 3), np.uint8)
    frames[:12] = photo
    guard = VideoSafety(unsafe_labels=("FACE_FEMALE",), every=2, threshold=0.5, min_unsafe_frames=2)
    (face,) = [d for d in guard.detect(photo) if d.label == "FACE_FEMALE"]
    assert face.score > 0.5 and 150 < face.box[0] + face.box[2] / 2 < 300  # her face, left of centre
    idx = sample_indices(24, 2, 64)
    scores = guard.scores(frames[idx])
    np.testing.assert_allclose(scores[idx < 12], face.score, atol=1e-4)
    assert scores[idx >= 12].max() < 0.05  # black frames: nothing found
    n_face = int((idx < 12).sum())
    verdict = guard.check(frames)
    assert (
        not verdict.ok
        and verdict.category == "sexual"
        and verdict.reason.startswith(f"{n_face} of {len(idx)}")
    )
    assert (
        VideoSafety(unsafe_labels=("FACE_FEMALE",), every=2, threshold=0.5, min_unsafe_frames=n_face + 1)
        .check(frames)
        .ok
    )
    assert VideoSafety(every=2).check(frames).ok  # the default (exposed) classes: the astronaut passes
    with pytest.raises(GuardrailError, match="subset"):
        VideoSafety(unsafe_labels=("GUN",))
