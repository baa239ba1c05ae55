"""Building blocks of the Cosmos causal video tokenizer (arXiv 2501.03575, Sec. 3.1, Fig. 4).

Every block maps ``[B, C, T, H, W] -> [B, C', T', H', W']`` and never lets frame t see frames
after t. Convolutions are factorised: a spatial ``(1, 3, 3)`` conv then a temporal ``(3, 1, 1)``
causal conv. Attention is factorised too: spatial attention within each frame, then causal
temporal attention at each pixel. Each `forward` takes an optional `CacheStep` for chunked
(streaming) use; with ``step=None`` the input is a whole clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsmith.nn.attention import attention
from worldsmith.nn.causal_conv3d import (
    CacheStep,
    CausalConv3d,
    as_frames,
    as_time_rows,
    from_frames,
    is_channels_last,
)
from worldsmith.nn.norm import FrameGroupNorm


def _add(out: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``out + other``, written into `out` (a fresh tensor of the caller's) when no gradient is
    recorded: inference then allocates one full-size tensor less per residual."""
    if torch.is_grad_enabled() and (out.requires_grad or other.requires_grad):
        return out + other
    return out.add_(other)


def _avg_pool(x: torch.Tensor, kernel: tuple[int, int, int]) -> torch.Tensor:
    """`F.avg_pool3d` with stride = kernel, over `(1, k, k)` or `(k, 1, 1)` windows; a channels-last
    input is pooled as 2D frames or a 2D ``[B, C, T, H*W]`` view, keeping its layout (the 3D
    pooling returns a plainly contiguous tensor)."""
    if not is_channels_last(x):
        return F.avg_pool3d(x, kernel, kernel)
    B, C, T, H, W = x.shape
    if kernel[0] == 1:
        return from_frames(F.avg_pool2d(as_frames(x), kernel[1:]), B)
    y = F.avg_pool2d(as_time_rows(x), (kernel[0], 1))
    return y.view(B, C, -1, H, W)


def _same_layout(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`y` in the memory layout of `x` (a copy only where an op did not keep a channels-last one)."""
    return y.contiguous(memory_format=torch.channels_last_3d) if is_channels_last(x) else y


def _upsample_hw(x: torch.Tensor) -> torch.Tensor:
    """Nearest 2x upsampling of H and W; a channels-last input as 2D frames, keeping its layout."""
    if not is_channels_last(x):
        return F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
    y = F.interpolate(as_frames(x), scale_factor=2, mode="nearest")
    return _same_layout(from_frames(y, x.shape[0]), x)


def _repeat_time(x: torch.Tensor) -> torch.Tensor:
    """Every frame twice, ``[B, C, T, H, W] -> [B, C, 2T, H, W]``, in the layout of `x`."""
    if not is_channels_last(x):
        return x.repeat_interleave(2, dim=2)
    B, C, T, H, W = x.shape
    y = torch.empty((B, C, 2 * T, H, W), dtype=x.dtype, device=x.device, memory_format=torch.channels_last_3d)
    y[:, :, 0::2] = x
    y[:, :, 1::2] = x
    return y


class ConvProjection(nn.Module):
    """Factorised causal 3x3x3 conv: spatial ``(1, 3, 3)`` then temporal ``(3, 1, 1)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_s = CausalConv3d(in_channels, out_channels, (1, 3, 3), padding=1)
        self.conv_t = CausalConv3d(out_channels, out_channels, (3, 1, 1))

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        return self.conv_t(self.conv_s(x), step)


class ResBlock(nn.Module):
    """x + conv2(SiLU(GN(conv1(SiLU(GN(x)))))), with a pointwise shortcut when widths differ."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = FrameGroupNorm(in_channels)
        self.conv1 = ConvProjection(in_channels, out_channels)
        self.norm2 = FrameGroupNorm(out_channels)
        self.conv2 = ConvProjection(out_channels, out_channels)
        self.conv_shortcut = (
            CausalConv3d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        h = self.conv1(self.norm1(x, silu=True), step)
        h = self.conv2(self.norm2(h, silu=True), step)
        residual = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return _add(h, residual)


def _pointwise(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """`linear` over the channels of a 2D channels-last ``[N, C, H, W]``, as a 1x1 convolution:
    oneDNN runs it 2.2x faster than `nn.Linear`'s GEMM on the same data (measured on CPU at C=512,
    3072 positions) and keeps the layout."""
    return F.conv2d(x, linear.weight[:, :, None, None], linear.bias)


def _autocast_contiguous(h: torch.Tensor) -> torch.Tensor:
    """`h` cast to the autocast dtype into a contiguous copy when autocast is on; else `h` as it is.

    A strided half-precision input makes `nn.Linear` fall back to a bmm over its weight expanded to
    the batch, which the cast materialises ([HW, C, 3C]: 1.6 GB and 2.4x the whole encode + decode
    time of CV8x8x8 at 17x256x256 in bfloat16). In float32 the strided input is fine (no copy).
    """
    device = h.device.type
    if torch.is_autocast_enabled(device):
        # (not `to(memory_format=...)`: it returns `h` itself when the dtype already matches)
        return h.to(torch.get_autocast_dtype(device)).contiguous()
    return h


class SpatialAttention(nn.Module):
    """Single-head self-attention over the H*W positions of each frame (pre-norm, residual)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = FrameGroupNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        B, C, T, H, W = x.shape
        if is_channels_last(x):  # the projections as 1x1 convolutions over the frames
            qkv = _pointwise(as_frames(self.norm(x)), self.qkv)  # [BT, 3C, H, W], channels-last
            q, k, v = qkv.permute(0, 2, 3, 1).reshape(B * T, 1, H * W, 3 * C).chunk(3, dim=-1)
            out = attention(q, k, v).reshape(B * T, H, W, C).permute(0, 3, 1, 2)  # [BT, C, H, W]
            return _add(from_frames(_pointwise(out, self.proj), B), x)
        h = _autocast_contiguous(rearrange(self.norm(x), "b c t h w -> (b t) (h w) c"))  # [BT, HW, C]
        q, k, v = self.qkv(h).unsqueeze(1).chunk(3, dim=-1)  # 3 x [BT, 1, HW, C]
        h = self.proj(attention(q, k, v).squeeze(1))  # [BT, HW, C]
        return x + rearrange(h, "(b t) (h w) c -> b c t h w", b=B, h=H)


class CausalTemporalAttention(nn.Module):
    """Single-head attention along time at each position; frame t attends to frames <= t.

    Streaming keeps the keys and values of all past frames in the cache, so chunked output
    equals whole-clip output.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = FrameGroupNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.cache_key = ""

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        B, C, T, H, W = x.shape
        channels_last = is_channels_last(x)
        if channels_last:  # the projections as 1x1 convolutions over the frames
            qkv = _pointwise(as_frames(self.norm(x)), self.qkv)  # [BT, 3C, H, W] = [B, T, HW, 3C] in memory
            qkv = qkv.permute(0, 2, 3, 1).reshape(B, T, H * W, 3 * C).transpose(1, 2)  # [B, HW, T, 3C]
            q, k, v = qkv.reshape(B * H * W, 1, T, 3 * C).chunk(3, dim=-1)  # 3 x [BHW, 1, T, C]
        else:
            h = _autocast_contiguous(rearrange(self.norm(x), "b c t h w -> (b h w) t c"))  # [BHW, T, C]
            q, k, v = self.qkv(h).unsqueeze(1).chunk(3, dim=-1)  # 3 x [BHW, 1, T, C]
        past = step.past(self.cache_key) if step is not None else None
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # [BHW, 1, P+T, C]
            v = torch.cat([past[1], v], dim=2)
        if step is not None:
            step.keep(self.cache_key, torch.stack([k, v]))
        P = k.shape[2] - T
        if P == 0:
            out = attention(q, k, v, causal=True)
        else:  # query i sits at time P + i and sees keys 0 .. P + i
            mask = (
                torch.arange(P + T, device=x.device)[None, :]
                <= (P + torch.arange(T, device=x.device))[:, None]
            )
            out = attention(q, k, v, attn_mask=mask)
        if channels_last:  # [BHW, 1, T, C] as a channels-last [B, C, HW, T] for the 1x1 conv
            h = _pointwise(out.reshape(B, H * W, T, C).permute(0, 3, 1, 2), self.proj)
            return _same_layout(x + rearrange(h, "b c (h w) t -> b c t h w", h=H), x)
        h = self.proj(out.squeeze(1))  # [BHW, T, C]
        return x + rearrange(h, "(b h w) t c -> b c t h w", b=B, h=H)


class Downsample(nn.Module):
    """Halve H, W and/or T: strided causal conv plus average pooling, then a pointwise conv.

    Time: the first frame is prepended (so frame 0 stays on its own), ``T = 1 + 2k -> 1 + k``.
    """

    def __init__(self, channels: int, spatial: bool, temporal: bool):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        self.conv1 = CausalConv3d(channels, channels, (1, 3, 3), stride=(1, 2, 2)) if spatial else None
        self.conv2 = CausalConv3d(channels, channels, (3, 1, 1), stride=(2, 1, 1)) if temporal else None
        self.conv3 = CausalConv3d(channels, channels, 1) if spatial or temporal else None

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        if self.conv3 is None:
            return x
        if self.conv1 is not None:
            # [B, C, T, H+1, W+1]: right/bottom zeros for the 3x3 stride-2 conv
            x = _same_layout(F.pad(x, (0, 1, 0, 1)), x)
            x = _add(self.conv1(x), _avg_pool(x, (1, 2, 2)))  # [B, C, T, H/2, W/2]
        if self.conv2 is not None:
            if step is None or step.first:
                x = torch.cat([x[:, :, :1], x], dim=2)  # [B, C, T+1, H, W]
            elif x.shape[2] % 2:
                raise ValueError(f"a later chunk must hold an even number of frames here, got {x.shape[2]}")
            x = _add(self.conv2(x, step), _avg_pool(x, (2, 1, 1)))  # [B, C, T/2, H, W]
        return self.conv3(x)


class Upsample(nn.Module):
    """Double T and/or H, W: nearest repeat plus a causal conv (residual), then a pointwise conv.

    Time mirrors `Downsample`: ``1 + k -> 1 + 2k`` latent frames on the first chunk.
    """

    def __init__(self, channels: int, spatial: bool, temporal: bool):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        self.conv1 = CausalConv3d(channels, channels, (3, 1, 1)) if temporal else None
        self.conv2 = CausalConv3d(channels, channels, (1, 3, 3), padding=1) if spatial else None
        self.conv3 = CausalConv3d(channels, channels, 1) if spatial or temporal else None

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        if self.conv3 is None:
            return x
        if self.conv1 is not None:
            x = _repeat_time(x)  # [B, C, 2T, H, W]
            if step is None or step.first:
                x = x[:, :, 1:]  # [B, C, 2T-1, H, W]: frame 0 stays single
            x = _add(self.conv1(x, step), x)
        if self.conv2 is not None:
            # [B, C, T, 2H, 2W], one copy
            x = _upsample_hw(x)
            x = _add(self.conv2(x), x)
        return self.conv3(x)


class Level(nn.Module):
    """One resolution level: ResBlocks (each optionally followed by spatial + temporal attention),
    then a down- or up-sampler. Used by the encoder (`Downsample`) and the decoder (`Upsample`)."""

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, use_attention: bool):
        super().__init__()
        widths = [in_channels] + [out_channels] * num_blocks
        self.resnets = nn.ModuleList(ResBlock(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        n_attn = num_blocks if use_attention else 0
        self.attentions = nn.ModuleList(SpatialAttention(out_channels) for _ in range(n_attn))
        self.temp_attentions = nn.ModuleList(CausalTemporalAttention(out_channels) for _ in range(n_attn))
        self.resample: Downsample | Upsample | None = None

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, step)
            if self.attentions:
                x = self.temp_attentions[i](self.attentions[i](x), step)
        return self.resample(x, step) if self.resample is not None else x


class MidBlock(nn.Module):
    """ResBlock -> spatial attention -> causal temporal attention -> ResBlock."""

    def __init__(self, channels: int):
        super().__init__()
        self.resnets = nn.ModuleList([ResBlock(channels, channels), ResBlock(channels, channels)])
        self.attentions = nn.ModuleList([SpatialAttention(channels)])
        self.temp_attentions = nn.ModuleList([CausalTemporalAttention(channels)])

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        x = self.resnets[0](x, step)
        x = self.temp_attentions[0](self.attentions[0](x), step)
        return self.resnets[1](x, step)
