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


def run_cli(args, capsys):
    """``worldsmith ARGS`` in-process -> (exit code, stdout, stderr)."""
    import pytest

    from worldsmith.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def save_tiny_base(path, *, perturb: float = 0.0) -> None:
    """A tiny Video2World world model (9 frames at 32x32: CV4x8x8 tokenizer, 3x4x4 latents) at `path`.
    `perturb` adds noise to every DiT weight (adaLN-zero's zero layers pass no gradient back)."""
    from worldsmith.diffusion.dit import PRESETS
    from worldsmith.diffusion.world import WorldModel, WorldSpec
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

    torch.manual_seed(0)
    dit = DiT(PRESETS["tiny"](depth=1, video2world=True, max_size=(4, 8, 8)))
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * perturb)
    spec = WorldSpec(
        latent_mean=(0.0,) * 16, latent_std=(1.0,) * 16, latent_size=(3, 4, 4), text_encoder="none"
    )
    WorldModel(dit, spec, CausalTokenizer(get_preset("tiny-cv4x8x8")).eval()).save_pretrained(path)
