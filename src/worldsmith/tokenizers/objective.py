"""The tokenizer objective for `worldsmith.train.Trainer`: ``loss = objective(model, batch)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from worldsmith import config as cfg
from worldsmith.tokenizers.losses import perceptual_loss, reconstruction_loss, temporal_consistency_loss
from worldsmith.tokenizers.model import CausalTokenizer


@dataclass(frozen=True, kw_only=True)
class ObjectiveConfig:
    stage: int = 1  # 1: L1 (+ perceptual); 2: adds the temporal-consistency loss
    temporal_weight: float = 1.0
    perceptual_weight: float = 0.1

    def __post_init__(self) -> None:
        cfg.check(self.stage in (1, 2), "stage", self.stage, "must be 1 or 2")
        cfg.check(self.temporal_weight >= 0, "temporal_weight", self.temporal_weight, "must be >= 0")


class TokenizerObjective:
    """Reconstruction objective; batches are videos ``[B, 3, T, H, W]`` in [-1, 1]."""

    def __init__(
        self,
        config: ObjectiveConfig | None = None,
        *,
        features: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    ):
        self.config = config or ObjectiveConfig()
        self.features = features

    def __call__(self, model: CausalTokenizer, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        x_hat, _ = model(x)
        l1 = reconstruction_loss(x_hat, x)
        loss, metrics = l1, {"l1": l1.detach()}
        if self.features is not None:
            p = perceptual_loss(x_hat, x, self.features)
            loss = loss + self.config.perceptual_weight * p
            metrics["perceptual"] = p.detach()
        if self.config.stage >= 2:
            tc = temporal_consistency_loss(x_hat, x)
            loss = loss + self.config.temporal_weight * tc
            metrics["temporal"] = tc.detach()
        with torch.no_grad():
            mse = (x_hat.clamp(-1, 1) - x).pow(2).mean()
            metrics["psnr"] = 10 * torch.log10(4.0 / mse.clamp_min(1e-10))  # range 2 in [-1, 1]
        return loss, metrics
