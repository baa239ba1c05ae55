"""LoRA r16's trainable parameters against their formula, and the issue-24 target (<= 10% of full
fine-tuning's) on the action benchmark's base DiT (benchmarks/posttrain_action.py: width 128)."""

from __future__ import annotations

import pytest

from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.recipes import fit_preset
from worldsmith.posttrain.action import ActionConfig, ActionDiT
from worldsmith.posttrain.lora import LoRAConfig, add_lora, trainable_parameters

A, K, R, POS = 3, 4, 16, 16  # action dim, frames per latent frame, LoRA rank, 4 Fourier x 4 features


def action_params(D: int, hm: float) -> int:
    """The action MLPs of ``inject="both"``: (kA -> h -> D), (kA -> h -> 3D), (kA+pos -> h -> h -> D)."""
    n, h = K * A, int(hm * D)
    emb = n * h + h + h * D + D
    shared = n * h + h + 3 * h * D + 3 * D
    tokens = (n + POS) * h + h + h * h + h + h * D + D
    return emb + shared + tokens


@pytest.mark.parametrize(
    "width, hm, fraction",
    [(64, 4.0, 0.316), (128, 0.5, 0.097)],
    ids=["tiny-width64", "benchmark-width128"],
)
def test_lora_r16_fraction_matches_its_formula(width, hm, fraction):
    cfg = fit_preset("tiny", (16, 5, 16, 16), max_size=(8, 16, 16), heads=4, head_dim=width // 4,
                     adaln_lora_dim=width // 2)  # fmt: skip
    net = ActionDiT(DiT(cfg), ActionConfig(action_dim=A, frames_per_latent=K, hidden_mult=hm, inject="both"))
    base = sum(p.numel() for p in net.base.parameters())
    full = trainable_parameters(net)[0]
    assert full == base + action_params(width, hm)
    add_lora(net.base, LoRAConfig(rank=R))
    lora = trainable_parameters(net)[0]
    m = int(cfg.mlp_ratio)  # adapters r(in + out) on qkv (D->3D), out (D->D), fc1 (D->mD), fc2 (mD->D)
    assert lora == cfg.depth * R * width * (8 + 2 * m) + action_params(width, hm)
    assert lora / full == pytest.approx(fraction, abs=5e-4)
    assert (lora / full <= 0.1) == (width == 128)  # the target holds on the benchmark's base only
