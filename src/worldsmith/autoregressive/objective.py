"""Training objectives of the AR world model for the shared `Trainer`: ``loss = objective(model, batch)``.

* `ARObjective`: next-token cross-entropy over the flattened DV tokens (Cosmos, arXiv 2501.03575,
  Sec. 5.2). The tokens of the first `ignore_first_latents` latent frames are never targets: they are
  always given (Video2World), as in Cosmos' ``num_tokens_to_ignore``.
* `MedusaObjective`: ``sum_k lambda_k CE(head_k)`` with ``lambda_k = decay ** k`` (Medusa, Cai et al.
  2024, Eq. 1, ``lambda_k = 0.8^k``); head ``k`` at position ``t`` targets token ``t + 1 + k``. With a
  trainable base (Medusa-2, Eq. 2) the base's next-token loss is added.

A batch is ``tokens [B, T, H, W]`` (int64 DV indices) or a dict with ``tokens`` and optional
``text [B, S, Dt]`` / ``text_mask [B, S]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from worldsmith.autoregressive.gpt import GPT, ARInputError
from worldsmith.autoregressive.medusa import MedusaModel
from worldsmith.config import check


def unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(tokens ``[B, L]``, text, text_mask) from a tensor or dict batch."""
    if isinstance(batch, dict):
        tokens, text, mask = batch["tokens"], batch.get("text"), batch.get("text_mask")
    else:
        tokens, text, mask = batch, None, None
    if tokens.ndim != 4:
        raise ARInputError(f"AR training tokens must be [B, T, H, W] DV indices, got {tuple(tokens.shape)}")
    return tokens.flatten(1), text, mask  # [B, T*H*W]


def _targets(tokens: torch.Tensor, shift: int, ignore: int) -> torch.Tensor:
    """``tokens[:, shift:]`` with positions ``< ignore`` replaced by -100 (never a target)."""
    tgt = tokens[:, shift:].clone()
    tgt[:, : max(0, ignore - shift)] = -100
    return tgt


def _subset(L: int, k: int, device: torch.device) -> torch.Tensor:
    """All ``L`` positions, or ``k`` of them drawn at random (sorted) when ``0 < k < L``."""
    pos = torch.arange(L, device=device)
    if 0 < k < L:
        pos = pos[torch.randperm(L, device=device)[:k]].sort().values
    return pos


@dataclass(frozen=True, kw_only=True)
class ARObjective:
    ignore_first_latents: int = 1
    # Cross-entropy on a random subset of this many positions per step (0 = all): an unbiased estimate
    # of the same loss; the 64k-way output layer over every position dominates a small model's step.
    max_positions: int = 0

    def __post_init__(self) -> None:
        check(
            self.ignore_first_latents >= 0, "ignore_first_latents", self.ignore_first_latents, "must be >= 0"
        )
        check(self.max_positions >= 0, "max_positions", self.max_positions, "must be >= 0 (0 = all)")

    def condition(self, batch: Any) -> dict[str, Any]:
        """Extra keyword arguments of ``model.hidden`` from the batch (post-training: actions)."""
        return {}

    def __call__(self, model: GPT, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tokens, text, mask = unpack(batch)
        cond = self.condition(batch)
        hidden = model.hidden(tokens[:, :-1], text=text, text_mask=mask, **cond)  # [B, L-1, D]
        pos = _subset(hidden.shape[1], self.max_positions, tokens.device)
        logits = model.lm_head(hidden[:, pos])  # [B, P, V]
        ignore = self.ignore_first_latents * model.cfg.tokens_per_frame
        tgt = _targets(tokens, 1, ignore)[:, pos]  # [B, P]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt.flatten(), ignore_index=-100)
        acc = (logits.argmax(-1) == tgt)[tgt >= 0].float().mean()
        return loss, {"token_acc": acc.detach()}


@dataclass(frozen=True, kw_only=True)
class MedusaObjective:
    ignore_first_latents: int = 1
    decay: float = 0.8  # lambda_k = decay ** k
    # Head losses on a random subset of this many positions per step (0 = all). An unbiased estimate
    # of the same loss: K heads x L positions x a 64k vocabulary is most of a step's memory and time.
    max_positions: int = 0

    def __post_init__(self) -> None:
        check(self.max_positions >= 0, "max_positions", self.max_positions, "must be >= 0 (0 = all)")

    def __call__(self, model: MedusaModel, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tokens, text, mask = unpack(batch)
        base, L = model.base, tokens.shape[1]
        ignore = self.ignore_first_latents * base.cfg.tokens_per_frame
        with torch.set_grad_enabled(torch.is_grad_enabled() and not model.freeze_base):
            hidden = base.hidden(tokens[:, :-1], text=text, text_mask=mask)  # [B, L-1, D]
        if model.freeze_base:
            hidden = hidden.detach()
        pos = _subset(L - 1, self.max_positions, tokens.device)
        head_logits = model.heads(hidden[:, pos], base.lm_head)  # [K, B, P, V]
        loss, metrics = hidden.new_zeros(()), {}
        for k in range(1, head_logits.shape[0] + 1):
            keep = pos < L - 1 - k  # position t predicts t+1+k, which must exist
            if not keep.any():
                break
            logits = head_logits[k - 1][:, keep]  # [B, P_k, V]
            tgt = _targets(tokens, 1 + k, ignore)[:, pos[keep]]  # [B, P_k]
            ce = F.cross_entropy(logits.flatten(0, 1).float(), tgt.flatten(), ignore_index=-100)
            loss = loss + self.decay**k * ce
            metrics[f"head{k}_acc"] = (logits.argmax(-1) == tgt)[tgt >= 0].float().mean().detach()
        if not model.freeze_base:
            tgt = _targets(tokens, 1, ignore)
            base_ce = F.cross_entropy(
                base.lm_head(hidden).flatten(0, 1).float(), tgt.flatten(), ignore_index=-100
            )
            loss = loss + base_ce
            metrics["base_ce"] = base_ce.detach()
        return loss, metrics
