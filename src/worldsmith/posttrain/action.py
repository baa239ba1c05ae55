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
"""

from __future__ import annotations

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


@dataclass(frozen=True, kw_only=True)
class ActionConfig:
    """The action conditioning of one robot: its action space is read from the data."""

    action_dim: int  # A: values per action (read from the episodes' `actions [T, A]`)
    frames_per_latent: int = 1  # k: the tokenizer's temporal compression
    hidden_mult: float = 4.0  # MLP hidden width = hidden_mult * D (Cosmos: 4)
    # Per-dimension normalisation, from the training data (joint angles and metres differ in scale).
    action_mean: tuple[float, ...] = field(default_factory=tuple)
    action_std: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check(self.action_dim >= 1, "action_dim", self.action_dim, "must be >= 1")
        check(self.frames_per_latent >= 1, "frames_per_latent", self.frames_per_latent, "must be >= 1")
        check(self.hidden_mult > 0, "hidden_mult", self.hidden_mult, "must be positive")
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


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, n_out))
    nn.init.zeros_(mlp[2].weight)  # zero-initialised output: no effect on the base at step 0
    nn.init.zeros_(mlp[2].bias)
    return mlp


class ActionEmbedder(nn.Module):
    """``chunks [B, T', kA] -> (e [B, T', D], s [B, T', 3D])``: the two Cosmos action MLPs."""

    def __init__(self, cfg: ActionConfig, dim: int):
        super().__init__()
        n_in, hidden = cfg.action_dim * cfg.frames_per_latent, int(cfg.hidden_mult * dim)
        self.to_emb = _mlp(n_in, hidden, dim)
        self.to_shared = _mlp(n_in, hidden, 3 * dim)

    def forward(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.to_emb(chunks), self.to_shared(chunks)


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

    def embed(self, actions: torch.Tensor, latent_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw actions ``[B, F, A]`` -> the DiT's ``extra_emb`` ``([B, T', D], [B, T', 3D])``."""
        k = self.action_cfg.frames_per_latent
        check_actions(actions, self.action_cfg.action_dim, actions_needed(latent_frames, k))
        a = (actions.float() - self.action_mean) / self.action_std
        return self.action(action_chunks(a, latent_frames, k))

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
        e, s = self.embed(actions.to(x.device), x.shape[2])
        if action_keep is not None:
            keep = action_keep.to(e.dtype).view(-1, 1, 1)  # [B, 1, 1]: 0 = actions dropped
            e, s = e * keep, s * keep
        if not e.requires_grad and not (e.any() or s.any()):
            # Inference with zero-initialised embedders (step 0) or with every sample's actions
            # dropped: the base network bit for bit (per-frame embeddings change the batch shape of
            # the AdaLN matmuls, whose float32 rounding then differs by ~1e-6). In training the
            # embedders must stay in the graph, or their zero output layers would get no gradient.
            return self.base(x, c_noise, text, **kwargs)
        return self.base(x, c_noise, text, extra_emb=(e, s), **kwargs)


class ActionObjective(DiffusionObjective):
    """The diffusion objective with ``batch["actions"] [B, F, A]`` as a condition, dropped per
    sample with probability `action_dropout` (for classifier-free guidance on actions)."""

    def __init__(
        self,
        cfg: ObjectiveConfig | None = None,
        *,
        action_dropout: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__(cfg, generator=generator)
        check(0 <= action_dropout <= 1, "action_dropout", action_dropout, "must be in [0, 1]")
        self.action_dropout = action_dropout

    def condition(self, batch: dict[str, Any], B: int, device) -> dict[str, Any]:
        if batch.get("actions") is None:
            raise ActionError("the training batch has no 'actions'; post-train on episodes with actions")
        keep = (torch.rand(B, generator=self.generator) >= self.action_dropout).float()
        return {"actions": batch["actions"], "action_keep": keep.to(device)}
