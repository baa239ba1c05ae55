"""EDM: preconditioning, training noise levels and loss (Karras et al. 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", arXiv 2206.00364).

The network ``F`` never sees raw noisy data. The denoiser is (EDM Eq. 7, Table 1)::

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x; c_noise(sigma))

    c_skip  = sigma_data^2 / (sigma^2 + sigma_data^2)
    c_out   = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)
    c_in    = 1 / sqrt(sigma^2 + sigma_data^2)
    c_noise = ln(sigma) / 4

Training draws ``ln(sigma) ~ N(P_mean, P_std^2)`` and minimises the weighted denoising score matching
loss ``lambda(sigma) ||D(y + sigma n; sigma) - y||^2`` with ``lambda = (sigma^2 + sigma_data^2) /
(sigma sigma_data)^2`` (EDM Eq. 8 and Table 1), which makes the effective target of ``F`` unit-variance.
Cosmos (arXiv 2501.03575, Sec. 5.1) uses these with sigma_data = 0.5 on tokenizer latents.

`EDMConfig` is one of two noise families behind the one ``Denoiser(x, sigma)`` seam; the other is
rectified flow (`flow.FlowConfig`, Cosmos Predict 2 / 2.5). Both give ``scalings(sigma)``,
``loss_weight(sigma)``, ``sample_sigma(n)`` and ``prior_scale(sigma)``; `EDMDenoiser` and
`denoising_loss` only call those, so they serve either family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from worldsmith.config import check

# F(x_in, c_noise, **cond) -> F_x: the raw network, e.g. `worldsmith.diffusion.dit.DiT`.
Network = Callable[..., torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class EDMConfig:
    """EDM constants as Cosmos-1.0 uses them (sigma_min/max for sampling, P_* for training)."""

    sigma_data: float = 0.5
    P_mean: float = 0.0
    P_std: float = 1.0
    sigma_min: float = 0.0002
    sigma_max: float = 80.0

    name: ClassVar[str] = "edm"

    def __post_init__(self) -> None:
        check(self.sigma_data > 0, "sigma_data", self.sigma_data, "must be positive")
        check(self.P_std > 0, "P_std", self.P_std, "must be positive")
        check(0 < self.sigma_min < self.sigma_max, "sigma_min", self.sigma_min, "must be in (0, sigma_max)")

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(c_skip, c_out, c_in, c_noise)`` at `sigma` (EDM Table 1)."""
        sd = self.sigma_data
        return c_skip(sigma, sd), c_out(sigma, sd), c_in(sigma, sd), c_noise(sigma)

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return loss_weight(sigma, self.sigma_data)

    def sample_sigma(self, n: int, *, generator=None, device=None) -> torch.Tensor:
        return sample_training_sigma(n, self, generator=generator, device=device)

    def prior_scale(self, sigma: float) -> float:
        """Scale of the starting noise at `sigma` (EDM Algorithm 1: ``x_0 ~ N(0, sigma_max^2)``)."""
        return sigma


def _as_tensor(sigma: torch.Tensor | float, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(sigma, torch.Tensor):
        return sigma.float()
    return torch.tensor(float(sigma), device=None if like is None else like.device)


def c_skip(sigma: torch.Tensor | float, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM Table 1: ``sigma_data^2 / (sigma^2 + sigma_data^2)``."""
    s = _as_tensor(sigma)
    return sigma_data**2 / (s**2 + sigma_data**2)


def c_out(sigma: torch.Tensor | float, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM Table 1: ``sigma sigma_data / sqrt(sigma^2 + sigma_data^2)``."""
    s = _as_tensor(sigma)
    return s * sigma_data / (s**2 + sigma_data**2).sqrt()


def c_in(sigma: torch.Tensor | float, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM Table 1: ``1 / sqrt(sigma^2 + sigma_data^2)``."""
    s = _as_tensor(sigma)
    return (s**2 + sigma_data**2).rsqrt()


def c_noise(sigma: torch.Tensor | float) -> torch.Tensor:
    """EDM Table 1: ``ln(sigma) / 4``."""
    return _as_tensor(sigma).log() / 4


def loss_weight(sigma: torch.Tensor | float, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM Table 1: ``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2``."""
    s = _as_tensor(sigma)
    return (s**2 + sigma_data**2) / (s * sigma_data) ** 2


def sample_training_sigma(
    n: int, cfg: EDMConfig, *, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """``sigma = exp(P_mean + P_std * N(0, 1))``, shape ``[n]`` (EDM Table 1, "Noise distribution")."""
    z = torch.randn(n, generator=generator, device=device)
    return (cfg.P_mean + cfg.P_std * z).exp()


def _expand(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample sigma ``[B]`` (or a scalar) broadcast against ``x [B, ...]``."""
    sigma = sigma.to(x.device, torch.float32)
    if sigma.ndim == 0:
        return sigma.expand(x.shape[0]).reshape(-1, *([1] * (x.ndim - 1)))
    return sigma.reshape(-1, *([1] * (x.ndim - 1)))


class EDMDenoiser(torch.nn.Module):
    """``D(x, sigma, **cond) = c_skip x + c_out F(c_in x, c_noise, **cond)`` around a network F.

    Follows the `Denoiser(x, sigma, cond) -> D(x)` seam; samplers call it with sigma ``[B]``. `cfg`
    picks the family: `EDMConfig` (default) or `flow.FlowConfig` (then F predicts a velocity).
    """

    def __init__(self, net: torch.nn.Module, cfg=None):
        super().__init__()
        self.net = net
        self.cfg = cfg or EDMConfig()

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, **cond) -> torch.Tensor:
        sigma = _as_tensor(sigma, x)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        skip, out, inp, _ = self.cfg.scalings(_expand(sigma, x))  # [B, 1, ...]
        F_x = self.net((inp * x).to(x.dtype), self.cfg.scalings(sigma)[3], **cond)
        return skip * x + out * F_x.float()


def denoising_loss(
    denoiser: Callable[..., torch.Tensor],
    y: torch.Tensor,
    cfg,
    *,
    generator: torch.Generator | None = None,
    sigma: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    **cond,
) -> torch.Tensor:
    """Weighted denoising score matching loss (EDM Eq. 2 with lambda of Table 1), a scalar.

    Args:
        denoiser: ``D(x, sigma, **cond)``.
        cfg: the noise family (`EDMConfig` or `flow.FlowConfig`): sigma distribution and weight.
        y: clean data ``[B, ...]``.
        sigma: per-sample noise levels ``[B]``; drawn log-normally when omitted.
        mask: optional weights broadcastable to `y` (1 = counts); the loss is averaged over them.
    """
    if sigma is None:
        sigma = cfg.sample_sigma(y.shape[0], generator=generator, device=y.device)
    n = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
    s = _expand(sigma, y)
    D_x = denoiser(y + s * n, sigma, **cond)
    err = cfg.loss_weight(s) * (D_x - y) ** 2
    if mask is None:
        return err.mean()
    mask = mask.expand_as(err).to(err.dtype)
    return (err * mask).sum() / mask.sum().clamp_min(1.0)
