"""Temporally causal 3D convolution and the cache that streams it chunk by chunk.

A causal convolution sees frame t and the frames before it, never after: time is padded on the
left only, by repeating the first frame (Cosmos tokenizer, arXiv 2501.03575, Sec. 3.1; the
released weights expect replicate padding, not zeros). Height and width are zero-padded
symmetrically.

Streaming: a long video can be encoded chunk by chunk with the same result as the whole clip.
Every layer that looks back in time keeps the frames (or keys and values) it will need from the
current chunk in a `CausalCache`. The cache is an explicit object: passed in, a new one returned;
modules never hold state between calls::

    cache = CausalCache()
    for chunk in chunks:
        step = cache.step()                       # reads cache, collects the next one
        y = layer(chunk, step=step, key="conv")   # layers call step.past(key) / step.keep(key, t)
        cache = step.finish()
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CausalCache:
    """Temporal context of a stream: per-layer tensors kept from the previous chunk.

    Empty for a fresh stream; then layers behave exactly as on the first frames of a whole clip.
    `chunks` counts the chunks seen.
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    chunks: int = 0

    @property
    def first(self) -> bool:
        return self.chunks == 0

    def step(self) -> CacheStep:
        return CacheStep(self)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


class CacheStep:
    """One chunk's view of a `CausalCache`: read the past, collect what the next chunk needs."""

    def __init__(self, cache: CausalCache):
        self._cache = cache
        self._next: dict[str, torch.Tensor] = {}

    @property
    def first(self) -> bool:
        return self._cache.first

    def past(self, key: str) -> torch.Tensor | None:
        return self._cache.tensors.get(key)

    def keep(self, key: str, tensor: torch.Tensor) -> None:
        if key in self._next:
            raise RuntimeError(f"cache key '{key}' written twice in one step (two layers share a key)")
        self._next[key] = tensor.detach()

    def finish(self) -> CausalCache:
        return CausalCache(self._next, self._cache.chunks + 1)


def causal_pad_time(
    x: torch.Tensor, pad: int, step: CacheStep | None, key: str, stride: int = 1, kernel: int = 1
) -> torch.Tensor:
    """Left-pad time by `pad` frames: the first frame repeated, or the cached tail of the last chunk.

    With a `step`, keeps the frames from which the next output window starts (``P[n_out*stride:]``
    of the padded input P), so that striding stays aligned across chunks.
    """
    tail = step.past(key) if step is not None else None
    if tail is not None:
        x = torch.cat([tail, x], dim=2)  # [B, C, tail+T, H, W]
    elif pad > 0:  # (a list of slices, not an expand: `cat` then keeps a channels-last layout)
        x = torch.cat([x[:, :, :1]] * pad + [x], dim=2)  # [B, C, pad+T, H, W]
    if step is not None:
        n_out = max(0, (x.shape[2] - kernel) // stride + 1)
        step.keep(key, x[:, :, n_out * stride :])
    return x


def is_channels_last(x: torch.Tensor) -> bool:
    """True for a 5D tensor laid out channels-last (``[B, T, H, W, C]`` in memory) and not also
    plainly contiguous (as when C == 1 or T*H*W == 1, where both layouts coincide)."""
    return x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous()


def _nhwc_view(x: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """A channels-last 5D `x` as the 2D channels-last ``[n, C, h, w]`` (a view). Built through the
    ``[.., C]`` memory order so every stride is the canonical one, size-1 dimensions included:
    oneDNN keeps the layout only for an input PyTorch recognises as channels-last."""
    return x.permute(0, 2, 3, 4, 1).reshape(n, h, w, x.shape[1]).permute(0, 3, 1, 2)


def as_frames(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T, H, W] -> [B*T, C, H, W]``: a view (2D channels-last) of a channels-last `x`."""
    B, C, T, H, W = x.shape
    return _nhwc_view(x, B * T, H, W)


def as_time_rows(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T, H, W] -> [B, C, T, H*W]``: a view (2D channels-last) of a channels-last `x`, for
    kernels and pooling along time only."""
    B, C, T, H, W = x.shape
    return _nhwc_view(x, B, T, H * W)


def from_frames(y: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of `as_frames`: ``[B*T, C, H, W] -> [B, C, T, H, W]`` (a view)."""
    return y.view(batch, -1, *y.shape[1:]).transpose(1, 2)


class CausalConv3d(nn.Module):
    """Conv3d, causal in time: ``[B, C, T, H, W] -> [B, C', T', H', W']``.

    Parameters are ``weight [C', C, kt, kh, kw]`` and ``bias [C']`` (the layout of `nn.Conv3d`).
    Time is left-padded by ``kt - stride_t`` frames (replicating frame 0), height and width by
    `padding` zeros per side. Pointwise kernels run as one matrix product.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int] = 1,
        *,
        stride: int | tuple[int, int, int] = 1,
        padding: int = 0,
    ):
        super().__init__()
        kt, kh, kw = (kernel_size,) * 3 if isinstance(kernel_size, int) else kernel_size
        st, sh, sw = (stride,) * 3 if isinstance(stride, int) else stride
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"spatial kernel must be odd, got {kernel_size}")
        self.kernel_size, self.stride, self.padding = (kt, kh, kw), (st, sh, sw), padding
        self.time_pad = kt - st  # frames of left context (0 for kt == 1)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kt, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.cache_key = ""  # set by the model that owns the layer (its dotted module name)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same initialisation as nn.Conv3d (Kaiming-uniform with a = sqrt(5)).
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        fan_in = self.weight[0].numel()
        bound = 1 / fan_in**0.5
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        kt, st = self.kernel_size[0], self.stride[0]
        if is_channels_last(x):
            return self._forward_channels_last(x, step)
        if (
            step is None
            and kt > 1
            and self.kernel_size[1:] == (1, 1)
            and self.stride == (1, 1, 1)
            and not torch.is_autocast_enabled(x.device.type)  # in-place GEMMs are not autocast
        ):
            return self._temporal_matmul(x)
        if kt > 1 or st > 1:
            x = causal_pad_time(x, self.time_pad, step, self.cache_key, stride=st, kernel=kt)
        if self.kernel_size == (1, 1, 1) and self.stride == (1, 1, 1) and self.padding == 0:
            B, C, T, H, W = x.shape  # pointwise: one matrix product over channels
            y = torch.einsum("oc,bcs->bos", self.weight[:, :, 0, 0, 0], x.reshape(B, C, T * H * W))
            return (y + self.bias[:, None]).view(B, -1, T, H, W)
        p = self.padding
        return F.conv3d(x, self.weight, self.bias, stride=self.stride, padding=(0, p, p))

    def _forward_channels_last(self, x: torch.Tensor, step: CacheStep | None) -> torch.Tensor:
        """The same convolution on a channels-last input, as a 2D convolution over a view.

        A channels-last ``[B, C, T, H, W]`` tensor is, without a copy, both ``[B*T, C, H, W]``
        and ``[B, C, T, H*W]`` in 2D channels-last: a ``(1, kh, kw)`` kernel runs as a 2D conv over
        the first, a ``(kt, 1, 1)`` kernel over the second. oneDNN's 2D convolution keeps that
        layout on its output (its 3D one does not), and runs 1.1-2.5x faster than the 3D one on
        ``[B, C, T, H, W]`` (temporal kernels 2-2.3x, measured at the widths of CV8x8x8).
        """
        kt, kh, kw = self.kernel_size
        st, sh, sw = self.stride
        if kt > 1 or st > 1:
            x = causal_pad_time(x, self.time_pad, step, self.cache_key, stride=st, kernel=kt)
        B, C, T, H, W = x.shape
        p = self.padding
        # The weights go in as views of the parameters: oneDNN reorders them into its own blocked
        # layout on every call anyway, so a channels-last copy of ours would only add a copy.
        if kt == 1:  # spatial (or pointwise): frames as a batch
            y = F.conv2d(as_frames(x), self.weight[:, :, 0], self.bias, stride=(sh, sw), padding=p)
            return from_frames(y, B)
        if (kh, kw) == (1, 1) and (sh, sw) == (1, 1):  # temporal: pixels as the width
            y = F.conv2d(as_time_rows(x), self.weight[..., 0], self.bias, stride=(st, 1))
            return y.view(B, -1, y.shape[2], H, W)
        y = F.conv3d(x, self.weight, self.bias, stride=self.stride, padding=(0, p, p))
        return y.contiguous(memory_format=torch.channels_last_3d)

    def _temporal_matmul(self, x: torch.Tensor) -> torch.Tensor:
        """Whole-clip ``(kt, 1, 1)`` conv as `kt` matrix products over time-shifted views of `x`.

        ``y[t] = sum_k W_k x[max(t + k - pad, 0)]`` (``pad = kt - 1``, replicate padding). Each term
        is one GEMM accumulated in place into a view of `y`, so the padded copy of the input that
        `causal_pad_time` builds is never made (the frames before 0 all equal frame 0: their terms
        collapse into ``(sum of those W_k) x[0]`` on the first `pad` output frames).
        """
        B, C, T, H, W = x.shape
        S, pad = H * W, self.time_pad
        w = self.weight[:, :, :, 0, 0].permute(2, 0, 1)  # [kt, C', C]
        xs = x.reshape(B, C, T, S)  # [B, C, T, S]
        y = torch.baddbmm(self.bias[None, :, None], w[pad].expand(B, -1, -1), xs.reshape(B, C, T * S))
        ys = y.view(B, -1, T, S)  # [B, C', T, S]
        for k in range(pad):  # tap k looks back s = pad - k frames
            s = pad - k
            if s < T:
                ys[:, :, s:].reshape(B, -1, (T - s) * S).baddbmm_(
                    w[k].expand(B, -1, -1), xs[:, :, : T - s].reshape(B, C, (T - s) * S)
                )
        for t in range(min(pad, T)):  # output t sees frame 0 through taps k < pad - t
            ys[:, :, t].baddbmm_(w[: pad - t].sum(0).expand(B, -1, -1), xs[:, :, 0])
        return y.view(B, -1, T, H, W)
