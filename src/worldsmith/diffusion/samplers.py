"""Samplers for the probability-flow ODE ``dx/dsigma = (x - D(x; sigma)) / sigma`` (EDM, Karras et al.
2022, arXiv 2206.00364, Eq. 4 with sigma(t) = t) and classifier-free guidance.

Every sampler is a plain function with one signature (k-diffusion's shape)::

    sample(denoiser, x, sigmas, *, generator=None, callback=None) -> x_0

`denoiser(x, sigma)` is ``D(x; sigma)`` with sigma ``[B]`` and any conditioning already bound;
`x` is the starting noise already scaled by ``sigmas[0]``; `sigmas` is decreasing and ends at 0
(see `karras_sigmas`). `callback(i, x, denoised)` sees each step. A sampler never reaches into the model.

Model evaluations for N steps: Euler N, DPM-Solver++(2M) N, Heun 2N - 1 (its last step to sigma = 0
is an Euler step, EDM Algorithm 2 line 9).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor], None] | None


def karras_sigmas(
    n: int, sigma_min: float = 0.0002, sigma_max: float = 80.0, rho: float = 7.0, device=None
) -> torch.Tensor:
    """EDM Eq. 5: ``sigma_i = (s_max^(1/rho) + i/(n-1) (s_min^(1/rho) - s_max^(1/rho)))^rho``, then 0.

    Returns ``[n + 1]`` float32 sigmas: n decreasing noise levels from sigma_max to sigma_min, and 0.
    """
    if n < 1:
        raise ValueError(f"karras_sigmas needs at least one step, got n={n}")
    ramp = torch.linspace(0, 1, n, device=device, dtype=torch.float64) if n > 1 else torch.zeros(1)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


def _sig(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.to(x.device, torch.float32).expand(x.shape[0])


@torch.no_grad()
def sample_euler(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback = None,
) -> torch.Tensor:
    """Euler steps on the ODE: ``x <- x + (sigma_next - sigma) (x - D(x; sigma)) / sigma``."""
    for i in range(len(sigmas) - 1):
        denoised = denoiser(x, _sig(sigmas[i], x))
        d = (x - denoised) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
        if callback is not None:
            callback(i, x, denoised)
    return x


@torch.no_grad()
def sample_heun(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """EDM Algorithm 2: Heun's 2nd-order method, with optional stochastic churn.

    With ``s_churn > 0`` each step first raises the noise level to ``sigma_hat = sigma (1 + gamma)``,
    ``gamma = min(s_churn / N, sqrt(2) - 1)`` for sigma in ``[s_tmin, s_tmax]`` (lines 4-6).
    """
    n = len(sigmas) - 1
    for i in range(n):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= float(sigma) <= s_tmax else 0.0
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * s_noise
            x = x + eps * (sigma_hat**2 - sigma**2).sqrt()
        denoised = denoiser(x, _sig(sigma_hat, x))
        d = (x - denoised) / sigma_hat  # line 7
        x_next = x + (sigma_next - sigma_hat) * d  # line 8
        if sigma_next > 0:  # lines 9-11: second-order correction
            d_next = (x_next - denoiser(x_next, _sig(sigma_next, x))) / sigma_next
            x_next = x + (sigma_next - sigma_hat) * (d + d_next) / 2
        x = x_next
        if callback is not None:
            callback(i, x, denoised)
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Algorithm 2) in sigma form.

    With ``t = -ln(sigma)`` and ``h = t_next - t``, the multistep update is
    ``x <- (sigma_next / sigma) x - (e^{-h} - 1) D'``, where ``D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1}``
    and ``r = h_{i-1} / h_i``; the first step (and the last, to sigma = 0) uses ``D' = D_i``.
    """
    old_denoised, h_last = None, None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, _sig(sigma, x))
        if sigma_next == 0:
            x = denoised
        else:
            h = (-sigma_next.log()) - (-sigma.log())
            if old_denoised is None:
                d_prime = denoised
            else:
                r = h_last / h
                d_prime = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_next / sigma) * x - torch.expm1(-h) * d_prime
            h_last = h
        old_denoised = denoised
        if callback is not None:
            callback(i, x, denoised)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
}


def model_evals(sampler: str, steps: int) -> int:
    """Number of denoiser calls a sampler makes for `steps` steps ending at sigma = 0."""
    return 2 * steps - 1 if sampler == "heun" else steps


def guided(cond: Denoiser, uncond: Denoiser, scale: float) -> Denoiser:
    """Classifier-free guidance (Ho & Salimans 2022, arXiv 2207.12598, Eq. 6 in D-space):
    ``D = D_uncond + scale (D_cond - D_uncond)``; scale 1 is the conditional model alone.

    Cosmos writes ``D_cond + w (D_cond - D_uncond)``: its default w = 7 is scale = 8 here.
    """
    if scale == 1.0:
        return cond

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        d_u = uncond(x, sigma)
        d_c = cond(x, sigma)
        return d_u + scale * (d_c - d_u)

    return denoise
