"""Tiny models for the distributed tests (not a test module): a DiT-like token transformer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith.nn.attention import attention


class Block(nn.Module):
    """Pre-norm self-attention (RoPE-like table argument) + cross-attention + MLP, AdaLN shift."""

    def __init__(self, dim: int, heads: int, kv_heads: int, causal: bool):
        super().__init__()
        self.heads, self.kv_heads, self.causal = heads, kv_heads, causal
        hd = dim // heads
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * kv_heads * hd, bias=False)  # a key bias has ~0 gradient
        self.o = nn.Linear(dim, dim)
        self.cq, self.ckv, self.co = (
            nn.Linear(dim, dim),
            nn.Linear(dim, 2 * dim, bias=False),
            nn.Linear(dim, dim),
        )
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, emb, text, *, pos_table):
        B, L, D = x.shape
        hd = D // self.heads
        h = self.norm1(x) + emb + pos_table  # pos_table [L, D] is sharded with x
        q = self.q(h).view(B, L, self.heads, hd).transpose(1, 2)  # [B, H, L, hd]
        k, v = self.kv(h).view(B, L, 2, self.kv_heads, hd).permute(2, 0, 3, 1, 4)  # [B, Hkv, L, hd] each
        x = x + self.o(attention(q, k, v, causal=self.causal).transpose(1, 2).reshape(B, L, D))
        h = self.norm2(x)
        S = text.shape[1]
        q = self.cq(h).view(B, L, self.heads, hd).transpose(1, 2)
        k, v = self.ckv(text).view(B, S, 2, self.heads, hd).permute(2, 0, 3, 1, 4)  # [B, H, S, hd]
        x = x + self.co(attention(q, k, v).transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.norm3(x))


class TinyDiT(nn.Module):
    """Tokens ``[B, L, C]`` -> ``[B, L, C]``, conditioned on a per-sample scalar and text tokens."""

    def __init__(self, channels=4, dim=32, depth=2, heads=4, kv_heads=2, causal=False, max_len=64):
        super().__init__()
        self.embed = nn.Linear(channels, dim)
        self.t_embed = nn.Sequential(nn.Linear(1, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.text = nn.Linear(8, dim)
        self.pos = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, kv_heads, causal) for _ in range(depth))
        self.out = nn.Linear(dim, channels)

    def forward(self, x, t, text):
        L = x.shape[1]
        h = self.embed(x)  # [B, L, D]
        emb = self.t_embed(t[:, None])[:, None]  # [B, 1, D]
        ctx = self.text(text)  # [B, S, D]
        for block in self.blocks:
            h = block(h, emb, ctx, pos_table=self.pos[:L])
        return self.out(h)


def denoise_objective(model, batch):
    """A diffusion-flavoured loss: predict clean tokens from noised ones."""
    x, t, text, noise = batch
    pred = model(x + t[:, None, None] * noise, t, text)
    return F.mse_loss(pred, x)


def dit_data(n: int = 16, length: int = 13, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.TensorDataset(
        torch.randn(n, length, 4, generator=g),
        torch.rand(n, generator=g),
        torch.randn(n, 5, 8, generator=g),
        torch.randn(n, length, 4, generator=g),
    )


def random_noise_objective(model, batch):
    """Like `denoise_objective` but drawing the noise from the global RNG (as diffusion does)."""
    x, t, text, _ = batch
    pred = model(x + t[:, None, None] * torch.randn_like(x), t, text)
    return F.mse_loss(pred, x)
