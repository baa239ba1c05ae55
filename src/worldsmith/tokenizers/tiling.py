"""Spatial tiling with blending, for videos too large to encode or decode in one piece.

The frame is cut into overlapping tiles; each tile is streamed through the tokenizer chunk by
chunk (`encode_chunk` / `decode_chunk`, so memory is bounded in time too), and the tile outputs
are blended with linear ramps across the overlaps (weights sum to one everywhere). Tiling is an
approximation near tile borders (the receptive field is cut); chunking in time is exact.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from worldsmith.nn.causal_conv3d import CausalCache
from worldsmith.tokenizers.model import CausalTokenizer


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along an axis of length n: stride tile - overlap, the last tile flush with the end."""
    if n <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, n - tile, stride))
    return [*starts, n - tile]


def _ramp(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    w = torch.ones(length)
    if fade_in:
        w[:fade_in] = torch.linspace(0, 1, fade_in + 2)[1:-1]
    if fade_out:
        w[length - fade_out :] = torch.linspace(1, 0, fade_out + 2)[1:-1]
    return w


def _tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    unit: int,
    scale: float,
) -> torch.Tensor:
    """Apply `fn` on overlapping (tile x tile) windows of ``[B, C, T, H, W]`` and blend the outputs."""
    H, W = x.shape[-2:]
    tile = max(unit, tile // unit * unit)
    overlap = min(overlap // unit * unit, tile - unit)
    out = weight = None
    ys, xs = _starts(H, tile, overlap), _starts(W, tile, overlap)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            y = fn(x[..., y0 : y0 + tile, x0 : x0 + tile])  # [B, C', T', th, tw]
            if out is None:
                out = y.new_zeros(*y.shape[:3], round(H * scale), round(W * scale))
                weight = y.new_zeros(round(H * scale), round(W * scale))
            th, tw = y.shape[-2:]
            oy, ox = round(y0 * scale), round(x0 * scale)
            fade_y = [round(max(0, a + tile - b) * scale) for a, b in zip(ys[:-1], ys[1:], strict=True)]
            fade_x = [round(max(0, a + tile - b) * scale) for a, b in zip(xs[:-1], xs[1:], strict=True)]
            in_y, out_y = (fade_y[i - 1] if i > 0 else 0), (fade_y[i] if i < len(fade_y) else 0)
            in_x, out_x = (fade_x[j - 1] if j > 0 else 0), (fade_x[j] if j < len(fade_x) else 0)
            w = _ramp(th, in_y, out_y)[:, None] * _ramp(tw, in_x, out_x)[None, :]  # [th, tw]
            out[..., oy : oy + th, ox : ox + tw] += y * w
            weight[oy : oy + th, ox : ox + tw] += w
    return out / weight


def _stream(step_fn, x: torch.Tensor, sizes: list[int], tdim: int) -> torch.Tensor:
    out, cache, t = [], CausalCache(), 0
    for n in sizes:
        y, cache = step_fn(x.narrow(tdim, t, n), cache)
        out.append(y)
        t += n
    return torch.cat(out, dim=2)


@torch.no_grad()
def encode_tiled(model: CausalTokenizer, x: torch.Tensor, *, tile: int = 256, overlap: int = 64,
                 chunk_frames: int = 17) -> torch.Tensor:  # fmt: skip
    """`model.encode` of ``[B, 3, T, H, W]`` in (tile x tile)-pixel tiles, `chunk_frames` at a time."""
    c = model.config
    st, s = c.temporal_compression, c.spatial_compression
    model.check_input(x)
    T = x.shape[2]
    size = max(st, chunk_frames // st * st) if st > 1 else max(1, chunk_frames)
    first = min(T, 1 + (size - 1) // st * st if st > 1 else size)
    sizes = [first] + [min(size, T - t) for t in range(first, T, size)]

    def enc(tile_x):  # pre-quantisation z of one tile, streamed in time
        def step(chunk, cache):
            s_ = cache.step()
            return model._encode(chunk, s_), s_.finish()

        return _stream(step, tile_x, sizes, 2)

    z = _tiled(enc, x, tile, overlap, s, 1 / s)  # [B, C, T', H/s, W/s]
    return model._bottleneck(z)


@torch.no_grad()
def decode_tiled(model: CausalTokenizer, tokens: torch.Tensor, *, tile: int = 32, overlap: int = 8,
                 chunk_latents: int = 2) -> torch.Tensor:  # fmt: skip
    """`model.decode` in (tile x tile)-latent tiles streamed `chunk_latents` latent frames at a time."""
    if model.fsq is not None and not tokens.dtype.is_floating_point:
        tokens = model.fsq.indices_to_codes(tokens)  # [B, 6, T', h, w]
    T = tokens.shape[2]
    sizes = [min(chunk_latents, T - t) for t in range(0, T, chunk_latents)]

    def dec(tile_z):
        def step(chunk, cache):
            s_ = cache.step()
            return model._reconstruct(chunk, s_), s_.finish()

        return _stream(step, tile_z, sizes, 2)

    return _tiled(dec, tokens, tile, overlap, 1, model.config.spatial_compression)
