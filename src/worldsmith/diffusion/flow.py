"""Rectified flow in the parameterisation of Cosmos Predict 2 / 2.5, behind the EDM seam.

Rectified flow (Liu et al. 2022, arXiv 2209.03003; Esser et al. 2024, "Scaling Rectified Flow
Transformers", arXiv 2403.03206) interpolates data and noise on a straight line::

    x_t = (1 - t) x0 + t n,    t in [0, 1];    the network F predicts the velocity v = n - x0.

Cosmos 2.x runs it inside its EDM machinery ("RectifiedFlowScaling"): with ``sigma = t / (1 - t)``
the EDM state ``x = x_t / (1 - t) = x0 + sigma n`` is the usual variance-exploding one, and::

    t = sigma / (1 + sigma);   c_in = 1 - t;   c_skip = 1 - t;   c_out = -t;   c_noise = t

so ``D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) = x_t - t F(x_t, t)``, which is x0 when F = v.
Every sampler in `samplers.py` (written for ``D(x; sigma)``) therefore runs a flow model unchanged;
Euler on this ODE is the flow Euler step ``x_t' = x_t + (t' - t) v`` scaled by ``1 / (1 - t')``
(both are DDIM steps: exact when D is constant).

Training (Cosmos Predict 2.5, SD3 Sec. 3.1 and 5.3.2): ``t = sigmoid(m + s z)`` (logit-normal) or
uniform, then the timestep shift ``t <- shift t / (1 + (shift - 1) t)`` (Cosmos 2.5 trains with 5);
the loss is the velocity MSE ``||F - v||^2``, which is ``lambda ||D - x0||^2`` with
``lambda(sigma) = (1 + sigma)^2 / sigma^2 = 1 / t^2``. ``weighting="reweight"`` multiplies it by
Cosmos' bump ``exp(-2 (t - 1/2)^2)``, shifted to a zero minimum and a unit mean over t.

Sampling (Predict 2.5): Karras sigmas from 200 to 0.01 (rho 7), UniPC, 35 steps; the starting
state is ``x_t = n`` at ``t = t_max``, i.e. ``x = (1 + sigma_max) n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from worldsmith.config import check

# t is kept in [T_EPS, 1 - T_EPS] so that sigma = t / (1 - t) stays finite (diffusers' UniPC does
# the same at t = 1).
T_EPS = 1e-6


@dataclass(frozen=True, kw_only=True)
class FlowConfig:
    """Rectified-flow constants (defaults: Cosmos Predict 2.5 training and sampling)."""

    t_distribution: Literal["logitnormal", "uniform"] = "logitnormal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift: float = 5.0  # training timestep shift (Cosmos 2.5: 5; 1 = none)
    weighting: Literal["uniform", "reweight"] = "uniform"
    sigma_min: float = 0.01  # sampling schedule, in EDM sigma = t / (1 - t)
    sigma_max: float = 200.0
    cond_t: float = 1e-4  # time the given Video2World frames are shown at (clean input)

    name: ClassVar[str] = "flow"
    sigma_data: ClassVar[float] = 1.0  # latents are normalised to unit std

    def __post_init__(self) -> None:
        check(self.logit_std > 0, "logit_std", self.logit_std, "must be positive")
        check(self.shift > 0, "shift", self.shift, "must be positive")
        check(0 < self.sigma_min < self.sigma_max, "sigma_min", self.sigma_min, "must be in (0, sigma_max)")
        check(0 <= self.cond_t < 1, "cond_t", self.cond_t, "must be in [0, 1)")

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(c_skip, c_out, c_in, c_noise)`` at `sigma` (Cosmos RectifiedFlowScaling).

        ``1 - t`` is computed as ``1 / (1 + sigma)``: near t = 1 the subtraction loses every digit."""
        one_minus_t = 1 / (1 + sigma)
        return one_minus_t, -sigma_to_t(sigma), one_minus_t, sigma_to_t(sigma)

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """``(1 + sigma)^2 / sigma^2``: the x0 error weighted so the loss is the velocity MSE."""
        w = ((1 + sigma) / sigma) ** 2
        if self.weighting == "reweight":
            w = w * reweight(sigma_to_t(sigma))
        return w

    def sample_sigma(self, n: int, *, generator=None, device=None) -> torch.Tensor:
        """Training noise levels ``[n]``: t from `t_distribution`, shifted, as EDM sigma."""
        if self.t_distribution == "logitnormal":
            t = torch.sigmoid(self.logit_mean + self.logit_std * torch.randn(n, generator=generator))
        else:
            t = torch.rand(n, generator=generator)
        t = shift_time(t, self.shift).clamp(T_EPS, 1 - T_EPS)
        return t_to_sigma(t).to(device)

    def prior_scale(self, sigma: float) -> float:
        """The starting state ``x_t = n`` at ``t(sigma)`` is ``x = (1 + sigma) n`` in EDM space."""
        return 1 + sigma


def sigma_to_t(sigma: torch.Tensor) -> torch.Tensor:
    """``t = sigma / (1 + sigma)`` (EDM sigma -> flow time)."""
    return sigma / (1 + sigma)


def t_to_sigma(t: torch.Tensor) -> torch.Tensor:
    """``sigma = t / (1 - t)`` (flow time -> EDM sigma)."""
    return t / (1 - t)


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """The timestep shift ``shift t / (1 + (shift - 1) t)`` (SD3 Eq. 23 with alpha = shift)."""
    return shift * t / (1 + (shift - 1) * t)


def reweight(t: torch.Tensor, n: int = 1000) -> torch.Tensor:
    """Cosmos' non-uniform time weight: ``exp(-2 (t - 1/2)^2)`` minus its minimum over [0, 1],
    normalised to mean one on an `n`-point grid, read at the nearest grid point."""
    grid = torch.linspace(0, 1, n)
    bump = torch.exp(-2 * (grid - 0.5) ** 2)
    bump = bump - bump.min()
    bump = bump * (n / bump.sum())
    idx = (t.detach().cpu() * (n - 1)).round().long().clamp(0, n - 1)
    return bump[idx].to(t.device, t.dtype)
