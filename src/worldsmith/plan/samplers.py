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
Bound = float | torch.Tensor | None  # per-element action bounds (clamped)


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


def _search(cost_fn: CostFn, mean, std, iters, samples, generator, lower, upper, update) -> Search:
    """The loop both share: sample, score, `update(a, c, mean, std) -> (mean, std)`, keep the best."""
    _check(mean, std, iters, samples)
    mean, std = mean.clone(), std.clone()
    best, best_cost, history = mean.clone(), float("inf"), []
    for _ in range(iters):
        a = _sample(mean, std, samples, generator, lower, upper)  # [N, H, A]
        c = _costs(cost_fn, a)  # [N]
        mean, std = update(a, c, mean, std)
        i = int(torch.argmin(c))
        if float(c[i]) < best_cost:
            best, best_cost = a[i].clone(), float(c[i])
        history.append(float(c[i]))
    return Search(mean=mean, best=best, best_cost=best_cost, evaluations=iters * samples, costs=history)


def cem(cost_fn: CostFn, mean: torch.Tensor, std: torch.Tensor, *, iters: int = 4, samples: int = 64,
        elites: int = 8, generator: torch.Generator | None = None, lower: Bound = None, upper: Bound = None,
        min_std: float = 1e-3) -> Search:  # fmt: skip
    """The cross-entropy method: sample, keep the `elites` cheapest, refit mean and std to them."""
    if not 1 <= elites <= samples:
        raise WorldsmithError(f"elites must be in 1..samples ({samples}), got {elites}")

    def refit(a, c, mean, std):
        elite = a[torch.argsort(c)[:elites]]  # [E, H, A]
        return elite.mean(0), (elite.std(0, unbiased=False).clamp_min(min_std) if elites > 1 else std)

    return _search(cost_fn, mean, std, iters, samples, generator, lower, upper, refit)


def mppi_weights(costs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``w_i = exp(-(c_i - min c) / lambda) / sum_j exp(-(c_j - min c) / lambda)`` (MPPI's update)."""
    finite = torch.isfinite(costs)
    c = torch.where(finite, costs, costs[finite].max() if finite.any() else torch.zeros(()))
    return torch.softmax(-(c - c.min()) / temperature, dim=0)


def mppi(cost_fn: CostFn, mean: torch.Tensor, std: torch.Tensor, *, iters: int = 4, samples: int = 64,
         temperature: float = 0.05, generator: torch.Generator | None = None, lower: Bound = None,
         upper: Bound = None) -> Search:  # fmt: skip
    """MPPI: sample around the mean (fixed std), move the mean to the cost-weighted average."""
    if temperature <= 0:
        raise WorldsmithError(f"temperature must be positive, got {temperature}")

    def weigh(a, c, mean, std):
        return torch.einsum("n,nha->ha", mppi_weights(c, temperature).to(a.dtype), a), std

    return _search(cost_fn, mean, std, iters, samples, generator, lower, upper, weigh)


SEARCHES = {"cem": cem, "mppi": mppi}
