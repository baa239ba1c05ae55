"""Context parallelism: the ranks of a ``cp`` group each hold one slice of a long token sequence.

Everything in a transformer block is per token except attention, so a block stack runs on the
local slice unchanged once attention is made exact across ranks. Two exact schemes:

- **Ulysses** (Jacobs et al., "DeepSpeed Ulysses", arXiv 2309.14509): an all-to-all turns
  ``[B, H, L/cp, D]`` (all heads, local tokens) into ``[B, H/cp, L, D]`` (local heads, all
  tokens), attention runs per head as usual, and a second all-to-all turns it back. Needs
  ``H % cp == 0``; grouped key/value heads are sent as they are when ``Hkv % cp == 0``.
- **All-gather** (Llama 3 paper, arXiv 2407.21783, section 3.3.2): keys and values are all-gathered
  along the sequence, the local queries attend to all of them with a mask that knows their global
  positions. Works for any head count.
- **Ring** (`ring_attention.py`, Liu et al., arXiv 2310.01889): key/value blocks travel around
  the ranks and are merged by log-sum-exp; holds two blocks instead of the whole sequence.

All run on gloo (``all_to_all_single``, ``all_gather``, point-to-point sends). A sequence of length L is
padded at the end to a multiple of cp; padded keys are masked out and padded outputs dropped.

`ContextParallel` wires this into a model's block stack without touching the model: the first
block's input ``x [B, L, ...]`` is cut to the local slice, every block's other tensor arguments
with a dimension of size L (RoPE tables, positional embeddings, per-token conditioning) are cut
the same way, attention inside the blocks goes through the `nn.attention` hook, and the last
block's output is all-gathered back to ``[B, L, ...]``.

Gradients: the loss after the gather is computed identically on every cp rank. The gather's
backward hands each rank its slice of the gradient times cp, and the slice's backward pads it with
zeros; once FSDP averages gradients over the cp ranks (it shards over ``dp_shard x cp``), every
parameter gets exactly the single-process gradient.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from worldsmith.distributed.ring_attention import RingAttention
from worldsmith.errors import ConfigError
from worldsmith.nn import attention as attn_lib

CP_MODES = ("ulysses", "allgather", "ring")

# -- differentiable collectives ----------------------------------------------------------------


class _AllToAll(torch.autograd.Function):
    """``out[j] = in_j[rank]`` over dim 0 with equal chunks; its own adjoint (backward = same op)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
        ctx.group = group
        x = x.contiguous()
        out = torch.empty_like(x)
        dist.all_to_all_single(out, x, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        out = torch.empty_like(grad)
        dist.all_to_all_single(out, grad, group=ctx.group)
        return out, None


class _AllGatherSeq(torch.autograd.Function):
    """All-gather along `dim`; backward sums the gradient over ranks and keeps this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int, group: dist.ProcessGroup) -> torch.Tensor:
        ctx.dim, ctx.group = dim, group
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)
        rank, n = dist.get_rank(ctx.group), dist.get_world_size(ctx.group)
        return grad.chunk(n, dim=ctx.dim)[rank], None, None


class _GatherOutput(torch.autograd.Function):
    """All-gather the region's output; backward: this rank's slice of the gradient times cp.

    The loss downstream is the same on every cp rank, so summing would count it cp times; the
    factor cp undoes FSDP's average over cp ranks (see the module docstring)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int, group: dist.ProcessGroup) -> torch.Tensor:
        ctx.dim, ctx.group = dim, group
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rank, n = dist.get_rank(ctx.group), dist.get_world_size(ctx.group)
        return grad.chunk(n, dim=ctx.dim)[rank] * n, None, None


def _pad_to(x: torch.Tensor, dim: int, length: int) -> torch.Tensor:
    if x.shape[dim] == length:
        return x
    pad = [0, 0] * (x.ndim - 1 - dim % x.ndim) + [0, length - x.shape[dim]]
    return F.pad(x, pad)


def shard_sequence(x: torch.Tensor, dim: int, rank: int, cp: int) -> torch.Tensor:
    """This rank's slice of `x` along `dim`, zero-padded at the end to a multiple of cp (autograd:
    the slice's backward pads the gradient with zeros)."""
    padded = -(-x.shape[dim] // cp) * cp
    return _pad_to(x, dim, padded).chunk(cp, dim=dim)[rank]


# -- exact attention over the sharded sequence -------------------------------------------------


class SequenceParallelAttention:
    """The `nn.attention` hook: local ``[B, H, Lc, D]`` slices in, exact attention out."""

    def __init__(self, group: dist.ProcessGroup, mode: str = "ulysses"):
        if mode not in CP_MODES:
            raise ConfigError(f"context-parallel mode '{mode}' must be one of {', '.join(CP_MODES)}")
        self.group, self.mode = group, mode
        self.cp, self.rank = dist.get_world_size(group), dist.get_rank(group)
        self.seq_len = 0  # true (unpadded) length of the sequence being processed
        self.local_len = 0

    def set_length(self, seq_len: int) -> None:
        self.seq_len, self.local_len = seq_len, -(-seq_len // self.cp)

    def applies(self, q: torch.Tensor, k: torch.Tensor) -> bool:
        return self.local_len > 0 and q.shape[2] == k.shape[2] == self.local_len

    def __call__(self, q, k, v, *, causal: bool, attn_mask: torch.Tensor | None, scale: float | None):
        if attn_mask is not None:
            raise NotImplementedError(
                "an explicit attn_mask over a context-parallel sequence is not supported; use causal=True "
                "or run this attention without context parallelism"
            )
        if self.mode == "ulysses" and q.shape[1] % self.cp == 0:
            return self._ulysses(q, k, v, causal=causal, scale=scale)
        if self.mode == "ring":
            if k.shape[1] != q.shape[1]:  # grouped k/v heads: expand (autograd sums their gradients)
                k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
                v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
            scale = q.shape[-1] ** -0.5 if scale is None else scale
            return RingAttention.apply(q, k, v, self.group, self.seq_len, causal, scale)
        return self._allgather(q, k, v, causal=causal, scale=scale)

    def _key_mask(self, n_q: int, q_offset: int, n_k: int, causal: bool, device) -> torch.Tensor | None:
        """Boolean ``[n_q, n_k]`` (True = attend) masking padded keys and, if causal, future keys."""
        padded = n_k > self.seq_len
        if not padded and not causal:
            return None
        kpos = torch.arange(n_k, device=device)
        mask = (kpos < self.seq_len).expand(n_q, n_k)
        if causal:
            qpos = torch.arange(n_q, device=device) + q_offset
            mask = mask & (kpos[None, :] <= qpos[:, None])
        return mask

    def _ulysses(self, q, k, v, *, causal: bool, scale: float | None) -> torch.Tensor:
        cp, H = self.cp, q.shape[1]
        if k.shape[1] % cp:  # grouped k/v heads that do not split over cp: expand them first
            k = k.repeat_interleave(H // k.shape[1], dim=1)
            v = v.repeat_interleave(H // v.shape[1], dim=1)
        q, k, v = (self._heads_to_seq(t) for t in (q, k, v))  # [B, h/cp, L_pad, D]
        n = q.shape[2]
        mask = self._key_mask(n, 0, n, causal, q.device)
        out = attn_lib.local_attention(q, k, v, attn_mask=mask, scale=scale)
        return self._seq_to_heads(out)  # [B, H, Lc, D]

    def _heads_to_seq(self, x: torch.Tensor) -> torch.Tensor:
        B, h, Lc, D = x.shape
        x = x.view(B, self.cp, h // self.cp, Lc, D).transpose(0, 1)  # [cp(head group), B, h/cp, Lc, D]
        x = _AllToAll.apply(x, self.group)  # [cp(seq chunk), B, h/cp, Lc, D]
        return x.permute(1, 2, 0, 3, 4).reshape(B, h // self.cp, self.cp * Lc, D)  # [B, h/cp, L_pad, D]

    def _seq_to_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, hc, L, D = x.shape
        x = x.view(B, hc, self.cp, L // self.cp, D).permute(2, 0, 1, 3, 4)  # [cp(seq chunk), B, h/cp, Lc, D]
        x = _AllToAll.apply(x, self.group)  # [cp(head group), B, h/cp, Lc, D]
        return x.transpose(0, 1).reshape(B, hc * self.cp, L // self.cp, D)  # [B, H, Lc, D]

    def _allgather(self, q, k, v, *, causal: bool, scale: float | None) -> torch.Tensor:
        k = _AllGatherSeq.apply(k, 2, self.group)  # [B, Hkv, L_pad, D]
        v = _AllGatherSeq.apply(v, 2, self.group)
        Lc = q.shape[2]
        mask = self._key_mask(Lc, self.rank * Lc, k.shape[2], causal, q.device)
        return attn_lib.local_attention(q, k, v, attn_mask=mask, scale=scale)  # [B, H, Lc, D]


@contextlib.contextmanager
def sequence_parallel(hook: SequenceParallelAttention) -> Iterator[None]:
    """Route `nn.attention` self-attention through `hook` inside the block."""
    previous = attn_lib.set_sequence_parallel_hook(hook)
    try:
        yield
    finally:
        attn_lib.set_sequence_parallel_hook(previous)


# -- wiring into a block stack -----------------------------------------------------------------


def _map_tensors(obj: Any, fn) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple):
        return tuple(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, list):
        return [_map_tensors(o, fn) for o in obj]
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return obj


class ContextParallel:
    """Applies context parallelism to the ordered `blocks` of a model (see the module docstring).

    Blocks take the token sequence ``x [B, L, ...]`` as their first argument and return it.
    """

    def __init__(self, blocks: Sequence[nn.Module], group: dist.ProcessGroup, mode: str = "ulysses"):
        if not blocks:
            raise ConfigError("context parallelism needs the model's transformer blocks (none found)")
        self.blocks = list(blocks)
        self.attn = SequenceParallelAttention(group, mode)
        self.group, self.cp, self.rank = group, self.attn.cp, self.attn.rank
        self.handles = []
        for i, block in enumerate(self.blocks):
            self.handles.append(
                block.register_forward_pre_hook(functools.partial(self._enter, i), with_kwargs=True)
            )
            block.forward = self._with_hook(block.forward)  # active in AC recomputation too
        self.handles.append(self.blocks[-1].register_forward_hook(self._exit))

    def _with_hook(self, forward):
        @functools.wraps(forward)
        def run(*args, **kwargs):
            with sequence_parallel(self.attn):
                return forward(*args, **kwargs)

        return run

    def _shard_extra(self, t: torch.Tensor) -> torch.Tensor:
        """Cut a tensor along its first dimension of full sequence length (if any)."""
        for dim, size in enumerate(t.shape):
            if size == self.attn.seq_len:
                return shard_sequence(t, dim, self.rank, self.cp)
        return t

    def _enter(self, index: int, module: nn.Module, args: tuple, kwargs: dict):
        x, rest = args[0], args[1:]
        if index == 0:
            self.attn.set_length(x.shape[1])
            x = shard_sequence(x, 1, self.rank, self.cp)  # [B, Lc, ...]
        elif x.shape[1] != self.attn.local_len:
            raise RuntimeError(
                f"block {index} got {x.shape[1]} tokens, expected the local {self.attn.local_len}"
            )
        rest = _map_tensors(rest, self._shard_extra)
        kwargs = _map_tensors(kwargs, self._shard_extra)
        return (x, *rest), kwargs

    def _exit(self, module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
        full = _GatherOutput.apply(out, 1, self.group)  # [B, L_pad, ...]
        if full.shape[1] == self.attn.seq_len:
            return full
        return full[:, : self.attn.seq_len].clone()  # a copy, not a view: FSDP hooks want a fresh tensor
