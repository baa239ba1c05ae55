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

from worldsmith.autoregressive.cache import KVCache
from worldsmith.autoregressive.gpt import GPT, CrossAttention
from worldsmith.autoregressive.objective import ARObjective
from worldsmith.posttrain.action import ActionConfig, ActionError, action_chunks, check_actions

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
        cache: KVCache | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """`GPT.hidden` with the action layers after every block (`actions` None: the base model)."""
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
            return x + layer.cross(layer.norm(x), kv[i], mask[None, None])

        return self.base.hidden(tokens, cache=cache, adapter=adapter, **kwargs)

    def forward(self, tokens: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.base.lm_head(self.hidden(tokens, **kwargs))


@dataclass(frozen=True, kw_only=True)
class ARActionObjective(ARObjective):
    """Next-token cross-entropy of an `ActionGPT` given ``batch["actions"] [B, F, A]``."""

    def condition(self, batch: Any) -> dict[str, Any]:
        if not isinstance(batch, dict) or batch.get("actions") is None:
            raise ActionError("the training batch has no 'actions'; post-train on episodes with actions")
        return {"actions": batch["actions"]}
