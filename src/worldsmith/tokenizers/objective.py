"""The tokenizer objective for `worldsmith.train.Trainer`: ``loss = objective(model, batch)``.

Stage 2 may add an adversarial loss (``adversarial_weight > 0``): the objective then owns a 3D
PatchGAN discriminator and its AdamW optimizer, updates the discriminator once per call (hinge
loss on the real clip and the detached reconstruction) from call `adversarial_start` on, and adds
``adversarial_weight * L_G`` (times the adaptive weight, optionally) to the tokenizer's loss. Its
`state_dict` / `load_state_dict` (discriminator, optimizer, call counter) go into the Trainer's
checkpoints. With ``adversarial_weight == 0`` nothing of this is built and the loss is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from worldsmith import config as cfg
from worldsmith.distributed.checkpoint import apply_training_state, training_state
from worldsmith.tokenizers.discriminator import (
    PatchDiscriminator3D,
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
)
from worldsmith.tokenizers.losses import perceptual_loss, reconstruction_loss, temporal_consistency_loss
from worldsmith.tokenizers.model import CausalTokenizer


@dataclass(frozen=True, kw_only=True)
class ObjectiveConfig:
    stage: int = 1  # 1: L1 (+ perceptual); 2: adds the temporal-consistency loss (+ adversarial)
    temporal_weight: float = 1.0
    perceptual_weight: float = 0.1
    # Optional adversarial loss (stage 2 only); 0 = off.
    adversarial_weight: float = 0.0
    adversarial_start: int = 0  # objective calls (= optimizer steps without grad accumulation) before it
    adaptive_weight: bool = False  # scale L_G by |grad L_rec| / |grad L_G| at the decoder's last layer
    disc_channels: int = 64
    disc_layers: int = 3
    disc_norm: str = "group"  # "group" | "spectral"
    disc_lr: float = 1e-4
    disc_betas: tuple[float, float] = (0.5, 0.999)

    def __post_init__(self) -> None:
        cfg.check(self.stage in (1, 2), "stage", self.stage, "must be 1 or 2")
        cfg.check(self.temporal_weight >= 0, "temporal_weight", self.temporal_weight, "must be >= 0")
        cfg.check(self.adversarial_weight >= 0, "adversarial_weight", self.adversarial_weight, "must be >= 0")
        cfg.check(
            self.adversarial_weight == 0 or self.stage == 2,
            "adversarial_weight",
            self.adversarial_weight,
            "needs stage 2 (the adversarial loss is part of stage 2)",
        )
        cfg.check(self.adversarial_start >= 0, "adversarial_start", self.adversarial_start, "must be >= 0")
        cfg.check(
            self.disc_norm in ("group", "spectral"), "disc_norm", self.disc_norm, "must be group|spectral"
        )
        cfg.check(self.disc_layers >= 1, "disc_layers", self.disc_layers, "must be >= 1")
        cfg.check(self.disc_lr > 0, "disc_lr", self.disc_lr, "must be positive")

    @property
    def adversarial(self) -> bool:
        return self.adversarial_weight > 0


class TokenizerObjective:
    """Reconstruction objective; batches are videos ``[B, 3, T, H, W]`` in [-1, 1]."""

    def __init__(
        self,
        config: ObjectiveConfig | None = None,
        *,
        features: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    ):
        self.config = c = config or ObjectiveConfig()
        self.features = features
        self.discriminator: PatchDiscriminator3D | None = None
        self.disc_optimizer: torch.optim.Optimizer | None = None
        self.calls = 0  # objective calls so far (restored from checkpoints)
        if c.adversarial:
            self.discriminator = PatchDiscriminator3D(
                3,
                channels=c.disc_channels,
                layers=c.disc_layers,
                norm=c.disc_norm,  # type: ignore[arg-type]
            )
            self.disc_optimizer = torch.optim.AdamW(
                self.discriminator.parameters(), lr=c.disc_lr, betas=c.disc_betas, weight_decay=0.0
            )

    # -- checkpoint state (the Trainer saves it next to the model's) ---------------------------

    def state_dict(self) -> dict[str, Any]:
        """Discriminator weights, its optimizer state and the call counter (empty when adversarial is off)."""
        if self.discriminator is None:
            return {}

        state = training_state(self.discriminator, self.disc_optimizer)
        state["calls"] = torch.tensor(self.calls)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.discriminator is None:
            return

        apply_training_state(self.discriminator, self.disc_optimizer, state)
        self.calls = int(state["calls"])

    def _to_device(self, device: torch.device) -> None:
        assert self.discriminator is not None and self.disc_optimizer is not None
        if next(self.discriminator.parameters()).device != device:
            self.discriminator.to(device)
            for st in self.disc_optimizer.state.values():
                for k, v in st.items():
                    if isinstance(v, torch.Tensor) and k != "step":
                        st[k] = v.to(device)

    def discriminator_step(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """One AdamW step of the discriminator on the hinge loss (real `x`, fake detached `x_hat`)."""
        assert self.discriminator is not None and self.disc_optimizer is not None
        self._to_device(x.device)
        with torch.enable_grad():
            d_loss = hinge_d_loss(self.discriminator(x), self.discriminator(x_hat.detach()))
            self.disc_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
        self.disc_optimizer.step()
        self.disc_optimizer.zero_grad(set_to_none=True)
        return d_loss.detach()

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
        if self.discriminator is not None and self.calls >= self.config.adversarial_start:
            metrics["d_loss"] = self.discriminator_step(x, x_hat)
            self.discriminator.requires_grad_(False)  # L_G's graph reaches x_hat, not D's weights
            try:
                g = hinge_g_loss(self.discriminator(x_hat))
            finally:
                self.discriminator.requires_grad_(True)
            w = self.config.adversarial_weight
            if self.config.adaptive_weight:
                aw = adaptive_weight(loss, g, _last_layer(model))
                metrics["adaptive_weight"] = aw
                w = w * aw
            loss = loss + w * g
            metrics["g_loss"] = g.detach()
        self.calls += 1
        with torch.no_grad():
            mse = (x_hat.clamp(-1, 1) - x).pow(2).mean()
            metrics["psnr"] = 10 * torch.log10(4.0 / mse.clamp_min(1e-10))  # range 2 in [-1, 1]
        return loss, metrics


def _last_layer(model: CausalTokenizer) -> torch.Tensor:
    """Weight of the decoder's last convolution (where the adaptive weight compares gradients)."""
    return model.decoder.conv_out.conv_t.weight
