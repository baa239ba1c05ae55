"""The Cosmos autoregressive world model: a Llama-3-style decoder over discrete video tokens.

Cosmos (arXiv 2501.03575, Sec. 5.2) predicts video as next-token prediction over the FSQ indices of
the discrete tokenizer (DV, 64,000 codes), flattened t-major from the latent grid ``[T, H, W]``.
The network is Llama 3 (Dubey et al. 2024, arXiv 2407.21783):

* pre-norm blocks with RMSNorm (Zhang & Sennrich 2019), SwiGLU MLP (Shazeer 2020),
* grouped-query attention (Ainslie et al. 2023, GQA) with per-head RMSNorm on q and k (QK-norm),
* **3D RoPE**: each head's channels split into a time, a height and a width part rotated by the
  token's (t, h, w) grid position (`worldsmith.nn.rope.rope_3d`), plus an optional learnable absolute
  position embedding ``e_t + e_h + e_w`` added to the input,
* optional **cross-attention to text embeddings** in every block (Cosmos-1.0-Autoregressive-5B and
  -13B-Video2World; the 4B and 12B models have none).

As in Cosmos' 3D-RoPE configs there are no special tokens: the vocabulary is the codebook, and
Video2World conditions on at least one given latent frame. Attention goes through
`worldsmith.nn.attention`, so context parallelism applies to training.

``GPT.hidden(tokens, cache=...)`` returns the final-normed hidden states ``[B, n, D]``;
``GPT(tokens, cache=...)`` the logits ``[B, n, V]``. With a `KVCache` the tokens continue the
cached sequence (the cache is advanced; the model is never mutated). ``hidden(..., adapter=fn)``
lets post-training insert layers between the blocks (`worldsmith.posttrain.ar_action`: cross-attention
to robot actions) without a second copy of this loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from worldsmith.autoregressive.cache import KVCache
from worldsmith.checkpoint import Pretrained
from worldsmith.config import check
from worldsmith.errors import WorldsmithError
from worldsmith.nn.attention import attention
from worldsmith.nn.mlp import SwiGLU
from worldsmith.nn.rope import apply_rope, rope_3d


class ARInputError(WorldsmithError, ValueError):
    """Tokens or conditions that do not fit the autoregressive model."""


Adapter = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]  # (layer, x, positions) -> x


@dataclass(frozen=True, kw_only=True)
class GPTConfig:
    """Sizes of a Cosmos AR model (names follow Llama; Cosmos' names in comments)."""

    codebook_size: int = 64000  # vocab_size: the DV tokenizer's FSQ codebook
    dim: int = 4096
    layers: int = 16  # n_layers
    heads: int = 32  # n_heads
    kv_heads: int = 8  # n_kv_heads (GQA)
    head_dim: int = 128
    ffn_hidden: int = 14336  # ffn_hidden_size
    norm_eps: float = 1e-5
    qk_norm: bool = True  # use_qk_normalization
    rope_theta: float = 10000.0
    latent_shape: tuple[int, int, int] = (5, 40, 64)  # the largest token grid (T, H, W)
    abs_pos_embed: bool = False  # apply_abs_pos_emb
    text_dim: int | None = None  # context_dim of cross-attention; None = no cross-attention

    def __post_init__(self) -> None:
        for key in ("codebook_size", "dim", "layers", "heads", "kv_heads", "head_dim", "ffn_hidden"):
            check(getattr(self, key) > 0, key, getattr(self, key), "must be positive")
        check(self.heads % self.kv_heads == 0, "kv_heads", self.kv_heads, f"must divide heads={self.heads}")
        check(self.head_dim % 2 == 0 and self.head_dim >= 6, "head_dim", self.head_dim, "must be even, >= 6")
        check(all(s > 0 for s in self.latent_shape), "latent_shape", self.latent_shape, "must be positive")
        check(self.text_dim is None or self.text_dim > 0, "text_dim", self.text_dim, "must be positive")

    @property
    def vocab_size(self) -> int:
        return self.codebook_size

    @property
    def tokens_per_frame(self) -> int:
        return self.latent_shape[1] * self.latent_shape[2]

    @property
    def max_len(self) -> int:
        T, H, W = self.latent_shape
        return T * H * W


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


def _onednn_pack(w: torch.Tensor) -> torch.Tensor | None:
    """`w` ``[V, D]`` in oneDNN's blocked layout for `mkldnn._linear_pointwise`, or None without oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(w, 8)
    except (AttributeError, RuntimeError):
        return None


def _causal_mask(start: int, n: int, device: torch.device) -> torch.Tensor:
    """``[n, start + n]`` bool: query ``i`` (at position ``start + i``) sees keys ``<= start + i``."""
    q = torch.arange(start, start + n, device=device)[:, None]
    k = torch.arange(start + n, device=device)[None, :]
    return k <= q


class SelfAttention(nn.Module):
    """Causal grouped-query attention with QK-norm and 3D RoPE, optionally through a `KVCache`."""

    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.layer, self.heads, self.kv_heads = layer, cfg.heads, cfg.kv_heads
        self.q = nn.Linear(cfg.dim, cfg.heads * cfg.head_dim, bias=False)
        self.k = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.v = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.out = nn.Linear(cfg.heads * cfg.head_dim, cfg.dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        *,
        cache: KVCache | None,
        start: int,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        n = x.shape[1]
        q = rearrange(self.q(x), "b n (h d) -> b h n d", h=self.heads)  # [B, H, n, Dh]
        k = rearrange(self.k(x), "b n (h d) -> b h n d", h=self.kv_heads)  # [B, Hkv, n, Dh]
        v = rearrange(self.v(x), "b n (h d) -> b h n d", h=self.kv_heads)
        q, k = apply_rope(self.q_norm(q), *rope), apply_rope(self.k_norm(k), *rope)
        if cache is None:
            out = attention(q, k, v, causal=True)  # [B, H, n, Dh]
        else:
            k, v = cache.write(self.layer, start, k, v)  # [B, Hkv, start + n, Dh]
            # One new token sees everything cached; several (prefill, Medusa verification) need the
            # causal mask shifted by `start` (SDPA's is_causal aligns the top-left corner instead),
            # or the tree mask of Medusa's candidate tree when one is given.
            if mask is None and n > 1:
                mask = _causal_mask(start, n, x.device)
            out = attention(q, k, v, attn_mask=mask, sequence_parallel=False)
        return self.out(rearrange(out, "b h n d -> b n (h d)"))


class CrossAttention(nn.Module):
    """Attention from video tokens to text embeddings (grouped-query, no positions)."""

    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        assert cfg.text_dim is not None
        self.layer, self.heads, self.kv_heads = layer, cfg.heads, cfg.kv_heads
        self.q = nn.Linear(cfg.dim, cfg.heads * cfg.head_dim, bias=False)
        self.k = nn.Linear(cfg.text_dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.v = nn.Linear(cfg.text_dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.out = nn.Linear(cfg.heads * cfg.head_dim, cfg.dim, bias=False)

    def text_kv(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = rearrange(self.k(text), "b s (h d) -> b h s d", h=self.kv_heads)  # [B, Hkv, S, Dh]
        v = rearrange(self.v(text), "b s (h d) -> b h s d", h=self.kv_heads)
        return self.k_norm(k), v

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None
    ) -> torch.Tensor:
        q = self.q_norm(rearrange(self.q(x), "b n (h d) -> b h n d", h=self.heads))  # [B, H, n, Dh]
        out = attention(q, *kv, attn_mask=mask, sequence_parallel=False)
        return self.out(rearrange(out, "b h n d -> b n (h d)"))


class Block(nn.Module):
    """``x + attn(norm x)`` -> ``x + cross(norm x, text)`` -> ``x + swiglu(norm x)`` (Llama 3 pre-norm)."""

    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.attn_norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.attn = SelfAttention(cfg, layer)
        if cfg.text_dim is not None:
            self.cross_norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
            self.cross = CrossAttention(cfg, layer)
        self.mlp_norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.mlp = SwiGLU(cfg.dim, cfg.ffn_hidden)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        *,
        text_kv: tuple[torch.Tensor, torch.Tensor] | None,
        text_mask: torch.Tensor | None,
        cache: KVCache | None,
        start: int,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), rope, cache=cache, start=start, mask=mask)
        if text_kv is not None:
            x = x + self.cross(self.cross_norm(x), text_kv, text_mask)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module, Pretrained):
    """Token indices ``[B, n]`` -> next-token logits ``[B, n, V]`` (see the module docstring)."""

    model_type = "ar-gpt"
    config_class = GPTConfig
    config_attr = "cfg"

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        T, H, W = cfg.latent_shape
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        if cfg.abs_pos_embed:
            self.pos_t = nn.Parameter(torch.zeros(T, cfg.dim))
            self.pos_h = nn.Parameter(torch.zeros(H, cfg.dim))
            self.pos_w = nn.Parameter(torch.zeros(W, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.layers))
        self.norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        cos, sin = rope_3d(cfg.head_dim, cfg.latent_shape, theta=cfg.rope_theta)  # [T*H*W, Dh]
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(_init)

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """An empty cache for `batch` sequences of up to `max_len` tokens (default: the whole grid)."""
        p = self.lm_head.weight
        return KVCache.empty(
            layers=self.cfg.layers, batch=batch, kv_heads=self.cfg.kv_heads, head_dim=self.cfg.head_dim,
            max_len=max_len or self.cfg.max_len, device=p.device, dtype=p.dtype,
        )  # fmt: skip

    def _pos_embed(self, pos: slice | torch.Tensor) -> torch.Tensor:
        T, H, W = self.cfg.latent_shape
        emb = (
            self.pos_t[:, None, None] + self.pos_h[None, :, None] + self.pos_w[None, None, :]
        )  # [T, H, W, D]
        return emb.reshape(T * H * W, -1)[pos]  # [n, D]

    def _check(self, tokens: torch.Tensor, end: int, text: torch.Tensor | None) -> None:
        cfg = self.cfg
        if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ARInputError(
                f"tokens must be [B, n] integer indices, got {tuple(tokens.shape)} {tokens.dtype}"
            )
        if end > cfg.max_len:
            raise ARInputError(
                f"{end} tokens exceed the model's grid {cfg.latent_shape} "
                f"({cfg.max_len} tokens); generate fewer latent frames or raise latent_shape"
            )
        if text is not None and cfg.text_dim is None:
            raise ARInputError("this model has no cross-attention; pass no text (or train with text_dim set)")
        if text is not None and (text.ndim != 3 or text.shape[-1] != cfg.text_dim):
            raise ARInputError(f"text must be [B, S, {cfg.text_dim}] embeddings, got {tuple(text.shape)}")

    def hidden(
        self,
        tokens: torch.Tensor,
        *,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        adapter: Adapter | None = None,
    ) -> torch.Tensor:
        """Final-normed hidden states ``[B, n, D]`` of `tokens` ``[B, n]``.

        With `cache`, the tokens sit at positions ``cache.length ..`` and the cache is advanced by n;
        text keys/values are computed on the first cached call and reused after (pass `text` then).
        Without a text (or with a model without cross-attention) the cross-attention is skipped.

        A candidate tree (Medusa) passes, with a cache, each token's grid `positions` ``[n]`` (for
        RoPE and the absolute embedding) and `attn_mask` ``[n, cache.length + n]`` (True = may attend);
        by default the tokens are consecutive and causal.

        `adapter` ``(layer, x [B, n, D], positions [n]) -> x`` runs after every block (layers added
        by post-training; the positions are the tokens' grid positions).
        """
        start = cache.length if cache is not None else 0
        n = tokens.shape[1]
        if positions is None:
            pos: slice | torch.Tensor = slice(start, start + n)
            self._check(tokens, start + n, text)
        else:
            if cache is None or positions.shape != (n,) or attn_mask is None:
                raise ARInputError("explicit positions need a cache, one position per token and an attn_mask")
            pos = positions
            self._check(tokens, int(positions.max()) + 1, text)
        x = self.embed(tokens)  # [B, n, D]
        if self.cfg.abs_pos_embed:
            x = x + self._pos_embed(pos)
        rope = (self.rope_cos[pos], self.rope_sin[pos])  # [n, Dh] each
        mask = None if text_mask is None else text_mask[:, None, None, :].bool()  # [B, 1, 1, S]
        if cache is not None and text is not None and not cache.cross:
            cache.cross = [blk.cross.text_kv(text) for blk in self.blocks]
        if adapter is not None and positions is None:
            positions = torch.arange(start, start + n, device=x.device)  # [n]
        for i, blk in enumerate(self.blocks):
            if cache is not None and cache.cross:
                text_kv = cache.cross[i]
            else:
                text_kv = blk.cross.text_kv(text) if text is not None else None
            x = blk(x, rope, text_kv=text_kv, text_mask=mask, cache=cache, start=start, mask=attn_mask)
            if adapter is not None:
                x = adapter(i, x, positions)
        if cache is not None:
            cache.length = start + n
        return self.norm(x)

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-token logits ``[B, n, V]``: position ``i`` scores the token at ``i + 1``."""
        h = self.hidden(tokens, text=text, text_mask=text_mask, cache=cache, positions=positions,
                        attn_mask=attn_mask)  # fmt: skip
        return self.lm_head(h)

    def output_head(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Decoding's logits ``h [n, D] -> [n, V]``: the `lm_head` map through the fastest CPU kernel
        measured for each shape (profiled at D=128, V=64k, 1 thread, fp32):

        * one row (a plain decoding step): ``h @ W^T`` with ``W^T`` copied contiguous once, ~1 ms,
          where `F.linear` takes ~6-9 ms;
        * several rows (Medusa verification and proposals): oneDNN's inner product on a weight packed
          once (what inductor uses for frozen CPU linears), ~2.5 ms for 8 rows where the GEMM takes ~5.

        Every decoder (`generate` with and without the cache, Medusa) goes through it, so speed
        comparisons stay fair; other devices and dtypes use ``h @ W^T`` throughout.
        """
        w = self.lm_head.weight.detach()
        wt = w.t().contiguous()  # [D, V]
        packed: list[torch.Tensor | None] = []  # the oneDNN weight, packed on the first multi-row call

        def head(h: torch.Tensor) -> torch.Tensor:
            if h.ndim == 2 and h.shape[0] > 1 and w.device.type == "cpu" and w.dtype == torch.float32:
                if not packed:
                    packed.append(_onednn_pack(w))
                if packed[0] is not None:
                    return torch.ops.mkldnn._linear_pointwise(h, packed[0], None, "none", [], "")
            return h @ wt

        return head

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --- presets: plain functions in one visible dict ---------------------------------------------


def tiny(**kw) -> GPTConfig:
    """~2M parameters (+0.26M for the tiny DV tokenizers' 1,000 codes): trains on a CPU in minutes."""
    base = dict(dim=128, layers=4, heads=4, kv_heads=2, head_dim=32, ffn_hidden=384,
                latent_shape=(17, 8, 8), text_dim=384)  # fmt: skip
    return GPTConfig(**{**base, **kw})


def small(**kw) -> GPTConfig:
    """~60M parameters: a single-GPU model (DV8x16x16 at 256x256, 17 latent frames)."""
    base = dict(dim=512, layers=12, heads=8, kv_heads=4, head_dim=64, ffn_hidden=1536,
                latent_shape=(17, 16, 16), text_dim=384)  # fmt: skip
    return GPTConfig(**{**base, **kw})


def cosmos_4b(**kw) -> GPTConfig:
    """Cosmos-1.0-Autoregressive-4B: 16 layers, width 4096, 32 heads / 8 KV heads, no text."""
    return GPTConfig(**kw)


def cosmos_5b(**kw) -> GPTConfig:
    """Cosmos-1.0-Autoregressive-5B-Video2World: the 4B plus cross-attention to T5-XXL (1024-d)."""
    return GPTConfig(**{"text_dim": 1024, **kw})


def cosmos_12b(**kw) -> GPTConfig:
    """Cosmos-1.0-Autoregressive-12B: 40 layers, width 5120, 32 heads / 8 KV heads, no text."""
    return GPTConfig(**{"dim": 5120, "layers": 40, **kw})


def cosmos_13b(**kw) -> GPTConfig:
    """Cosmos-1.0-Autoregressive-13B-Video2World: the 12B plus cross-attention to T5-XXL."""
    return GPTConfig(**{"dim": 5120, "layers": 40, "text_dim": 1024, **kw})


PRESETS = {
    "tiny": tiny,
    "small": small,
    "4b": cosmos_4b,
    "5b": cosmos_5b,
    "12b": cosmos_12b,
    "13b": cosmos_13b,
}


def get_preset(name: str, **kw) -> GPTConfig:
    """The config of preset `name`, with keyword overrides."""
    if name not in PRESETS:
        raise ARInputError(f"unknown AR preset '{name}'; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name](**kw)
