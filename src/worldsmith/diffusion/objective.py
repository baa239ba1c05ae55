"""The diffusion training objective for `worldsmith.train.Trainer`: ``loss = objective(model, batch)``.

One model learns Text2World and Video2World together (Cosmos, arXiv 2501.03575, Sec. 5.1): each
sample gets 0 given frames with probability `p_text2world`, else 1..`max_cond_frames` given latent
frames (augmented with noise ``sigma_aug ~ LogNormal(augment_P_mean, augment_P_std)``). Text
embeddings are dropped (replaced by the null text, zeros) with probability `text_dropout` so that
classifier-free guidance has an unconditional model to contrast with. The loss is the noise
family's weighted denoising loss over the frames the model must generate: EDM's (Karras et al.
2022, Eq. 2 + Table 1; `family="edm"`, Cosmos 1.0) or rectified flow's velocity MSE
(`family="flow"`, Cosmos Predict 2 / 2.5; see `flow.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from worldsmith.config import check
from worldsmith.diffusion.conditioning import frame_indicator, residual_factor, video2world_denoise
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.flow import FlowConfig
from worldsmith.errors import WorldsmithError


@dataclass(frozen=True, kw_only=True)
class ObjectiveConfig:
    family: Literal["edm", "flow"] = "edm"  # which noise family trains (and then samples) the model
    edm: EDMConfig = field(default_factory=EDMConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    max_cond_frames: int = 2  # Video2World samples get min_cond_frames..max_cond_frames given latent frames
    # Not in Cosmos: > 1 trains only predictions from that many given frames, e.g. 2 for a future
    # always predicted from 2 given latents (one latent frame alone shows no motion)
    min_cond_frames: int = 1
    p_text2world: float = 0.25  # fraction of samples with no given frame
    text_dropout: float = 0.1  # fraction of samples trained with the null text (for guidance)
    augment_P_mean: float = -3.0  # ln(sigma_aug) ~ N(mean, std^2) for the given frames
    augment_P_std: float = 2.0
    # Not in Cosmos: loss weight per latent channel (empty: uniform), e.g. how much each channel
    # moves the decoded pixels (`recipes.decoder_channel_weights`): a tokenizer whose decoder ignores
    # some channels would otherwise spend the DiT on changes no one sees.
    channel_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check(self.max_cond_frames >= 0, "max_cond_frames", self.max_cond_frames, "must be >= 0")
        check(
            1 <= self.min_cond_frames <= max(1, self.max_cond_frames),
            "min_cond_frames",
            self.min_cond_frames,
            f"must be in 1..max_cond_frames ({self.max_cond_frames})",
        )
        check(0 <= self.p_text2world <= 1, "p_text2world", self.p_text2world, "must be in [0, 1]")
        check(0 <= self.text_dropout <= 1, "text_dropout", self.text_dropout, "must be in [0, 1]")
        w = self.channel_weights
        check(
            all(v >= 0 for v in w) and (not w or max(w) > 0), "channel_weights", w, "must be >= 0, not all 0"
        )

    @property
    def noise(self) -> EDMConfig | FlowConfig:
        """The config of the chosen noise family."""
        return self.flow if self.family == "flow" else self.edm


def null_text(B: int, dim: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The unconditional text: one zero token. Zero keys and values give a zero cross-attention output."""
    return torch.zeros(B, 1, dim, device=device), torch.ones(B, 1, dtype=torch.bool, device=device)


def batch_text(batch: dict[str, Any], B: int, dim: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(text [B, S, dim], mask [B, S])`` from a batch, or the null text when it has none."""
    if batch.get("text") is None:
        return null_text(B, dim, device)
    text = batch["text"].to(device)
    if text.ndim != 3 or text.shape[0] != B or text.shape[2] != dim:
        raise WorldsmithError(f"batch 'text' must be [B={B}, S, {dim}] embeddings, got {tuple(text.shape)}")
    mask = batch.get("text_mask")
    mask = (
        torch.ones(text.shape[:2], dtype=torch.bool, device=device)
        if mask is None
        else mask.to(device).bool()
    )
    return text, mask


class DiffusionObjective:
    """Callable ``(model, batch) -> (loss, metrics)``; `batch` is a dict with ``latents [B, C, T, H, W]``
    (already normalised to std ~ sigma_data) and optionally ``text [B, S, D]`` + ``text_mask [B, S]``."""

    def __init__(self, cfg: ObjectiveConfig | None = None, *, generator: torch.Generator | None = None):
        self.cfg = cfg or ObjectiveConfig()
        self.generator = generator

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, g = self.cfg, self.generator
        y = batch["latents"] if isinstance(batch, dict) else batch
        B, _, T, _, _ = y.shape
        dev = y.device
        text, text_mask = batch_text(batch if isinstance(batch, dict) else {}, B, model.cfg.text_in_dim, dev)
        if cfg.text_dropout > 0:
            drop = (torch.rand(B, generator=g) < cfg.text_dropout).to(dev)
            text = torch.where(drop[:, None, None], torch.zeros_like(text), text)
            text_mask = text_mask | drop[:, None]

        k = min(cfg.max_cond_frames, T - 1)
        n_cond = torch.zeros(B, dtype=torch.long)
        if k > 0:
            v2w = torch.rand(B, generator=g) >= cfg.p_text2world
            low = min(cfg.min_cond_frames, k)
            n_cond = torch.where(v2w, torch.randint(low, k + 1, (B,), generator=g), n_cond)
        n_cond = n_cond.to(dev)
        aug = (cfg.augment_P_mean + cfg.augment_P_std * torch.randn(B, generator=g)).exp().to(dev)
        k = residual_factor(getattr(model, "cfg", None), n_cond, B, dev)  # [B]; 1 without a residual scale
        sigma = cfg.noise.sample_sigma(B, generator=g).to(dev) / k  # k sigma: the family's distribution

        s = sigma.view(B, 1, 1, 1, 1)
        x = y + s * torch.randn(y.shape, generator=g).to(dev)
        extra = self.condition(batch if isinstance(batch, dict) else {}, B, dev)
        D_x = video2world_denoise(
            model, x, sigma, cfg=cfg.noise, cond_latents=y, n_cond=n_cond, augment_sigma=aug, generator=g,
            text=text, text_mask=text_mask, **extra,
        )  # fmt: skip
        given = frame_indicator(n_cond, B, T, dev)
        weight = (1 - given).expand_as(y)  # loss on the frames the model generates
        region = self.region_weight(y, n_cond)
        if region is not None:
            weight = weight * region
        if cfg.channel_weights:
            if len(cfg.channel_weights) != y.shape[1]:
                raise WorldsmithError(
                    f"objective.channel_weights has {len(cfg.channel_weights)} values for "
                    f"{y.shape[1]} latent channels; give one per channel (or none)"
                )
            weight = weight * torch.tensor(cfg.channel_weights, device=dev).view(1, -1, 1, 1, 1)
        k = k.view(B, 1, 1, 1, 1)
        err = cfg.noise.loss_weight(k * s) * (k * (D_x - y)) ** 2  # the scaled residual's loss
        loss = (err * weight).sum() / weight.sum().clamp_min(1.0)
        return loss, {"n_cond_mean": n_cond.float().mean().item(), "sigma_median": sigma.median().item()}

    def region_weight(self, y: torch.Tensor, n_cond: torch.Tensor) -> torch.Tensor | None:
        """Per-element loss weights broadcastable to ``y [B, C, T, H, W]`` (None: uniform). Post-training
        objectives weight the regions that their condition moves."""
        return None

    def condition(self, batch: dict[str, Any], B: int, device) -> dict[str, Any]:
        """Extra network inputs read from the batch: none here. Post-training objectives
        (`worldsmith.posttrain`) return theirs (actions, cameras, ...), dropped for guidance."""
        return {}
