"""Losses, objective, clip windows and the naive-codec baseline, against their formulas."""

from __future__ import annotations

import pytest
import torch

from worldsmith.data import ClipDataset, DataError, find_videos
from worldsmith.tokenizers.evaluate import naive_codec
from worldsmith.tokenizers.losses import reconstruction_loss, temporal_consistency_loss
from worldsmith.tokenizers.objective import ObjectiveConfig, TokenizerObjective


def test_losses_match_formulas():
    x, y = torch.randn(2, 3, 5, 4, 4), torch.randn(2, 3, 5, 4, 4)
    torch.testing.assert_close(reconstruction_loss(y, x), (y - x).abs().mean())
    dx, dy = x[:, :, 1:] - x[:, :, :-1], y[:, :, 1:] - y[:, :, :-1]
    torch.testing.assert_close(temporal_consistency_loss(y, x), (dy - dx).abs().mean())
    assert temporal_consistency_loss(y + 1.0, y) < 1e-6  # a constant offset does not flicker
    assert temporal_consistency_loss(y[:, :, :1], x[:, :, :1]) == 0


def test_objective_stages():
    class Identity(torch.nn.Module):
        def forward(self, x):
            return x + 0.5, None

    x = torch.zeros(1, 3, 5, 4, 4)
    loss1, m1 = TokenizerObjective()(Identity(), x)
    assert loss1.item() == pytest.approx(0.5) and "temporal" not in m1
    loss2, m2 = TokenizerObjective(ObjectiveConfig(stage=2))(Identity(), x)
    assert m2["temporal"].item() == 0 and loss2.item() == pytest.approx(0.5)
    assert m1["psnr"].item() == pytest.approx(10 * torch.log10(torch.tensor(4 / 0.25)).item())


def test_naive_codec_keeps_what_it_should():
    x = torch.rand(1, 3, 9, 16, 16)
    const = torch.full_like(x, 0.3)
    torch.testing.assert_close(naive_codec(const, 4, 8), const)  # constants survive
    y = naive_codec(x, 4, 8)
    assert y.shape == x.shape
    block_mean = x[:, :, 0].unflatten(2, (2, 8)).unflatten(4, (2, 8)).mean((3, 5))  # [1, 3, 2, 2]
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(y[:, :, 0], 8), block_mean, atol=0.05, rtol=0)


def test_clip_windows_and_errors(tmp_path):
    v = torch.randint(0, 255, (20, 8, 8, 3), dtype=torch.uint8)
    ds = ClipDataset([v], frames=9, stride=4)
    assert len(ds) == 3 and ds[0].shape == (3, 9, 8, 8)
    assert ds[1].min() >= -1 and ds[1].max() <= 1
    with pytest.raises(DataError, match="no clip of .* has 30 frames"):
        ClipDataset([v], frames=30)
    with pytest.raises(DataError, match="does not exist"):
        find_videos(tmp_path / "nope")
    with pytest.raises(DataError, match="no video files"):
        find_videos(tmp_path)
