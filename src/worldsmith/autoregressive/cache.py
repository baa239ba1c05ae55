"""The key/value cache of autoregressive decoding: an explicit object passed in and returned.

Decoding token ``n`` only needs the keys and values of tokens ``< n``, which never change once
computed (causal attention), so they are stored instead of recomputed: one forward of the new
token(s) per step instead of one over the whole sequence. The cache, not the model, holds this
state, so `generate()` never mutates the model and two decodes can share one model.

Buffers are allocated once for ``max_len`` tokens (``[B, Hkv, max_len, Dh]`` per layer) and filled
left to right; `truncate` rolls back rejected speculative tokens (Medusa) in O(1). The text keys and
values of cross-attention are computed once per prompt and kept in `cross`; those of conditions added
by post-training (robot actions) in `extra`, under the condition's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from worldsmith.errors import WorldsmithError


class CacheFullError(WorldsmithError):
    """More tokens than the cache was allocated for."""


@dataclass
class KVCache:
    """Self-attention keys/values of every layer for the first `length` tokens of a batch."""

    k: list[torch.Tensor]  # per layer [B, Hkv, max_len, Dh]
    v: list[torch.Tensor]
    length: int = 0
    cross: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # per layer text k, v
    extra: dict[str, list] = field(default_factory=dict)  # condition -> per layer k, v (post-training)

    @classmethod
    def empty(
        cls,
        *,
        layers: int,
        batch: int,
        kv_heads: int,
        head_dim: int,
        max_len: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> KVCache:
        shape = (batch, kv_heads, max_len, head_dim)
        return cls(
            k=[torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)],
            v=[torch.zeros(shape, device=device, dtype=dtype) for _ in range(layers)],
        )

    @property
    def max_len(self) -> int:
        return self.k[0].shape[2]

    def write(
        self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v [B, Hkv, n, Dh]`` at positions ``start..start+n``; return all ``[:start+n]``."""
        end = start + k.shape[2]
        if end > self.max_len:
            raise CacheFullError(
                f"the KV cache holds {self.max_len} tokens but decoding reached {end}; "
                f"allocate a longer cache (max_len) or generate fewer tokens"
            )
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def keep(self, start: int, rows: torch.Tensor) -> KVCache:
        """Keep, of the entries written from `start` on, those at offsets `rows` ``[a]`` (increasing,
        ``rows[i] >= i``), moved to ``start .. start + a``; forget the rest (a Medusa tree's accepted
        path). Returns self."""
        a = rows.shape[0]
        if a and (start + int(rows[-1]) >= self.length or bool((rows.cpu() < torch.arange(a)).any())):
            raise ValueError(f"cannot keep rows {rows.tolist()} of {self.length - start} written entries")
        idx = (start + rows).to(self.k[0].device)
        for buf in (*self.k, *self.v):
            buf[:, :, start : start + a] = buf[:, :, idx]
        self.length = start + a
        return self

    def truncate(self, length: int) -> KVCache:
        """Forget every token from `length` on (rejected speculative tokens); returns self."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} tokens to {length}")
        self.length = length
        return self
