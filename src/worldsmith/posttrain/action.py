"""Action-conditioned world models: a pretrained DiT that follows a robot's actions.

Cosmos post-trains Video2World on robot videos with actions (arXiv 2501.03575, Sec. 5.1 and its
Bridge experiments; Cosmos-Predict2's action-conditioned sample): for each latent frame, the actions
of the video frames it covers are flattened; one MLP of them ``(A k -> 4D -> D)`` is added to the
noise-level embedding and another ``(A k -> 4D -> 3D)`` to the shared AdaLN-LoRA term (the DiT's
`extra_emb` hook). Both MLPs end in a zero-initialised layer, so step 0 of post-training is the base
model exactly. Actions are dropped with probability `action_dropout` in training (the dropped
samples get no action embedding at all, the base model's conditioning), which gives
classifier-free guidance on actions at sampling: ``D = D_none + w (D_actions - D_none)``.

Time layout (causal tokenizer, ``k`` frames per latent frame after the first): latent frame 0 is
video frame 0, latent frame ``j >= 1`` covers frames ``(j-1) k + 1 .. j k``. Action ``t`` moves the
scene from frame ``t`` to ``t + 1``, so latent frame ``j`` is reached by actions ``(j-1) k .. j k - 1``
and latent frame 0 by none (zeros). A clip of ``1 + (n-1) k`` frames needs ``(n-1) k`` actions.

Per-token injection (``inject="tokens"`` or ``"both"``; not in Cosmos): the AdaLN terms are one
vector per latent frame, the same for all its tokens, so the network must turn "where the actions
put the arm" into "which tokens change" through its own layers. A third zero-initialised MLP maps
each token's latent-frame action chunk together with the token's (y, x) position (Fourier
features) to a ``[D]`` vector added to that token's patch embedding (the DiT's `extra_tokens`
hook): it can learn where in the image a given action chunk matters directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from worldsmith.config import check
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.errors import WorldsmithError


class ActionError(WorldsmithError):
    """Actions that do not fit the model or the clip (dimension, count, non-finite values)."""


INJECT = ("adaln", "tokens", "both")


@dataclass(frozen=True, kw_only=True)
class ActionConfig:
    """The action conditioning of one robot: its action space is read from the data."""

    action_dim: int  # A: values per action (read from the episodes' `actions [T, A]`)
    frames_per_latent: int = 1  # k: the tokenizer's temporal compression
    hidden_mult: float = 4.0  # MLP hidden width = hidden_mult * D (Cosmos: 4)
    # Where actions enter: "adaln" (Cosmos: timestep embedding + AdaLN-LoRA term, per latent
    # frame), "tokens" (per token, from the chunk and the token's position), or "both".
    inject: str = "adaln"
    position_frequencies: int = 4  # Fourier frequencies per axis of the per-token MLP's position input
    # Per-dimension normalisation, from the training data (joint angles and metres differ in scale).
    action_mean: tuple[float, ...] = field(default_factory=tuple)
    action_std: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check(self.action_dim >= 1, "action_dim", self.action_dim, "must be >= 1")
        check(self.frames_per_latent >= 1, "frames_per_latent", self.frames_per_latent, "must be >= 1")
        check(self.hidden_mult > 0, "hidden_mult", self.hidden_mult, "must be positive")
        check(self.inject in INJECT, "inject", self.inject, f"must be one of {', '.join(INJECT)}")
        check(
            self.position_frequencies >= 1, "position_frequencies", self.position_frequencies, "must be >= 1"
        )
        for key in ("action_mean", "action_std"):
            n = len(getattr(self, key))
            check(n in (0, self.action_dim), key, getattr(self, key), f"must have {self.action_dim} values")
        check(all(s > 0 for s in self.action_std), "action_std", self.action_std, "must be positive")


def action_stats(actions: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-dimension mean and std of actions ``[..., A]`` (std floored at 1e-3)."""
    a = actions.reshape(-1, actions.shape[-1]).double()  # [N, A]
    return tuple(a.mean(0).tolist()), tuple(a.std(0).nan_to_num(1.0).clamp_min(1e-3).tolist())


def actions_needed(latent_frames: int, k: int) -> int:
    """Actions a clip of `latent_frames` latent frames needs: ``(n - 1) k``."""
    return (latent_frames - 1) * k


def check_actions(actions: torch.Tensor, action_dim: int, needed: int, where: str = "actions") -> None:
    """Raise `ActionError` naming `where` and the fix for a wrong shape, too few, or NaN actions."""
    if actions.ndim != 3 or actions.shape[-1] != action_dim:
        got = actions.shape[-1] if actions.ndim >= 1 else "?"
        raise ActionError(
            f"{where}: actions have dimension {got}, the model was post-trained with {action_dim}; "
            f"give [T, {action_dim}] actions from the same robot"
        )
    if actions.shape[1] < needed:
        raise ActionError(
            f"{where}: {actions.shape[1]} actions for a clip that needs {needed} (one per frame after "
            "the first); give more actions or generate fewer frames"
        )
    if not torch.isfinite(actions[:, :needed]).all():
        raise ActionError(f"{where}: actions contain NaN or inf values; fix or drop those steps")


def action_chunks(actions: torch.Tensor, latent_frames: int, k: int) -> torch.Tensor:
    """``[B, >= (n-1) k, A]`` actions -> ``[B, n, k A]``: per latent frame the actions that reach its
    frames, flattened; zeros for latent frame 0 (see the module docstring)."""
    B, _, A = actions.shape
    need = actions_needed(latent_frames, k)
    chunks = actions[:, :need].reshape(B, latent_frames - 1, k * A)  # [B, n-1, kA]
    return torch.cat([chunks.new_zeros(B, 1, k * A), chunks], dim=1)  # [B, n, kA]


def _mlp(n_in: int, hidden: int, n_out: int, depth: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.GELU(approximate="tanh")]
    mlp = nn.Sequential(*layers, nn.Linear(hidden, n_out))
    nn.init.zeros_(mlp[-1].weight)  # zero-initialised output: no effect on the base at step 0
    nn.init.zeros_(mlp[-1].bias)
    return mlp


def position_features(h: int, w: int, frequencies: int) -> torch.Tensor:
    """``[h w, 4 F]``: sin and cos of ``2^i pi/2 y`` and ``2^i pi/2 x`` (``i < F``) at the token grid's
    cell centres, y and x in [-1, 1] (row-major, as the DiT orders a frame's tokens)."""
    ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # [h, w]
    f = (2.0 ** torch.arange(frequencies)) * (math.pi / 2)  # [F]
    parts = [fn(c[..., None] * f) for c in (yy, xx) for fn in (torch.sin, torch.cos)]  # 4 x [h, w, F]
    return torch.cat(parts, dim=-1).reshape(h * w, 4 * frequencies)


class ActionEmbedder(nn.Module):
    """``chunks [B, T', kA] -> (e [B, T', D], s [B, T', 3D])``: the two Cosmos action MLPs; with
    per-token injection also ``tokens(chunks, h, w) -> [B, T' h w, D]``."""

    def __init__(self, cfg: ActionConfig, dim: int):
        super().__init__()
        n_in, hidden = cfg.action_dim * cfg.frames_per_latent, int(cfg.hidden_mult * dim)
        self.frequencies = cfg.position_frequencies
        if cfg.inject != "tokens":
            self.to_emb = _mlp(n_in, hidden, dim)
            self.to_shared = _mlp(n_in, hidden, 3 * dim)
        if cfg.inject != "adaln":
            self.to_tokens = _mlp(n_in + 4 * cfg.position_frequencies, hidden, dim, depth=2)

    def forward(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not hasattr(self, "to_emb"):
            return None
        return self.to_emb(chunks), self.to_shared(chunks)

    def tokens(self, chunks: torch.Tensor, h: int, w: int) -> torch.Tensor | None:
        """Per-token embeddings ``[B, T' h w, D]`` of a ``T' x h x w`` token grid (None: not injected)."""
        if not hasattr(self, "to_tokens"):
            return None
        B, T, n = chunks.shape
        pos = position_features(h, w, self.frequencies).to(chunks)  # [hw, 4F]
        inp = torch.cat(
            [chunks[:, :, None].expand(B, T, h * w, n), pos[None, None].expand(B, T, h * w, -1)], dim=-1
        )  # [B, T', hw, kA + 4F]
        return self.to_tokens(inp).flatten(1, 2)  # [B, T' hw, D]


class ActionDiT(nn.Module):
    """A base `DiT` plus action conditioning: ``F(x, c_noise, text, *, actions [B, F, A], action_keep [B])``.

    Without `actions` (or where `action_keep` is 0) it is the base network: the unconditional
    model of classifier-free guidance. `cfg` is the base's config, so the diffusion code
    (`video2world_denoise`, `sample_latents`, the objective) takes it as it takes a `DiT`.
    """

    def __init__(self, base: DiT, action: ActionConfig):
        super().__init__()
        if base.cfg.patch_size[0] != 1:
            raise WorldsmithError(
                f"action conditioning needs a DiT with temporal patch 1, got {base.cfg.patch_size}"
            )
        self.base, self.action_cfg = base, action
        self.action = ActionEmbedder(action, base.cfg.dim)
        mean = torch.tensor(action.action_mean or [0.0] * action.action_dim)
        std = torch.tensor(action.action_std or [1.0] * action.action_dim)
        self.register_buffer("action_mean", mean, persistent=False)
        self.register_buffer("action_std", std, persistent=False)

    @property
    def cfg(self):
        return self.base.cfg

    def embed(
        self, actions: torch.Tensor, latent_frames: int, grid: tuple[int, int] | None = None
    ) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, torch.Tensor | None]:
        """Raw actions ``[B, F, A]`` -> the DiT's ``extra_emb`` ``([B, T', D], [B, T', 3D])`` and
        ``extra_tokens [B, T' h w, D]`` for a token `grid` ``(h, w)`` (each None where not injected)."""
        k = self.action_cfg.frames_per_latent
        check_actions(actions, self.action_cfg.action_dim, actions_needed(latent_frames, k))
        a = (actions.float() - self.action_mean) / self.action_std
        chunks = action_chunks(a, latent_frames, k)  # [B, T', kA]
        tokens = self.action.tokens(chunks, *grid) if grid is not None else None
        return self.action(chunks), tokens

    def forward(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        text: torch.Tensor,
        *,
        actions: torch.Tensor | None = None,
        action_keep: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if actions is None:
            return self.base(x, c_noise, text, **kwargs)
        _, ph, pw = self.base.cfg.patch_size
        emb, tokens = self.embed(actions.to(x.device), x.shape[2], (x.shape[3] // ph, x.shape[4] // pw))
        parts = [*(emb or ()), *([tokens] if tokens is not None else [])]
        if action_keep is not None:
            keep = action_keep.to(x.dtype).view(-1, 1, 1)  # [B, 1, 1]: 0 = actions dropped
            parts = [p * keep for p in parts]
        if not any(p.requires_grad for p in parts) and not any(p.any() for p in parts):
            # Inference with zero-initialised embedders (step 0) or with every sample's actions
            # dropped: the base network bit for bit (per-frame embeddings change the batch shape of
            # the AdaLN matmuls, whose float32 rounding then differs by ~1e-6). In training the
            # embedders must stay in the graph, or their zero output layers would get no gradient.
            return self.base(x, c_noise, text, **kwargs)
        if emb is not None:
            kwargs["extra_emb"] = (parts[0], parts[1])
        if tokens is not None:
            kwargs["extra_tokens"] = parts[-1]
        return self.base(x, c_noise, text, **kwargs)


def motion_weight(y: torch.Tensor, n_cond: torch.Tensor, strength: float) -> torch.Tensor:
    """``[B, 1, T, H, W]`` loss weights ``1 + strength m / mean(m)``, with ``m`` the squared change of
    each latent position from the last given latent frame (channel mean; the mean over the generated
    frames of each sample). A static scene gets weight 1 everywhere; what the actions move, more."""
    B, _, T, _, _ = y.shape
    last = (n_cond.clamp_min(1) - 1).view(B, 1, 1, 1, 1).expand(B, y.shape[1], 1, *y.shape[3:])
    anchor = torch.gather(y, 2, last)  # [B, C, 1, H, W]
    m = (y - anchor).pow(2).mean(1, keepdim=True)  # [B, 1, T, H, W]
    gen = (torch.arange(T, device=y.device)[None] >= n_cond[:, None]).to(y.dtype)  # [B, T]
    gen = gen.view(B, 1, T, 1, 1).expand_as(m)
    mean = (m * gen).sum((1, 2, 3, 4)) / (gen.sum((1, 2, 3, 4)) * 1.0).clamp_min(1.0)  # [B]
    return 1 + strength * m / mean.view(B, 1, 1, 1, 1).clamp_min(1e-8)


class ActionObjective(DiffusionObjective):
    """The diffusion objective with ``batch["actions"] [B, F, A]`` as a condition, dropped per
    sample with probability `action_dropout` (for classifier-free guidance on actions);
    `motion_weight` > 0 weights the loss towards the latents that change (`motion_weight`)."""

    def __init__(
        self,
        cfg: ObjectiveConfig | None = None,
        *,
        action_dropout: float = 0.1,
        motion_weight: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__(cfg, generator=generator)
        check(0 <= action_dropout <= 1, "action_dropout", action_dropout, "must be in [0, 1]")
        check(motion_weight >= 0, "motion_weight", motion_weight, "must be >= 0")
        self.action_dropout, self.motion_weight = action_dropout, motion_weight

    def region_weight(self, y: torch.Tensor, n_cond: torch.Tensor) -> torch.Tensor | None:
        return motion_weight(y, n_cond, self.motion_weight) if self.motion_weight > 0 else None

    def condition(self, batch: dict[str, Any], B: int, device) -> dict[str, Any]:
        if batch.get("actions") is None:
            raise ActionError("the training batch has no 'actions'; post-train on episodes with actions")
        keep = (torch.rand(B, generator=self.generator) >= self.action_dropout).float()
        return {"actions": batch["actions"], "action_keep": keep.to(device)}
