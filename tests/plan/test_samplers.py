"""CEM and MPPI against their update formulas and on a quadratic cost whose optimum is known."""

from __future__ import annotations

import pytest
import torch

from worldsmith.errors import WorldsmithError
from worldsmith.plan.samplers import cem, mppi, mppi_weights

TARGET = torch.tensor([[0.3, -0.2], [0.1, 0.25], [-0.35, 0.0]], dtype=torch.float64)  # [H, A]


def quadratic(a: torch.Tensor) -> torch.Tensor:
    return ((a - TARGET) ** 2).flatten(1).sum(1)  # [N]


@pytest.mark.parametrize("search", ["cem", "mppi"])
def test_finds_the_minimum_of_a_quadratic(search):
    mean, std = torch.zeros_like(TARGET), torch.full_like(TARGET, 0.5)
    g = torch.Generator().manual_seed(0)
    if search == "cem":
        found = cem(quadratic, mean, std, iters=12, samples=64, elites=8, generator=g)
    else:
        found = mppi(quadratic, mean, torch.full_like(TARGET, 0.1), iters=30, samples=64, temperature=0.01,
                     generator=g)  # fmt: skip
    torch.testing.assert_close(found.mean, TARGET, atol=0.03, rtol=0)
    assert found.best_cost <= quadratic(found.mean[None])[0] + 0.01
    assert found.evaluations == 64 * (12 if search == "cem" else 30)


def test_one_cem_iteration_is_the_elite_mean_and_std():
    mean, std = torch.zeros_like(TARGET), torch.ones_like(TARGET)
    found = cem(
        quadratic, mean, std, iters=1, samples=16, elites=4, generator=torch.Generator().manual_seed(1)
    )
    a = torch.randn((16, 3, 2), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a[0] = mean  # the first sample is the mean itself
    elite = a[torch.argsort(quadratic(a))[:4]]
    torch.testing.assert_close(found.mean, elite.mean(0))
    torch.testing.assert_close(found.best, elite[0])


def test_one_mppi_iteration_is_the_softmin_weighted_mean():
    mean, std = torch.zeros_like(TARGET), torch.ones_like(TARGET)
    found = mppi(quadratic, mean, std, iters=1, samples=16, temperature=0.5,
                 generator=torch.Generator().manual_seed(2))  # fmt: skip
    a = torch.randn((16, 3, 2), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a[0] = mean
    c = quadratic(a)
    w = torch.exp(-c / 0.5) / torch.exp(-c / 0.5).sum()
    torch.testing.assert_close(found.mean, (w[:, None, None] * a).sum(0))
    # the shift by min(c) only guards against underflow: the weights are unchanged, and stay finite
    torch.testing.assert_close(mppi_weights(c + 1e4, 0.5), w)
    assert torch.isfinite(mppi_weights(torch.tensor([1e6, float("inf"), 1e6 + 1]), 1e-3)).all()


def test_the_start_is_never_lost():
    """A mean that is already optimal stays the best found, however few the samples."""
    found = cem(quadratic, TARGET.clone(), torch.ones_like(TARGET), iters=2, samples=3, elites=1,
                generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert found.best_cost == 0.0 and torch.equal(found.best, TARGET)


def test_bounds_and_bad_arguments():
    g = torch.Generator().manual_seed(0)
    far = lambda a: ((a - 5.0) ** 2).flatten(1).sum(1)  # noqa: E731 - optimum outside the bounds
    found = cem(far, torch.zeros(2, 2), torch.ones(2, 2), iters=5, samples=32, elites=4, generator=g,
                lower=-0.4, upper=0.4)  # fmt: skip
    assert found.mean.max() <= 0.4 + 1e-9 and found.mean.min() > 0.3
    with pytest.raises(WorldsmithError, match="elites"):
        cem(far, torch.zeros(2, 2), torch.ones(2, 2), elites=100, samples=8)
    with pytest.raises(WorldsmithError, match=r"\[H, A\]"):
        mppi(far, torch.zeros(2), torch.ones(2))
    with pytest.raises(WorldsmithError, match="costs for"):
        cem(lambda a: torch.zeros(3), torch.zeros(2, 2), torch.ones(2, 2), samples=8, elites=2)
