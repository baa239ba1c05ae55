"""Action-sequence optimisers for model-predictive control, as plain functions (the samplers' style).

Both take ``cost_fn(actions [N, H, A]) -> [N]`` and a Gaussian ``(mean, std)`` over sequences
``[H, A]``, sample with the passed `generator`, clip to the action bounds, and return a `Search`:

* `cem`: the cross-entropy method (Rubinstein 1999; as used for visual MPC by PlaNet, Hafner et
  al. 2019, and V-JEPA 2-AC, arXiv 2506.09985 Sec. 4): refit mean and std to the `elites` cheapest
  samples, ``mu <- mean(elites)``, ``sigma <- std(elites)``.
* `mppi`: model-predictive path integral control (Williams et al. 2017, Algorithm 1's update):
  ``w_i = softmax(-(c_i - min c) / lambda)``, ``mu <- sum_i w_i a_i``.

A sampler never reaches into the model: the cost function is the whole interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from worldsmith.errors import WorldsmithError

CostFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Search:
    """What a sampler found: the plan, the best sampled sequence, and how much it cost to find."""

    mean: torch.Tensor  # [H, A] the final distribution's mean (the plan MPC executes)
    best: torch.Tensor  # [H, A] the cheapest sequence sampled
    best_cost: float
    evaluations: int  # sequences scored (rollouts)
    costs: list[float]  # best cost per iteration


def _check(mean: torch.Tensor, std: torch.Tensor, iters: int, samples: int) -> None:
    if mean.ndim != 2 or mean.shape != std.shape:
        raise WorldsmithError(
            f"mean and std must both be [H, A], got {tuple(mean.shape)}, {tuple(std.shape)}"
        )
    if iters < 1 or samples < 2:
        raise WorldsmithError(f"iters must be >= 1 and samples >= 2, got {iters}, {samples}")


def _sample(mean, std, samples, generator, lower, upper) -> torch.Tensor:
    """``samples`` sequences ``mean + std eps``; the first is the mean itself, so an iteration
    (and a warm-started replan) never loses the plan it starts from (iCEM keeps its elites alike)."""
    eps = torch.randn((samples, *mean.shape), generator=generator, dtype=mean.dtype)  # [N, H, A]
    eps[0] = 0
    a = mean + std * eps
    if lower is not None or upper is not None:
        a = a.clamp(lower, upper)
    return a


def _costs(cost_fn: CostFn, actions: torch.Tensor) -> torch.Tensor:
    c = torch.as_tensor(cost_fn(actions), dtype=torch.float64).reshape(-1)  # [N]
    if c.shape[0] != actions.shape[0]:
        raise WorldsmithError(f"cost_fn returned {c.shape[0]} costs for {actions.shape[0]} sequences")
    return torch.nan_to_num(c, nan=float("inf"))


def cem(
    cost_fn: CostFn,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    iters: int = 4,
    samples: int = 64,
    elites: int = 8,
    generator: torch.Generator | None = None,
    lower: float | torch.Tensor | None = None,
    upper: float | torch.Tensor | None = None,
    min_std: float = 1e-3,
) -> Search:
    """The cross-entropy method: sample, keep the `elites` cheapest, refit mean and std to them."""
    _check(mean, std, iters, samples)
    if not 1 <= elites <= samples:
        raise WorldsmithError(f"elites must be in 1..samples ({samples}), got {elites}")
    mean, std = mean.clone(), std.clone()
    best, best_cost, history = mean.clone(), float("inf"), []
    for _ in range(iters):
        a = _sample(mean, std, samples, generator, lower, upper)  # [N, H, A]
        c = _costs(cost_fn, a)
        idx = torch.argsort(c)[:elites]
        elite = a[idx]  # [E, H, A]
        mean = elite.mean(0)
        std = elite.std(0, unbiased=False).clamp_min(min_std) if elites > 1 else std
        if float(c[idx[0]]) < best_cost:
            best, best_cost = a[idx[0]].clone(), float(c[idx[0]])
        history.append(float(c[idx[0]]))
    return Search(mean=mean, best=best, best_cost=best_cost, evaluations=iters * samples, costs=history)


def mppi_weights(costs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``w_i = exp(-(c_i - min c) / lambda) / sum_j exp(-(c_j - min c) / lambda)`` (MPPI's update)."""
    finite = torch.isfinite(costs)
    c = torch.where(finite, costs, costs[finite].max() if finite.any() else torch.zeros(()))
    return torch.softmax(-(c - c.min()) / temperature, dim=0)


def mppi(
    cost_fn: CostFn,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    iters: int = 4,
    samples: int = 64,
    temperature: float = 0.05,
    generator: torch.Generator | None = None,
    lower: float | torch.Tensor | None = None,
    upper: float | torch.Tensor | None = None,
) -> Search:
    """MPPI: sample around the mean (fixed std), move the mean to the cost-weighted average."""
    _check(mean, std, iters, samples)
    if temperature <= 0:
        raise WorldsmithError(f"temperature must be positive, got {temperature}")
    mean = mean.clone()
    best, best_cost, history = mean.clone(), float("inf"), []
    for _ in range(iters):
        a = _sample(mean, std, samples, generator, lower, upper)  # [N, H, A]
        c = _costs(cost_fn, a)
        w = mppi_weights(c, temperature).to(a.dtype)  # [N]
        mean = torch.einsum("n,nha->ha", w, a)
        i = int(torch.argmin(c))
        if float(c[i]) < best_cost:
            best, best_cost = a[i].clone(), float(c[i])
        history.append(float(c[i]))
    return Search(mean=mean, best=best, best_cost=best_cost, evaluations=iters * samples, costs=history)


SEARCHES = {"cem": cem, "mppi": mppi}
