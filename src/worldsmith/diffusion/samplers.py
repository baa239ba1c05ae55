"""Samplers for the probability-flow ODE ``dx/dsigma = (x - D(x; sigma)) / sigma`` (EDM, Karras et al.
2022, arXiv 2206.00364, Eq. 4 with sigma(t) = t) and classifier-free guidance.

They serve both noise families: a rectified-flow model (`flow.py`) is the same ODE in EDM coordinates
(``x = x_t / (1 - t)``, ``sigma = t / (1 - t)``), so Cosmos 2.x flow models run through every sampler
here. `sample_flow_euler` takes its steps in flow coordinates (numerically safe near t = 1) and
`sample_unipc` is UniPC, Predict 2.5's sampler.

Every sampler is a plain function with one signature (k-diffusion's shape)::

    sample(denoiser, x, sigmas, *, generator=None, callback=None) -> x_0

`denoiser(x, sigma)` is ``D(x; sigma)`` with sigma ``[B]`` and any conditioning already bound;
`x` is the starting noise already scaled by ``sigmas[0]``; `sigmas` is decreasing and ends at 0
(see `karras_sigmas`). `callback(i, x, denoised)` sees each step. A sampler never reaches into the model.

Model evaluations for N steps: Euler, flow Euler, DPM-Solver++(2M) and UniPC N, Heun 2N - 1 (its
last step to sigma = 0 is an Euler step, EDM Algorithm 2 line 9).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from worldsmith.diffusion.flow import T_EPS, shift_time, sigma_to_t, t_to_sigma

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


def flow_sigmas(n: int, shift: float = 1.0, t_min: float = 1e-3, device=None) -> torch.Tensor:
    """The flow-matching schedule (diffusers' FlowMatchEulerDiscreteScheduler): ``t`` linear from 1 to
    `t_min` over `n` steps, shifted (`flow.shift_time`), as EDM sigmas ``t / (1 - t)``, then 0.

    t = 1 is an infinite sigma: it is held at ``1 - T_EPS`` (diffusers' UniPC does the same)."""
    if n < 1:
        raise ValueError(f"flow_sigmas needs at least one step, got n={n}")
    t = shift_time(torch.linspace(1.0, t_min, n, dtype=torch.float64), shift).clamp(max=1 - T_EPS)
    return torch.cat([t_to_sigma(t), t.new_zeros(1)]).float().to(device)


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


@torch.no_grad()
def sample_flow_euler(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback = None,
) -> torch.Tensor:
    """Euler in flow coordinates: ``x_t' = x_t + (t' - t) v`` with ``x_t = x / (1 + sigma)`` and
    ``v = (x_t - D) / t`` (rectified flow; diffusers' FlowMatchEulerDiscreteScheduler.step).

    The same ODE and the same update as `sample_euler` in exact arithmetic, but the step does not
    cancel a huge ``x`` against a huge ``(sigma' - sigma) d`` when t is near 1 (sigma ~ 1e6)."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, _sig(sigma, x))
        x_t = x / (1 + sigma)
        dt = (sigma_next - sigma) / ((1 + sigma) * (1 + sigma_next))  # t' - t without cancellation
        x_t = x_t + dt * (x_t - denoised) / sigma_to_t(sigma)  # velocity step
        x = x_t * (1 + sigma_next)
        if callback is not None:
            callback(i, x, denoised)
    return x


def _unipc_update(x, sig, lam, history, order: int, *, model_t=None) -> torch.Tensor:
    """One UniPC B(h) update (Zhao et al. 2023, arXiv 2302.04867, Algorithm 1 predictor / Algorithm 2
    corrector, bh2, data prediction) from ``x`` at ``sig[0]`` to ``sig[1]``.

    `history` holds ``(lambda_j, D_j)`` of the previous evaluations, newest last (``lambda = -ln sigma``);
    the newest is the expansion point ``m0``. With `model_t` (D at the target) it is the corrector UniC.
    """
    lam0, m0 = history[-1]
    h = lam[1] - lam0
    rks = [(history[-(k + 1)][0] - lam0) / h for k in range(1, order)]
    D1s = [(history[-(k + 1)][1] - m0) / r for k, r in zip(range(1, order), rks, strict=True)]
    h_phi_1 = torch.expm1(-h)  # bh2: B(h) = expm1(-h)
    B_h = h_phi_1
    rks_t = torch.stack([*rks, torch.ones_like(h)]) if rks else torch.ones(1, dtype=h.dtype)
    R, b, h_phi_k, fact = [], [], h_phi_1 / -h - 1, 1
    for k in range(1, order + 1):
        R.append(rks_t ** (k - 1))
        b.append(h_phi_k * fact / B_h)
        fact *= k + 1
        h_phi_k = h_phi_k / -h - 1 / fact
    R, b = torch.stack(R), torch.stack(b)
    x_next = sig[1] / sig[0] * x - h_phi_1 * m0
    if model_t is None:  # predictor UniP-p
        if order == 1:
            return x_next
        rhos = torch.full((1,), 0.5, dtype=h.dtype) if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        return x_next - B_h * sum(r * d for r, d in zip(rhos, D1s, strict=True))
    # corrector UniC-p
    rhos = torch.full((1,), 0.5, dtype=h.dtype) if order == 1 else torch.linalg.solve(R, b)
    corr = sum((r * d for r, d in zip(rhos[:-1], D1s, strict=True)), torch.zeros_like(x))
    return x_next - B_h * (corr + rhos[-1] * (model_t - m0))


@torch.no_grad()
def sample_unipc(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback = None,
    order: int = 2,
) -> torch.Tensor:
    """UniPC (Zhao et al. 2023, arXiv 2302.04867): multistep predictor UniP-`order` plus corrector UniC
    after every step, B(h) = e^h - 1 ("bh2"), data prediction, lower orders for the first and last
    steps (diffusers' UniPCMultistepScheduler defaults; Cosmos Predict 2.5 samples with it).

    In EDM coordinates ``alpha = 1``, ``lambda = -ln sigma``; for a flow model this is exactly the
    flow-space UniPC scaled by ``1 / (1 - t)``. One model evaluation per step; the correction of the
    last step would need one more and is skipped, as in diffusers.
    """
    n = len(sigmas) - 1
    lam = -sigmas.double().log()  # lambda = log(alpha / sigma); +inf at sigma = 0
    history: list[tuple[torch.Tensor, torch.Tensor]] = []
    last_x, last_order = None, 1
    for i in range(n):
        denoised = denoiser(x, _sig(sigmas[i], x))
        if last_x is not None:  # UniC: correct x with the model evaluated at it
            x = _unipc_update(last_x, sigmas[i - 1 : i + 1].double(), lam[i - 1 : i + 1], history, last_order,
                              model_t=denoised).to(x.dtype)  # fmt: skip
        history = [*history[-(order - 1) :], (lam[i], denoised)] if order > 1 else [(lam[i], denoised)]
        this_order = min(order, n - i, len(history))  # warm-up and lower_order_final
        last_x, last_order = x, this_order
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x = _unipc_update(x, sigmas[i : i + 2].double(), lam[i : i + 2], history, this_order).to(x.dtype)
        if callback is not None:
            callback(i, x, denoised)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
    "flow_euler": sample_flow_euler,
    "unipc": sample_unipc,
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
