"""Action-conditioned AR world models: a pretrained GPT on DV tokens that follows a robot's actions.

Cosmos post-trains its autoregressive world model on robot videos with actions by feeding the action
embeddings to cross-attention (arXiv 2501.03575, robot manipulation post-training; the diffusion model
instead adds them to the timestep embedding, `posttrain/action.py`). Here a pretrained `GPT` keeps
every block and weight; after each block a new gated cross-attention layer reads action tokens, the
way Flamingo (Alayrac et al. 2022, "Flamingo", Sec. 2.1) adds cross-attention to a frozen language
model: ``x <- x + W_o Attn(RMSNorm(x) W_q, a W_k, a W_v)``. ``W_o`` starts at zero, so step 0 of
post-training reproduces the base model's logits exactly (a test).

Action tokens, one per latent frame (the time layout of `posttrain/action.py`): for latent frame
``j`` the ``k`` actions that reach its frames, normalised and flattened, ``a_j = MLP(chunk_j) + e_j``
with a learned frame embedding ``e_j`` (latent frame 0's chunk is zeros: no action reaches it).

Causality: the token at position ``p`` predicts token ``p + 1``, which lies in latent frame
``f = (p + 1) // (H W)``; it attends to the action tokens ``j <= f``. Logits never depend on later
actions, and the action keys/values are computed once per sequence and kept in the `KVCache`
(``cache.extra["action"]``), so cached decoding equals full recomputation (a test).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from worldsmith.autoregressive.bundle import ARWorld
from worldsmith.autoregressive.cache import KVCache
from worldsmith.autoregressive.generate import video2world
from worldsmith.autoregressive.gpt import GPT, CrossAttention
from worldsmith.autoregressive.objective import ARObjective
from worldsmith.autoregressive.sampling import GREEDY, SamplingConfig
from worldsmith.config import check
from worldsmith.posttrain.action import ActionConfig, ActionError, action_chunks, check_actions
from worldsmith.video.transforms import to_model, to_uint8

# LoRA on the GPT's self-attention and SwiGLU projections (the text cross-attention is left out, as in
# the DiT's `lora.DEFAULT_TARGETS`).
AR_LORA_TARGETS = ("attn.q", "attn.k", "attn.v", "attn.out", "mlp.w1", "mlp.w2", "mlp.w3")


class ActionLayer(nn.Module):
    """``x + W_o CrossAttn(RMSNorm x, action tokens)`` with ``W_o = 0`` at init (see the module docstring)."""

    def __init__(self, cfg, layer: int):
        super().__init__()
        self.norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.cross = CrossAttention(replace(cfg, text_dim=cfg.dim), layer)
        nn.init.zeros_(self.cross.out.weight)


class ActionTokens(nn.Module):
    """Everything post-training adds to the GPT: the action MLP, the frame embedding and one
    `ActionLayer` per block (saved apart as the ``action/`` part of the checkpoint)."""

    def __init__(self, action: ActionConfig, cfg):
        super().__init__()
        n_in, hidden = action.action_dim * action.frames_per_latent, int(action.hidden_mult * cfg.dim)
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, cfg.dim)
        )
        self.frame = nn.Parameter(torch.randn(cfg.latent_shape[0], cfg.dim) * 0.02)  # e_j
        self.layers = nn.ModuleList(ActionLayer(cfg, i) for i in range(cfg.layers))

    def forward(self, chunks: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised chunks ``[B, T', kA]`` -> every layer's action keys and values ``[B, Hkv, T', Dh]``."""
        a = self.mlp(chunks) + self.frame[: chunks.shape[1]]  # [B, T', D]
        return [layer.cross.text_kv(a) for layer in self.layers]


class ActionGPT(nn.Module):
    """A base `GPT` plus cross-attention to actions: ``hidden(tokens, *, actions [B, F, A], ...)``.

    Without `actions` it is the base model. It has the GPT's decoding interface (`cfg`, `lm_head`,
    `new_cache`, `output_head`, `hidden`, `forward`), so `generate`, `video2world`, Medusa and the
    `ARObjective` take it as they take a `GPT`, with ``cond={"actions": ...}``.
    """

    def __init__(self, base: GPT, action: ActionConfig):
        super().__init__()
        self.base, self.action_cfg = base, action
        self.action = ActionTokens(action, base.cfg)
        mean = torch.tensor(action.action_mean or [0.0] * action.action_dim)
        std = torch.tensor(action.action_std or [1.0] * action.action_dim)
        self.register_buffer("action_mean", mean, persistent=False)
        self.register_buffer("action_std", std, persistent=False)

    @property
    def cfg(self):
        return self.base.cfg

    @property
    def lm_head(self) -> nn.Linear:
        return self.base.lm_head

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        return self.base.new_cache(batch, max_len)

    def output_head(self):
        return self.base.output_head()

    def action_kv(self, actions: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Raw actions ``[B, F, A]`` -> per layer keys/values of the ``1 + F // k`` action tokens
        (capped at the model's latent frames) they cover."""
        k, T = self.action_cfg.frames_per_latent, self.cfg.latent_shape[0]
        check_actions(actions, self.action_cfg.action_dim, 0)
        n = min(T, 1 + actions.shape[1] // k)
        a = (actions[:, : (n - 1) * k].float() - self.action_mean) / self.action_std
        if not torch.isfinite(a).all():
            raise ActionError("actions contain NaN or inf values; fix or drop those steps")
        return self.action(action_chunks(a, n, k))  # chunks [B, n, kA]

    def hidden(
        self,
        tokens: torch.Tensor,
        *,
        actions: torch.Tensor | None = None,
        action_keep: torch.Tensor | None = None,
        cache: KVCache | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """`GPT.hidden` with the action layers after every block (`actions` None: the base model).
        `action_keep` ``[B]`` scales each sample's action layers (0: actions dropped, in training)."""
        if actions is None:
            return self.base.hidden(tokens, cache=cache, **kwargs)
        if cache is not None and "action" in cache.extra:
            kv = cache.extra["action"]
        else:
            kv = self.action_kv(actions.to(tokens.device))
            if cache is not None:
                cache.extra["action"] = kv
        hw, k = self.cfg.tokens_per_frame, self.action_cfg.frames_per_latent
        n_act = kv[0][0].shape[2]  # action tokens available

        def adapter(i: int, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            frame = (positions + 1) // hw  # [n]: the latent frame each position predicts into
            last = int(frame.clamp(max=self.cfg.latent_shape[0] - 1).max())
            if i == 0 and last >= n_act:
                raise ActionError(
                    f"the actions cover {n_act - 1} latent frames ({(n_act - 1) * k} actions) but the tokens "
                    f"reach latent frame {last}, which needs {last * k} (one per video frame after the "
                    "first); give more actions or generate fewer frames"
                )
            mask = torch.arange(n_act, device=x.device)[None, :] <= frame[:, None]  # [n, T']
            layer = self.action.layers[i]
            delta = layer.cross(layer.norm(x), kv[i], mask[None, None])  # [B, n, D]
            return x + (delta if action_keep is None else delta * action_keep.view(-1, 1, 1))

        return self.base.hidden(tokens, cache=cache, adapter=adapter, **kwargs)

    def forward(self, tokens: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.base.lm_head(self.hidden(tokens, **kwargs))


@dataclass(frozen=True, kw_only=True)
class ARActionObjective(ARObjective):
    """Next-token cross-entropy of an `ActionGPT` given ``batch["actions"] [B, F, A]``, dropped per
    sample with probability `action_dropout` (the dropped samples train the model without actions)."""

    action_dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 <= self.action_dropout <= 1, "action_dropout", self.action_dropout, "must be in [0, 1]")

    def condition(self, batch: Any) -> dict[str, Any]:
        if not isinstance(batch, dict) or batch.get("actions") is None:
            raise ActionError("the training batch has no 'actions'; post-train on episodes with actions")
        actions = batch["actions"]
        if not self.action_dropout:
            return {"actions": actions}
        keep = (torch.rand(actions.shape[0]) >= self.action_dropout).float()  # [B]; the Trainer seeds
        return {"actions": actions, "action_keep": keep.to(actions.device)}


def ar_clip_frames(world: ARWorld) -> tuple[int, tuple[int, int], int]:
    """(frames per clip, (H, W) in pixels, frames per latent frame) of an AR world model's clips."""
    return world.spec.frames, world.spec.size, world.tokenizer.config.temporal_compression


@torch.no_grad()
def encode_tokens(world: ARWorld, frames: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """uint8 clips ``[N, F, H, W, 3]`` -> DV token indices ``[N, T, h, w]`` by the world's tokenizer."""
    out = []
    for i in range(0, len(frames), batch):
        x = torch.stack([to_model(f) for f in frames[i : i + batch]])  # [b, 3, F, H, W]
        out.append(world.tokenizer.encode(x))  # [b, T, h, w]
    return torch.cat(out)


@torch.no_grad()
def predict_ar_with_actions(
    world: ARWorld,
    net: ActionGPT | None,
    given: torch.Tensor,
    actions: torch.Tensor | None,
    *,
    sampling: SamplingConfig = GREEDY,
    seed: int = 0,
) -> torch.Tensor:
    """Predicted clips ``[B, F, H, W, 3]`` uint8 from the given first frames ``[B, 1, H, W, 3]`` and the
    actions ``[B, >= F - 1, A]``: DV tokens of the first frame, the rest decoded token by token (KV
    cache), then the DV decoder (`net` None or `actions` None: the world's GPT without actions)."""
    model = net if net is not None and actions is not None else world.gpt
    cond = {"actions": actions} if model is net else None
    given_tokens = encode_tokens(world, given[:, :1])  # [B, 1, h, w]
    T = world.gpt.cfg.latent_shape[0]
    g = torch.Generator().manual_seed(seed)
    tokens = video2world(
        model, given_tokens, T - 1, sampling=sampling, generator=g, cond=cond
    )  # [B, T, h, w]
    decoded = world.tokenizer.decode(tokens).clamp(-1, 1)  # [B, 3, F, H, W]
    video = torch.stack([to_uint8(d) for d in decoded])  # [B, F, H, W, 3]
    video[:, :1] = given[:, :1]
    return video
