"""The Cosmos diffusion transformer (DiT) over continuous tokenizer latents.

Cosmos (arXiv 2501.03575, Sec. 5.1, Fig. 7) adapts DiT (Peebles & Xie 2023, arXiv 2212.09748) to video:

* 3D patch embedding: ``[B, C, T, H, W]`` latents cut into ``(p_t, p_h, p_w)`` patches (default
  1x2x2), each flattened and linearly projected to width ``D``; a padding-mask channel (and, for
  Video2World, a condition-mask channel) is concatenated first.
* Positions: 3D RoPE with per-axis NTK scaling in self-attention (`worldsmith.nn.rope`) plus an
  optional learnable absolute embedding (sum of per-axis tables, RMS-normalised), added in every block.
* Each block: self-attention -> cross-attention to text embeddings -> GELU MLP, each preceded by a
  LayerNorm modulated by AdaLN (shift, scale, gate) from the noise-level embedding. AdaLN-LoRA: the
  modulation of each block is a rank-``r`` projection ``up(down(silu(e)))`` plus one shared full-rank
  term computed once per forward, which saves ~36% of the parameters at 7B (Cosmos Sec. 5.1).
* Queries and keys get a per-head RMSNorm (QK-norm) before RoPE.
* Final AdaLN layer and a linear "unpatchify" back to ``[B, C, T, H, W]``.
* Cosmos 2.x (Predict 2 / 2.5, Transfer 2.5) keeps this network and adds, by config: no absolute
  embedding (RoPE only), a ``GELU(Linear)`` projection of the text encoder's states before
  cross-attention (Predict 2.5 feeds all Qwen2.5-VL layers, 100352-d), and image-context tokens
  attended beside the text in every cross-attention with their own q/k/v (Transfer 2.5).

`DiT.forward` is the raw network ``F(c_in x, c_noise, text)`` of EDM (see `edm.py`). Weight names
differ from diffusers' ``CosmosTransformer3DModel`` but map one-to-one, except that self-attention
holds one fused ``qkv`` projection (and cross-attention a fused ``kv``) that conversion splits into
``to_q/to_k/to_v``: see `convert.from_diffusers_state_dict` / `convert.to_diffusers_state_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsmith.checkpoint import Pretrained
from worldsmith.config import check
from worldsmith.nn.attention import attention
from worldsmith.nn.embed import sinusoidal_embedding
from worldsmith.nn.mlp import MLP
from worldsmith.nn.rope import apply_rope, rope_3d


@dataclass(frozen=True, kw_only=True)
class DiTConfig:
    """Sizes of a Cosmos DiT (field names follow the paper; diffusers names in comments)."""

    latent_channels: int = 16  # in_channels / out_channels
    heads: int = 32  # num_attention_heads
    head_dim: int = 128  # attention_head_dim
    depth: int = 28  # num_layers
    mlp_ratio: float = 4.0
    text_dim: int = 1024  # text_embed_dim (T5-XXL: 1024; MiniLM: 384)
    adaln_lora_dim: int = 256
    max_size: tuple[int, int, int] = (128, 240, 240)  # latent T, H, W the position tables cover
    patch_size: tuple[int, int, int] = (1, 2, 2)
    rope_scale: tuple[float, float, float] = (2.0, 1.0, 1.0)
    concat_padding_mask: bool = True
    learnable_pos_embed: bool = True  # extra_pos_embed_type="learnable"
    video2world: bool = False  # a condition-mask input channel (diffusers in_channels = C + 1)
    # Not in Cosmos (off for its weights): Video2World denoises the future relative to the last given
    # latent frame (see `conditioning.video2world_denoise`), so "nothing moves" is the prior.
    residual_to_given: bool = False
    # With residual_to_given: the change is denoised scaled by this (and its noise levels with it),
    # i.e. at std ~sigma_data; `recipes.train_world_model` measures it on the training latents.
    residual_scale: float = 1.0
    # Not in Cosmos: every frame's tokens also carry the last given latent frame and its change from
    # the one before (2 C input channels, `conditioning.given_context`), so each position sees its
    # own recent motion without first finding the given frames' tokens by attention.
    given_channels: bool = False
    # Cosmos 2.5: text states of width `text_proj_dim` pass GELU(Linear(-> text_dim)) first
    # (use_crossattn_projection; crossattn_proj_in_channels). 0 = none.
    text_proj_dim: int = 0
    # Cosmos Transfer 2.5: image-context tokens of width `img_context_dim` (img_context_dim_in),
    # projected to the model width, attended beside the text in cross-attention. 0 = none.
    img_context_dim: int = 0

    def __post_init__(self) -> None:
        for key in ("latent_channels", "heads", "head_dim", "depth", "text_dim", "adaln_lora_dim"):
            check(getattr(self, key) > 0, key, getattr(self, key), "must be positive")
        check(
            self.head_dim % 2 == 0 and self.head_dim >= 12,
            "head_dim",
            self.head_dim,
            "must be even and >= 12",
        )
        check(all(p > 0 for p in self.patch_size), "patch_size", self.patch_size, "must be positive")
        check(self.residual_scale > 0, "residual_scale", self.residual_scale, "must be positive (1 = off)")
        for key in ("text_proj_dim", "img_context_dim"):
            check(getattr(self, key) >= 0, key, getattr(self, key), "must be >= 0 (0 = none)")
        check(
            all(m % p == 0 for m, p in zip(self.max_size, self.patch_size, strict=True)),
            "max_size",
            self.max_size,
            f"must be divisible by patch_size {self.patch_size}",
        )

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def text_in_dim(self) -> int:
        """Width of the text embeddings the model takes (before its projection, if any)."""
        return self.text_proj_dim or self.text_dim

    @property
    def in_channels(self) -> int:
        """Channels entering the patch embedding: latents + condition mask + padding mask."""
        extra = (
            int(self.video2world)
            + int(self.concat_padding_mask)
            + 2 * self.latent_channels * self.given_channels
        )
        return self.latent_channels + extra


class Attention(nn.Module):
    """Multi-head attention with per-head QK RMSNorm: self-attention (fused q/k/v projection, RoPE)
    or cross-attention to a context (q from x, fused k/v from the context). With `img_context`,
    cross-attention also attends to image tokens (width `dim`) with its own q/k/v and QK norms, and
    the two outputs are summed before the output projection (Cosmos Transfer 2.5)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        *,
        context_dim: int | None = None,
        img_context: bool = False,
    ):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.cross = heads, context_dim is not None
        if self.cross:
            self.q = nn.Linear(dim, inner, bias=False)
            self.kv = nn.Linear(context_dim, 2 * inner, bias=False)
        else:
            self.qkv = nn.Linear(dim, 3 * inner, bias=False)  # one GEMM instead of three
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-5)
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-5)
        if img_context:  # names as in diffusers' CosmosAttention
            self.q_img, self.k_img, self.v_img = (nn.Linear(dim, inner, bias=False) for _ in range(3))
            self.q_img_norm = nn.RMSNorm(head_dim, eps=1e-6)
            self.k_img_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.out = nn.Linear(inner, dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
        img: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # Heads stay in the token-major layout [B, L, H, Dh] that the linear layers produce and the
        # CPU flash-attention kernel reads and writes (transposed views, no copies in or out).
        if self.cross:
            q = _heads(self.q(x), self.heads)  # [B, L, H, Dh]
            k, v = _heads(self.kv(context), self.heads, 2)  # [B, S, H, Dh] each
        else:
            q, k, v = _heads(self.qkv(x), self.heads, 3)  # [B, L, H, Dh] each
        q, k = _rms_norm(q, self.q_norm), _rms_norm(k, self.k_norm)
        if rope is not None:
            cos, sin = (t.unsqueeze(-2) for t in rope)  # [L, 1, Dh]: the same angle for every head
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        out = _attend(q, k, v, mask)  # [B, L, H, Dh]
        if img is not None:
            q, k, v = (
                _heads(f(t), self.heads) for f, t in ((self.q_img, x), (self.k_img, img), (self.v_img, img))
            )
            q, k = _rms_norm(q, self.q_img_norm), _rms_norm(k, self.k_img_norm)
            out = out + _attend(q, k, v, None)  # [B, L, H, Dh]
        return self.out(out.flatten(2))  # [B, L, D]


def _heads(x: torch.Tensor, heads: int, n: int = 0) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """``[B, L, (n H Dh)]`` -> ``[B, L, H, Dh]`` (or `n` of them), as views."""
    if not n:
        return x.unflatten(-1, (heads, -1))
    return x.unflatten(-1, (n, heads, -1)).unbind(-3)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Attention over heads in the ``[B, L, H, Dh]`` layout (`attention` takes ``[B, H, L, Dh]``)."""
    out = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return out.transpose(1, 2)  # [B, L, H, Dh]


def _rms_norm(x: torch.Tensor, norm: nn.RMSNorm) -> torch.Tensor:
    """`norm(x)` with the weight in x's dtype: under bfloat16 autocast the fused RMSNorm kernel
    needs input and weight of one dtype (else a slower composite runs); a no-op cast in float32."""
    weight = None if norm.weight is None else norm.weight.to(x.dtype)
    return F.rms_norm(x, norm.normalized_shape, weight, norm.eps)


class AdaLNLoRA(nn.Module):
    """``up(down(silu(e))) + shared``, split into `n` chunks of width `dim` (Cosmos AdaLN-LoRA)."""

    def __init__(self, dim: int, rank: int, n: int):
        super().__init__()
        self.n = n
        self.down = nn.Linear(dim, rank, bias=False)
        self.up = nn.Linear(rank, n * dim, bias=False)

    def forward(self, emb: torch.Tensor, shared: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mod = self.up(self.down(F.silu(emb))) + shared[..., : self.up.out_features]  # [B, L|1, n*D]
        return mod.chunk(self.n, dim=-1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``LayerNorm(x) (1 + scale) + shift`` (AdaLN, DiT Sec. 3.2), fused into one addcmul."""
    return torch.addcmul(shift, F.layer_norm(x, x.shape[-1:], eps=1e-6), 1 + scale)


class Block(nn.Module):
    """Self-attention -> cross-attention -> MLP, each AdaLN-modulated and gated (Cosmos Fig. 7)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        D = cfg.dim
        self.mod_self = AdaLNLoRA(D, cfg.adaln_lora_dim, 3)
        self.self_attn = Attention(D, cfg.heads, cfg.head_dim)
        self.mod_cross = AdaLNLoRA(D, cfg.adaln_lora_dim, 3)
        self.cross_attn = Attention(
            D, cfg.heads, cfg.head_dim, context_dim=cfg.text_dim, img_context=cfg.img_context_dim > 0
        )
        self.mod_mlp = AdaLNLoRA(D, cfg.adaln_lora_dim, 3)
        self.mlp = MLP(D, int(D * cfg.mlp_ratio))

    def forward(
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        shared: torch.Tensor,
        text: torch.Tensor,
        *,
        rope: tuple[torch.Tensor, torch.Tensor],
        pos: torch.Tensor | None,
        text_mask: torch.Tensor | None,
        img: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # Modulation groups: `emb` [B, G, D] holds one embedding per sample (G = 1), per latent frame
        # (G = T') or per token (G = L), each for L / G consecutive tokens; the AdaLN terms are
        # computed per group and broadcast, not repeated over every token.
        if pos is not None:
            x = x + pos
        x = self._branch(self.mod_self, lambda h: self.self_attn(h, rope=rope), x, emb, shared)
        x = self._branch(
            self.mod_cross, lambda h: self.cross_attn(h, text, mask=text_mask, img=img), x, emb, shared
        )
        return self._branch(self.mod_mlp, self.mlp, x, emb, shared)

    @staticmethod
    def _branch(mod: AdaLNLoRA, f, x: torch.Tensor, emb: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """``x + gate * f(LayerNorm(x) (1 + scale) + shift)`` with (shift, scale, gate) per group."""
        shift, scale, gate = mod(emb, shared)  # [B, G, D] each
        if emb.shape[1] == 1:  # per sample: broadcasts as it is
            return torch.addcmul(x, gate, f(_modulate(x, shift, scale)))
        B, L, D = x.shape
        xg = x.view(B, emb.shape[1], -1, D)  # [B, G, L/G, D]
        shift, scale, gate = (m.unsqueeze(2) for m in (shift, scale, gate))  # [B, G, 1, D]
        y = f(_modulate(xg, shift, scale).flatten(1, 2)).view_as(xg)  # [B, G, L/G, D]
        # an add, not an addcmul into the grouped view: the block returns a tensor, not a view
        # (FSDP2 hooks a block's output; an in-place op on a view would bypass them)
        return x + (gate * y).flatten(1, 2)  # [B, L, D]


class LearnablePosEmbed(nn.Module):
    """Absolute position embedding ``e_t + e_h + e_w``, normalised to unit RMS per token."""

    def __init__(self, dim: int, grid: tuple[int, int, int], eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.t = nn.Parameter(torch.randn(grid[0], dim) * 0.02)
        self.h = nn.Parameter(torch.randn(grid[1], dim) * 0.02)
        self.w = nn.Parameter(torch.randn(grid[2], dim) * 0.02)

    def forward(self, grid: tuple[int, int, int]) -> torch.Tensor:
        T, H, W = grid
        emb = self.t[:T, None, None] + self.h[None, :H, None] + self.w[None, None, :W]  # [T, H, W, D]
        emb = emb.reshape(T * H * W, -1)  # [L, D]
        rms = torch.linalg.vector_norm(emb, dim=-1, keepdim=True, dtype=torch.float32) / emb.shape[-1] ** 0.5
        return (emb / (self.eps + rms)).to(emb.dtype)


class DiT(nn.Module, Pretrained):
    """Cosmos DiT: ``F(x_in [B, C, T, H, W], c_noise [B] | [B, T], text [B, S, Dt]) -> [B, C, T, H, W]``."""

    model_type = "dit"
    config_class = DiTConfig
    config_attr = "cfg"

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        D, (pt, ph, pw) = cfg.dim, cfg.patch_size
        self.patch_embed = nn.Linear(cfg.in_channels * pt * ph * pw, D, bias=False)
        grid = tuple(m // p for m, p in zip(cfg.max_size, cfg.patch_size, strict=True))
        self.pos_embed = LearnablePosEmbed(D, grid) if cfg.learnable_pos_embed else None
        # Noise-level embedding: sinusoid -> (shared AdaLN-LoRA term [3D], RMS-normed embedding [D]).
        self.t_fc1 = nn.Linear(D, D, bias=False)
        self.t_fc2 = nn.Linear(D, 3 * D, bias=False)
        self.t_norm = nn.RMSNorm(D, eps=1e-6)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_mod = AdaLNLoRA(D, cfg.adaln_lora_dim, 2)
        self.proj_out = nn.Linear(D, pt * ph * pw * cfg.latent_channels, bias=False)
        # Cosmos 2.x input projections, GELU(Linear) each (diffusers: crossattn_proj, img_context_proj).
        self.text_proj = nn.Linear(cfg.text_proj_dim, cfg.text_dim) if cfg.text_proj_dim else None
        self.img_proj = nn.Linear(cfg.img_context_dim, D) if cfg.img_context_dim else None
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
        # adaLN-Zero (DiT Sec. 3.2): blocks start as the identity, the output at zero.
        for block in self.blocks:
            for mod in (block.mod_self, block.mod_cross, block.mod_mlp):
                nn.init.zeros_(mod.up.weight)
        nn.init.zeros_(self.final_mod.up.weight)
        nn.init.zeros_(self.proj_out.weight)

    def forward(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        text: torch.Tensor,
        *,
        text_mask: torch.Tensor | None = None,
        condition_mask: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        given_context: torch.Tensor | None = None,
        fps: float | None = None,
        extra_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        img_context: torch.Tensor | None = None,
        extra_tokens: torch.Tensor | None = None,
        block_residuals: dict[int, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Args:
        x: ``[B, C, T, H, W]`` preconditioned latents (``c_in * x``).
        c_noise: ``[B]`` (or per latent frame ``[B, T]``, needs ``p_t = 1``) noise conditioning.
        text: ``[B, S, text_dim]`` text embeddings; `text_mask` ``[B, S]`` bool, True = real token.
        condition_mask: ``[B, 1, T, H, W]`` 1 on given (Video2World) frames; zeros when omitted.
        padding_mask: ``[B|1, 1, H', W']`` 1 on padded pixels, resized to ``H, W``; zeros when omitted.
        given_context: ``[B, 2C, 1, H, W]`` input channels of every frame (configs with
            `given_channels`; `conditioning.given_context`); zeros when omitted.
        fps: frame rate of the clip, for the temporal RoPE clock.
        extra_emb: post-training conditions (`worldsmith.posttrain`): ``(e [B, 1|T', D], s [B, 1|T', 3D])``
            added per sample or per latent frame (``T'`` = T / p_t) to the noise-level embedding
            before its RMSNorm and to the shared AdaLN-LoRA term (Cosmos action conditioning).
        img_context: ``[B, N, img_context_dim]`` image tokens (configs with `img_context_dim`).
        extra_tokens: ``[B, L, D]`` added to the patch embeddings: extra input channels concatenated
            to the latents, as a linear layer of their patches (`worldsmith.posttrain.camera`).
        block_residuals: ``{i: [B, L, D]}`` added to the output of block ``i`` (ControlNet branches,
            `worldsmith.posttrain.control`; diffusers' ``block_controlnet_hidden_states``).
        """
        cfg = self.cfg
        B, C, T, H, W = x.shape
        pt, ph, pw = cfg.patch_size
        if cfg.latent_channels != C or T % pt or H % ph or W % pw:
            raise ValueError(
                f"DiT expects [B, {cfg.latent_channels}, T, H, W] divisible by {cfg.patch_size}, "
                f"got {tuple(x.shape)}"
            )
        grid = (T // pt, H // ph, W // pw)
        if any(g > m // p for g, m, p in zip(grid, cfg.max_size, cfg.patch_size, strict=True)):
            raise ValueError(f"latent size {(T, H, W)} exceeds the model's max_size {cfg.max_size}")
        parts = [x]
        if cfg.video2world:
            parts.append(x.new_zeros(B, 1, T, H, W) if condition_mask is None else condition_mask.to(x.dtype))
        if cfg.concat_padding_mask:
            pm = x.new_zeros(1, 1, H, W) if padding_mask is None else padding_mask.to(x.dtype)
            pm = F.interpolate(pm, size=(H, W), mode="nearest")  # [B|1, 1, H, W]
            parts.append(pm[:, :, None].expand(B, 1, T, H, W))
        if cfg.given_channels:
            ctx = x.new_zeros(B, 2 * C, 1, H, W) if given_context is None else given_context.to(x.dtype)
            parts.append(ctx.expand(B, 2 * C, T, H, W))
        x = torch.cat(parts, dim=1)  # [B, C_in, T, H, W]
        x = rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)
        x = self.patch_embed(x)  # [B, L, D]
        if extra_tokens is not None:
            x = x + extra_tokens.to(x.dtype)

        rope = rope_3d(cfg.head_dim, grid, scale=cfg.rope_scale, fps=fps, device=x.device)
        pos = self.pos_embed(grid).to(x.dtype) if self.pos_embed is not None else None

        # Noise-level embedding, per sample [B, 1, *] or per latent frame [B, L, *].
        if c_noise.ndim == 2 and (pt != 1 or c_noise.shape != (B, T)):
            raise ValueError(f"per-frame c_noise must be [B, T] = {(B, T)} with p_t = 1")
        t_feat = sinusoidal_embedding(c_noise.reshape(-1), cfg.dim).to(x.dtype)  # [B or B*T, D]
        t_feat = t_feat.view(B, -1, cfg.dim)  # [B, 1|T, D]
        shared = self.t_fc2(F.silu(self.t_fc1(t_feat)))  # [B, 1|T, 3D]
        if extra_emb is not None:
            t_feat, shared = t_feat + extra_emb[0].to(x.dtype), shared + extra_emb[1].to(x.dtype)
        emb = _rms_norm(t_feat, self.t_norm)  # [B, 1|T, D]: per frame, for its H'W' tokens (t-major)

        mask = None if text_mask is None else text_mask[:, None, None, :].bool()  # [B, 1, 1, S]
        if self.text_proj is not None:
            text = F.gelu(self.text_proj(text))  # [B, S, text_dim]
        img = None if img_context is None or self.img_proj is None else F.gelu(self.img_proj(img_context))
        for i, block in enumerate(self.blocks):
            x = block(x, emb, shared, text, rope=rope, pos=pos, text_mask=mask, img=img)
            if block_residuals is not None and i in block_residuals:
                x = x + block_residuals[i].to(x.dtype)

        shift, scale = (m.unsqueeze(2) for m in self.final_mod(emb, shared))  # [B, 1|T, 1, D]
        x = self.proj_out(
            _modulate(x.unflatten(1, (emb.shape[1], -1)), shift, scale)
        )  # [B, 1|T, N, ph*pw*pt*C]
        t, h, w = grid
        x = x.flatten(1, 2)  # [B, L, ph*pw*pt*C]
        # The output patch layout is (p_h, p_w, p_t, C), as in the released Cosmos weights.
        return rearrange(
            x, "b (t h w) (ph pw pt c) -> b c (t pt) (h ph) (w pw)", t=t, h=h, w=w, ph=ph, pw=pw, pt=pt
        )


# --- presets: plain functions in one visible dict -------------------------------------------------


def _preset(defaults: dict, kw: dict) -> DiTConfig:
    return DiTConfig(**{**defaults, **kw})


def tiny(**kw) -> DiTConfig:
    """~1M parameters: trains on CPU in minutes (MiniLM text, 16 latent channels)."""
    return _preset(
        dict(heads=4, head_dim=16, depth=4, text_dim=384, adaln_lora_dim=32, max_size=(32, 64, 64)), kw
    )


def small(**kw) -> DiTConfig:
    """~30M parameters: a GPU-afternoon model."""
    return _preset(
        dict(heads=8, head_dim=64, depth=12, text_dim=384, adaln_lora_dim=64, max_size=(64, 128, 128)), kw
    )


def cosmos_7b(**kw) -> DiTConfig:
    """Cosmos-1.0-Diffusion-7B-{Text,Video}2World: width 4096, 28 blocks, 32 heads, T5-XXL text."""
    return _preset(dict(heads=32, head_dim=128, depth=28, text_dim=1024, rope_scale=(2.0, 1.0, 1.0)), kw)


def cosmos_14b(**kw) -> DiTConfig:
    """Cosmos-1.0-Diffusion-14B-{Text,Video}2World: width 5120, 36 blocks, 40 heads."""
    return _preset(dict(heads=40, head_dim=128, depth=36, text_dim=1024, rope_scale=(2.0, 2.0, 2.0)), kw)


def predict2_2b(**kw) -> DiTConfig:
    """Cosmos-Predict2-2B (Video2World: `video2world=True`): width 2048, 28 blocks, RoPE only."""
    base = dict(heads=16, head_dim=128, depth=28, text_dim=1024, rope_scale=(1.0, 3.0, 3.0))
    return _preset({**base, "learnable_pos_embed": False}, kw)


def predict25_2b(**kw) -> DiTConfig:
    """Cosmos-Predict2.5-2B: Predict2-2B plus the projection of all 28 Qwen2.5-VL-7B layers (100352)."""
    return predict2_2b(**{"video2world": True, "text_proj_dim": 100352, **kw})


PRESETS = {
    "tiny": tiny, "small": small, "7b": cosmos_7b, "14b": cosmos_14b,
    "predict2-2b": predict2_2b, "predict2.5-2b": predict25_2b,
}  # fmt: skip
