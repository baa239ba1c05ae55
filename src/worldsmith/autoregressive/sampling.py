"""Choosing the next token from logits: greedy, temperature, top-k and nucleus (top-p) sampling.

* temperature ``tau``: ``p_i = softmax(z / tau)_i`` (``tau = 0`` means greedy, ``argmax z``);
* top-k (Fan et al. 2018): keep the k largest logits;
* top-p / nucleus (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration", Sec. 3.1):
  keep the smallest set of most likely tokens whose probability sums to at least p.

Cosmos' AR sampling default is top-p 0.8 at temperature 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldsmith.config import check


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 0.8  # 1 = off

    def __post_init__(self) -> None:
        check(self.temperature >= 0, "temperature", self.temperature, "must be >= 0 (0 = greedy)")
        check(self.top_k >= 0, "top_k", self.top_k, "must be >= 0 (0 = off)")
        check(0 < self.top_p <= 1, "top_p", self.top_p, "must lie in (0, 1] (1 = off)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


GREEDY = SamplingConfig(temperature=0.0, top_p=1.0)


def filtered_probs(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """The distribution actually sampled: temperature, then top-k, then top-p (``[..., V]``)."""
    if cfg.greedy:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(torch.float32)
    z = logits.float() / cfg.temperature
    if cfg.top_k and cfg.top_k < z.shape[-1]:
        kth = z.topk(cfg.top_k, dim=-1).values[..., -1:]  # [..., 1]
        z = z.masked_fill(z < kth, float("-inf"))
    probs = z.softmax(-1)
    if cfg.top_p < 1:
        sorted_p, order = probs.sort(-1, descending=True)
        # Drop a token when the tokens strictly more likely already reach top_p (the first one stays).
        drop_sorted = sorted_p.cumsum(-1) - sorted_p >= cfg.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def sample(
    logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One token per row: logits ``[B, V]`` -> indices ``[B]``."""
    if cfg.greedy:
        return logits.argmax(-1)
    probs = filtered_probs(logits, cfg)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
