"""Tiny AR configs shared by the autoregressive tests (seconds on a CPU)."""

from __future__ import annotations

from worldsmith.autoregressive.gpt import GPTConfig


def tiny_config(**kw) -> GPTConfig:
    base = dict(codebook_size=64, dim=48, layers=2, heads=4, kv_heads=2, head_dim=12, ffn_hidden=96,
                latent_shape=(4, 3, 3), text_dim=16)  # fmt: skip
    return GPTConfig(**{**base, **kw})
