"""Overfit one batch: a tiny CV and a tiny DV tokenizer must learn to reconstruct one clip.

These architectures sit on a plateau (the clip mean) for a few hundred steps before the encoder's
information gets through (diffusers' AutoencoderKLCosmos, trained the same way, plateaus alike),
so the runs are long for CPU and marked slow.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.objective import TokenizerObjective
from worldsmith.tokenizers.presets import get_preset


def _overfit(preset: str, steps: int) -> tuple[float, float]:
    torch.manual_seed(0)
    c = replace(get_preset(preset), encoder_channels=(16, 32, 32, 32), decoder_channels=(16, 32, 32, 32),
                num_res_blocks=1)  # fmt: skip
    model = CausalTokenizer(c)
    x = F.interpolate(
        torch.rand(1, 3, 3, 4, 4) * 2 - 1, size=(9, 16, 16), mode="trilinear"
    )  # [1, 3, 9, 16, 16]
    objective = TokenizerObjective()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    losses = []
    for _ in range(steps):
        loss, _ = objective(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], min(losses[-10:])


@pytest.mark.slow
def test_overfit_one_batch_continuous():
    first, last = _overfit("tiny-cv4x8x8", 450)
    assert last < 0.1 * first, (first, last)


@pytest.mark.slow
def test_overfit_one_batch_discrete():
    first, last = _overfit("tiny-dv4x8x8", 450)
    assert last < 0.25 * first, (first, last)  # FSQ rounding leaves a floor


def test_overfit_one_batch_with_lowpass_shortcut():
    """With the low-pass shortcut the tokenizer starts as the block-mean codec (its first loss is the
    codec's error, not a random network's) and the learned residual goes well below the codec."""
    from worldsmith.tokenizers.model import causal_block_mean, causal_block_upsample

    torch.manual_seed(0)
    widths = (16, 32, 32, 32)
    c = replace(get_preset("tiny-cv4x8x8"), encoder_channels=widths, decoder_channels=widths,
                num_res_blocks=1, lowpass_shortcut=True)  # fmt: skip
    model = CausalTokenizer(c)
    x = F.interpolate(torch.rand(1, 3, 3, 4, 4) * 2 - 1, size=(9, 16, 16), mode="trilinear")
    codec = (causal_block_upsample(causal_block_mean(x, 4, 8), 4, 8) - x).abs().mean().item()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    losses = []
    for _ in range(200):
        loss = (model(x)[0] - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(codec, rel=1e-4)
    assert min(losses[-10:]) < 0.4 * codec, (codec, min(losses[-10:]))
