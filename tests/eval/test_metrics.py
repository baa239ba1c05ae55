from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsmith.eval import metrics

skimage_metrics = pytest.importorskip("skimage.metrics")
skimage_data = pytest.importorskip("skimage.data")


def noisy_pair(seed=0, t=3):
    rng = np.random.default_rng(seed)
    img = skimage_data.astronaut()[::4, ::4]  # [128, 128, 3] real photo
    clean = np.stack([np.roll(img, 2 * i, axis=1) for i in range(t)])  # [T, H, W, 3]
    noise = rng.normal(0, 12, clean.shape)
    return clean, np.clip(clean + noise, 0, 255).astype(np.uint8)


def test_psnr_matches_skimage():
    clean, noisy = noisy_pair()
    ours = metrics.psnr(noisy, clean)
    ref = [
        skimage_metrics.peak_signal_noise_ratio(c, n, data_range=255)
        for c, n in zip(clean, noisy, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10)


def test_psnr_identical_is_inf_and_float_range():
    x = torch.rand(2, 8, 8, 3)
    assert torch.isinf(metrics.psnr(x, x)).all()
    y = x + 0.1
    np.testing.assert_allclose(metrics.psnr(y, x, data_range=1.0).numpy(), 20.0, rtol=1e-6)


def test_ssim_matches_skimage():
    clean, noisy = noisy_pair(t=2)
    ours = metrics.ssim(noisy, clean)
    ref = [
        skimage_metrics.structural_similarity(
            c,
            n,
            data_range=255,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for c, n in zip(clean, noisy, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)
    assert metrics.ssim(clean, clean).min() == pytest.approx(1.0)


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 9, 3)))


def test_flicker():
    clean, _ = noisy_pair(t=4)
    assert metrics.temporal_flicker(clean, clean) == 0.0
    flick = clean.astype(np.int16).copy()
    flick[1::2] += 20  # brightness flicker on odd frames
    assert metrics.temporal_flicker(flick, clean) == pytest.approx(20.0, rel=0.05)
    static = np.repeat(clean[:1], 4, axis=0)
    assert metrics.temporal_flicker(static) == 0.0


def test_summarize_keys():
    clean, noisy = noisy_pair()
    s = metrics.summarize(noisy, clean)
    assert set(s) == {"psnr", "ssim", "flicker"} and 20 < s["psnr"] < 35 and 0 < s["ssim"] < 1
