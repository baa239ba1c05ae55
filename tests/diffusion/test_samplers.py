"""Samplers: single steps by hand, exact ODE solutions for Gaussian data, guidance arithmetic."""

from __future__ import annotations

import math

import pytest
import torch

from worldsmith.diffusion import samplers
from worldsmith.diffusion.samplers import SAMPLERS, guided, karras_sigmas, sample_euler, sample_heun

MU, S = 0.7, 0.3  # data ~ N(MU, S^2) in every coordinate


def gaussian_denoiser(x, sigma):
    """The exact E[y | y + sigma n = x] for y ~ N(MU, S^2): MU + S^2 / (S^2 + sigma^2) (x - MU)."""
    s2 = sigma.view(-1, *([1] * (x.ndim - 1))) ** 2
    return MU + S**2 / (S**2 + s2) * (x - MU)


def exact_ode(x_T, sigma_T):
    """The probability-flow ODE for Gaussian data is linear: x(0) = MU + (x_T - MU) S / sqrt(S^2 + sT^2)."""
    return MU + (x_T - MU) * S / math.sqrt(S**2 + sigma_T**2)


def test_karras_schedule_endpoints_and_formula():
    s = karras_sigmas(5, 0.002, 80.0, 7.0)
    assert s.shape == (6,)
    assert s[0].item() == pytest.approx(80.0, rel=1e-5)
    assert s[4].item() == pytest.approx(0.002, rel=1e-4)
    assert s[5].item() == 0.0
    mid = (80 ** (1 / 7) + 0.5 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    assert s[2].item() == pytest.approx(mid, rel=1e-5)
    assert torch.all(s[:-1] > s[1:])


def test_one_euler_step_by_hand():
    # D(x) = x / 2: d = (x - x/2) / sigma; from x = 4 at sigma 2 to sigma 1: 4 + (1 - 2) * 1 = 3.
    x = torch.tensor([[4.0]])
    out = sample_euler(lambda x, s: x / 2, x, torch.tensor([2.0, 1.0]))
    assert out.item() == pytest.approx(3.0)


def test_one_heun_step_by_hand():
    # D(x) = x / 2. Euler predictor: x' = 3 (as above). At sigma 1: d' = (3 - 1.5) / 1 = 1.5.
    # Corrector: x = 4 + (1 - 2) * (1 + 1.5) / 2 = 2.75.
    x = torch.tensor([[4.0]])
    out = sample_heun(lambda x, s: x / 2, x, torch.tensor([2.0, 1.0]))
    assert out.item() == pytest.approx(2.75)
    # The last step to sigma = 0 is plain Euler (EDM Algorithm 2, line 9): x -> D(x).
    assert sample_heun(lambda x, s: x / 2, x, torch.tensor([2.0, 0.0])).item() == pytest.approx(2.0)


def test_dpmpp_2m_two_steps_by_hand():
    # D(x) = c (constant). Step 1 (first order): x1 = (s1/s0) x0 - expm1(-h0) c = (s1/s0) x0 + (1 - s1/s0) c.
    # Step 2 uses D' = (1 + 1/2r) c - (1/2r) c = c, so x2 = (s2/s1) x1 + (1 - s2/s1) c.
    c, x0 = 0.25, torch.tensor([[3.0]])
    sig = torch.tensor([4.0, 2.0, 0.5])
    out = samplers.sample_dpmpp_2m(lambda x, s: torch.full_like(x, c), x0, sig)
    x1 = 0.5 * 3.0 + 0.5 * c
    assert out.item() == pytest.approx(0.25 * x1 + 0.75 * c, rel=1e-6)
    # With a changing denoiser the 2nd-order term matters: D_0 = 1, D_1 = 2.
    calls = iter([1.0, 2.0])
    out = samplers.sample_dpmpp_2m(lambda x, s: torch.full_like(x, next(calls)), x0, sig)
    h0, h1 = math.log(2.0), math.log(4.0)
    r = h0 / h1
    d_prime = (1 + 1 / (2 * r)) * 2.0 - 1 / (2 * r) * 1.0
    x1 = 0.5 * 3.0 + 0.5 * 1.0
    assert out.item() == pytest.approx(0.25 * x1 - math.expm1(-h1) * d_prime, rel=1e-6)


@pytest.mark.parametrize(("name", "order"), [("euler", 1), ("heun", 2), ("dpmpp_2m", 2)])
def test_sampler_converges_to_exact_ode_at_its_order(name, order):
    x_T = torch.randn(2000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 80.0
    exact = exact_ode(x_T, 80.0)
    err = [
        (SAMPLERS[name](gaussian_denoiser, x_T, karras_sigmas(n, 0.002, 80.0).double()) - exact).abs().max()
        for n in (32, 64, 128)
    ]
    assert err[2] < 0.03
    for coarse, fine in zip(err, err[1:], strict=False):  # halving the step divides the error by 2^order
        assert (coarse / fine).item() == pytest.approx(2**order, rel=0.15)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_sampler_recovers_target_mean_and_variance(name):
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(20_000, 1, generator=g) * 80.0
    out = SAMPLERS[name](gaussian_denoiser, x_T, karras_sigmas(128, 0.002, 80.0), generator=g)
    assert out.mean().item() == pytest.approx(MU, abs=0.01)
    assert out.std().item() == pytest.approx(S, abs=0.01)


def test_higher_order_samplers_beat_euler_at_equal_steps():
    sigmas = karras_sigmas(10, 0.002, 80.0)
    x_T = torch.randn(1000, 1, generator=torch.Generator().manual_seed(1)) * 80.0
    exact = exact_ode(x_T, 80.0)
    err = {n: (SAMPLERS[n](gaussian_denoiser, x_T, sigmas) - exact).abs().mean().item() for n in SAMPLERS}
    assert err["heun"] < err["euler"] and err["dpmpp_2m"] < err["euler"]


def test_heun_churn_adds_noise_and_still_samples_the_distribution():
    sigmas = karras_sigmas(64, 0.002, 80.0)
    g = torch.Generator().manual_seed(2)
    x_T = torch.randn(20_000, 1, generator=g) * 80.0
    out = sample_heun(gaussian_denoiser, x_T, sigmas, generator=g, s_churn=10.0, s_tmin=0.05, s_tmax=50)
    assert not torch.allclose(out, exact_ode(x_T, 80.0), atol=1e-3)  # stochastic, not the ODE path
    assert out.mean().item() == pytest.approx(MU, abs=0.01)
    assert out.std().item() == pytest.approx(S, abs=0.01)


def test_callback_sees_every_step_and_model_evals():
    seen = []
    count = {"n": 0}

    def den(x, s):
        count["n"] += 1
        return gaussian_denoiser(x, s)

    for name in SAMPLERS:
        seen.clear()
        count["n"] = 0
        SAMPLERS[name](den, torch.ones(2, 1) * 80, karras_sigmas(7), callback=lambda i, x, d: seen.append(i))
        assert seen == list(range(7))
        assert count["n"] == samplers.model_evals(name, 7)


def test_classifier_free_guidance_arithmetic():
    cond = lambda x, s: torch.full_like(x, 3.0)  # noqa: E731
    uncond = lambda x, s: torch.full_like(x, 1.0)  # noqa: E731
    x, s = torch.zeros(2, 3), torch.ones(2)
    assert guided(cond, uncond, 1.0) is cond
    torch.testing.assert_close(guided(cond, uncond, 0.0)(x, s), torch.full_like(x, 1.0))
    torch.testing.assert_close(guided(cond, uncond, 8.0)(x, s), torch.full_like(x, 1.0 + 8.0 * 2.0))
    # Cosmos' w = 7 (D_c + w (D_c - D_u)) is scale 8 here.
    torch.testing.assert_close(guided(cond, uncond, 8.0)(x, s), 3.0 + 7.0 * (torch.full_like(x, 3.0) - 1.0))
