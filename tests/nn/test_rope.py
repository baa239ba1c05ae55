"""RoPE against a complex-number reference, and its relative-position property."""

from __future__ import annotations

import torch

from worldsmith.nn.rope import apply_rope, rope_1d, rope_3d, split_3d


def complex_reference(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Pair channel i with i + D/2 as one complex number and multiply by exp(i angle_i)."""
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double()) * torch.polar(
        torch.ones_like(angles, dtype=torch.float64), angles.double()
    )
    return torch.cat([z.real, z.imag], dim=-1).float()


def test_rope_1d_matches_complex_reference():
    x = torch.randn(2, 3, 7, 16)
    cos, sin = rope_1d(16, 7)
    pos = torch.arange(7.0)
    angles = torch.outer(pos, 1.0 / 10000 ** (torch.arange(0, 16, 2) / 16))
    torch.testing.assert_close(apply_rope(x, cos, sin), complex_reference(x, angles), atol=1e-5, rtol=1e-5)


def test_rope_3d_matches_complex_reference_with_axis_scaling():
    D, (T, H, W) = 24, (3, 4, 5)
    dt, dh, dw = split_3d(D)
    assert (dt, dh, dw) == (8, 8, 8)
    assert split_3d(128) == (44, 42, 42)  # Cosmos 7B
    scale = (2.0, 1.0, 3.0)
    cos, sin = rope_3d(D, (T, H, W), scale=scale, fps=30.0)
    t_pos = torch.arange(T) * 24 / 30  # positions in frames at base_fps 24
    tt, hh, ww = torch.meshgrid(t_pos, torch.arange(float(H)), torch.arange(float(W)), indexing="ij")
    parts = []
    for pos, d, s in [(tt, dt, scale[0]), (hh, dh, scale[1]), (ww, dw, scale[2])]:
        theta = 10000.0 * s ** (d / (d - 2))
        parts.append(pos.reshape(-1, 1).double() * (1.0 / theta ** (torch.arange(0, d, 2).double() / d)))
    angles = torch.cat(parts, dim=-1)
    x = torch.randn(1, 2, T * H * W, D)
    torch.testing.assert_close(apply_rope(x, cos, sin), complex_reference(x, angles), atol=1e-5, rtol=1e-5)


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = rope_1d(8, 20)
    q, k = torch.randn(8), torch.randn(8)
    rq = apply_rope(q.expand(1, 1, 20, 8), cos, sin)[0, 0]
    rk = apply_rope(k.expand(1, 1, 20, 8), cos, sin)[0, 0]
    torch.testing.assert_close(rq[5] @ rk[2], rq[15] @ rk[12], atol=1e-4, rtol=1e-4)
