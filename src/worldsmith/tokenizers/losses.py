"""Tokenizer training losses (Cosmos, arXiv 2501.03575, Sec. 3.2).

Training is supervised on the decoder output only (no KL, no commitment loss):
stage 1: L1 reconstruction (+ perceptual loss when a local pretrained feature network is given;
none can be downloaded here); stage 2 adds a temporal-consistency loss. Cosmos uses optical-flow
and Gram-matrix losses in stage 2; we use the L1 error of frame-to-frame differences, which
penalises flicker the same way without a flow network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, ``|x_hat - x|_1`` (videos ``[B, C, T, H, W]``)."""
    return F.l1_loss(x_hat, x)


def temporal_consistency_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``| (x_hat_t - x_hat_{t-1}) - (x_t - x_{t-1}) |_1``: reconstructed motion matches the input's."""
    if x.shape[2] < 2:
        return x_hat.new_zeros(())
    return F.l1_loss(x_hat.diff(dim=2), x.diff(dim=2))


def perceptual_loss(
    x_hat: torch.Tensor, x: torch.Tensor, features: Callable[[torch.Tensor], list[torch.Tensor]]
) -> torch.Tensor:
    """Sum of L1 distances between feature maps of a frozen image network, frame by frame.

    `features` maps images ``[N, 3, H, W]`` in [-1, 1] to a list of feature maps (e.g. VGG layers).
    """
    frames = lambda v: v.transpose(1, 2).flatten(0, 1)  # noqa: E731  [B, C, T, H, W] -> [BT, C, H, W]
    total = x_hat.new_zeros(())
    with torch.no_grad():
        target = features(frames(x))
    for a, b in zip(features(frames(x_hat)), target, strict=True):
        total = total + F.l1_loss(a, b)
    return total
