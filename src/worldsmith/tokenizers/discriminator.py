"""3D PatchGAN discriminator and hinge losses for the optional adversarial stage of tokenizer training.

Cosmos (arXiv 2501.03575, Sec. 3.2) fine-tunes its tokenizers with an adversarial loss after the
reconstruction stages. The discriminator here is a PatchGAN (Isola et al. 2017, "Image-to-Image
Translation with Conditional Adversarial Networks", Sec. 3.2.2) lifted to video: strided 3D
convolutions score overlapping space-time patches, one logit per patch. It only judges clips, so
it need not be causal: time is padded on both sides. Images are 1-frame videos. The losses are the
hinge losses of Lim & Ye 2017 / Miyato et al. 2018 (SN-GAN, Eq. 17):

    L_D = E[relu(1 - D(x))] + E[relu(1 + D(x_hat))],        L_G = -E[D(x_hat)].

`adaptive_weight` balances L_G against the reconstruction loss by their gradient norms at the
decoder's last layer (Esser et al. 2021, "Taming Transformers", Eq. 7).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["group", "spectral"]


def _conv(c_in: int, c_out: int, stride: tuple[int, int, int], norm: Norm) -> nn.Conv3d:
    conv = nn.Conv3d(c_in, c_out, kernel_size=(3, 4, 4), stride=stride, padding=1)
    return spectral_norm(conv) if norm == "spectral" else conv


class PatchDiscriminator3D(nn.Module):
    """``[B, C, T, H, W]`` (or images ``[B, C, H, W]``) -> patch logits ``[B, 1, T', H', W']``.

    `layers` strided blocks (kernel ``3x4x4``; stride 2 in space, and in time after the first block),
    then one stride-1 block and a stride-1 conv to one channel, LeakyReLU(0.2) in between. Each
    size follows ``out = (in + 2 - k) // s + 1``: time ``(T - 1) // 2 + 1`` per temporal stride,
    space ``H // 2`` per spatial stride, then ``- 1`` for each of the two stride-1 convs.
    Normalisation: GroupNorm after every conv but the first and last (``norm="group"``; its
    statistics span the whole clip), or spectral normalisation of every conv's weight
    (``norm="spectral"``; each logit then depends on its space-time patch only).
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, layers: int = 3, norm: Norm = "group"):
        super().__init__()
        if norm not in ("group", "spectral"):
            raise ValueError(f"norm must be 'group' or 'spectral', got {norm!r}")
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        blocks: list[nn.Module] = [_conv(in_channels, channels, (1, 2, 2), norm), nn.LeakyReLU(0.2)]
        c = channels
        for i in range(1, layers + 1):
            c_out = channels * 2 ** min(i, 3)
            stride = (2, 2, 2) if i < layers else (1, 1, 1)  # the last block keeps the size
            blocks.append(_conv(c, c_out, stride, norm))
            if norm == "group":
                blocks.append(nn.GroupNorm(min(32, c_out), c_out))
            blocks.append(nn.LeakyReLU(0.2))
            c = c_out
        blocks.append(_conv(c, 1, (1, 1, 1), norm))
        self.net = nn.Sequential(*blocks)
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.unsqueeze(2)  # [B, C, 1, H, W]: an image is a one-frame clip
        return self.net(x)  # [B, 1, T', H', W']

    def output_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T', H', W') of the logits: ``T`` through ``layers - 1`` halvings ``(T - 1) // 2 + 1``;
        ``H // 2^layers - 2`` (and the same for W)."""
        t = frames
        for _ in range(self.layers - 1):
            t = (t - 1) // 2 + 1
        return t, height // 2**self.layers - 2, width // 2**self.layers - 2


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss ``mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))``."""
    return F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()


def hinge_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator (tokenizer) hinge loss ``-mean(D(x_hat))``."""
    return -logits_fake.mean()


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float = 1e4
) -> torch.Tensor:
    """``|grad_W L_rec| / (|grad_W L_G| + 1e-4)``, clamped to ``[0, max_weight]`` and detached
    (Taming Transformers, Eq. 7), with W the weight of the decoder's last layer."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, max_weight).detach()
