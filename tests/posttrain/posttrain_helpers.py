"""A small randomised DiT and its inputs, shared by the post-training tests."""

from __future__ import annotations

import torch

from worldsmith.diffusion.dit import DiT, DiTConfig

CFG = DiTConfig(latent_channels=4, heads=2, head_dim=16, depth=2, text_dim=8, adaln_lora_dim=8,
                max_size=(8, 8, 8), video2world=True)  # fmt: skip


def randomized(seed: int = 0) -> DiT:
    """A DiT with every weight drawn (no zero-initialised layers: every path carries signal)."""
    torch.manual_seed(seed)
    model = DiT(CFG).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def inputs(B: int = 2, T: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x [B, 4, T, 4, 4], c_noise [B], text [B, 2, 8])."""
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(B, 4, T, 4, 4, generator=g),
        torch.rand(B, generator=g),
        torch.randn(B, 2, 8, generator=g),
    )
