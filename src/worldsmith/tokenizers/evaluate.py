"""Tokenizer evaluation: PSNR, SSIM, temporal flicker, compression ratio and throughput, next to
the naive codec of the same spatio-temporal compression."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from worldsmith.console import progress
from worldsmith.eval.metrics import summarize
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.video.transforms import to_model, to_uint8


def naive_codec(x: torch.Tensor, temporal: int, spatial: int) -> torch.Tensor:
    """Keep every `temporal`-th frame at 1/`spatial` size (area average), interpolate back.

    ``[B, C, T, H, W] -> [B, C, T, H, W]``; the baseline a learned tokenizer must beat.
    """
    B, C, T, H, W = x.shape
    kept = x[:, :, ::temporal]  # [B, C, T', H, W]: frames 0, s_t, 2 s_t, ...
    small = F.avg_pool3d(kept, (1, spatial, spatial))  # [B, C, T', H/s, W/s]
    return (
        F.interpolate(small, size=(T, H, W), mode="trilinear", align_corners=False)
        if T > 1
        else (F.interpolate(small, size=(T, H, W), mode="nearest"))
    )


@torch.no_grad()
def reconstruct(model: CausalTokenizer, x: torch.Tensor, *, chunk_frames: int | None = None) -> torch.Tensor:
    """encode -> decode, clamped to [-1, 1]; chunked (streamed) when `chunk_frames` is given."""
    if chunk_frames:
        tokens = model.encode_chunked(x, chunk_frames)
        return model.decode_chunked(tokens, max(1, chunk_frames // model.config.temporal_compression)).clamp(
            -1, 1
        )
    return model.decode(model.encode(x)).clamp(-1, 1)


def trim_for(model: CausalTokenizer, frames: torch.Tensor) -> torch.Tensor:
    """Crop uint8 ``[T, H, W, 3]`` to sizes the tokenizer takes: ``1 + k s_t`` frames, multiples of s."""
    c = model.config
    st, s = c.temporal_compression, c.spatial_compression
    T, H, W, _ = frames.shape
    t = 1 + (T - 1) // st * st if st > 1 else T
    h, w = H // s * s, W // s * s
    top, left = (H - h) // 2, (W - w) // 2
    return frames[:t, top : top + h, left : left + w]


def evaluate(
    model: CausalTokenizer,
    videos: Sequence[torch.Tensor],
    *,
    chunk_frames: int | None = None,
    on_reconstruction: Callable[[int, torch.Tensor], None] | None = None,
) -> dict[str, float]:
    """Mean metrics over uint8 ``[T, H, W, 3]`` videos (each trimmed to valid sizes), with a
    progress bar. Each video is encoded and decoded once (streamed with `chunk_frames`);
    `on_reconstruction(i, frames)` receives video i's reconstruction (uint8) as soon as it is made."""

    model.eval()
    c = model.config
    rows, naive_rows, frames, seconds = [], [], 0, 0.0
    with progress() as bar:
        total = sum(len(trim_for(model, v)) for v in videos)
        coding = bar.add_task("encode + decode", total=total)
        scoring = bar.add_task("PSNR/SSIM", total=2 * total)  # the tokenizer's and the naive codec's
        for i, v in enumerate(videos):
            v = trim_for(model, v)
            x = to_model(v).unsqueeze(0)  # [1, 3, T, H, W]
            t0 = time.perf_counter()
            recon = to_uint8(reconstruct(model, x, chunk_frames=chunk_frames)[0])  # [T, H, W, 3]
            seconds += time.perf_counter() - t0
            bar.advance(coding, len(v))
            frames += v.shape[0]
            if on_reconstruction is not None:
                on_reconstruction(i, recon)
            rows.append(summarize(recon, v, on_frames=lambda n: bar.advance(scoring, n)))
            naive = to_uint8(naive_codec(x, c.temporal_compression, c.spatial_compression)[0])
            naive_rows.append(summarize(naive, v, on_frames=lambda n: bar.advance(scoring, n)))

    def mean(rs, k):
        return round(sum(r[k] for r in rs) / len(rs), 3)

    out = {k: mean(rows, k) for k in ("psnr", "ssim", "flicker")}
    out.update({f"naive_{k}": mean(naive_rows, k) for k in ("psnr", "ssim", "flicker")})
    out["psnr_gain_db"] = round(out["psnr"] - out["naive_psnr"], 3)
    out["compression_ratio"] = round(c.compression_ratio, 2)
    out["frames_per_s"] = round(frames / max(seconds, 1e-9), 2)
    return out
