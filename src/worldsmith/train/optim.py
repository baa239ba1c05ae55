"""Optimizer and learning-rate schedule.

AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) with the fused
kernel where the device has one, and linear warmup followed by cosine decay (SGDR, Loshchilov &
Hutter 2017, without restarts). The schedule is a pure function of the step, so a resumed run needs
nothing but the step to continue it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from worldsmith.errors import ConfigError


def lr_at(step: int, *, lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Linear warmup over ``warmup_steps`` from ``lr / warmup_steps`` to ``lr``, then cosine decay
    ``lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2`` with ``p`` going 0 -> 1 until ``total_steps``,
    ``lr_min = min_lr_ratio * lr``; constant ``lr_min`` after ``total_steps``.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    p = min(1.0, (step - warmup_steps) / decay_steps)
    lr_min = min_lr_ratio * lr
    return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * p))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: matrices (decayed) and vectors/scalars (biases, norm gains: not decayed).

    Decaying norm gains and biases pulls them to zero for no benefit (nanoGPT, GPT-3 practice).
    """
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _fused_ok(params: Iterable[torch.Tensor]) -> bool:
    """The fused AdamW kernel runs on CUDA and CPU for plain floating-point tensors.

    Sharded (DTensor) parameters from FSDP2 keep the multi-tensor ``foreach`` path, which DTensor
    dispatches shard-wise everywhere.
    """
    from torch.distributed.tensor import DTensor

    params = list(params)
    if not params or params[0].device.type not in ("cuda", "cpu"):
        return False
    return all(p.is_floating_point() and not isinstance(p, DTensor) for p in params)


def build_adamw(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    eps: float = 1e-8,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW over `model`'s trainable parameters; `fused=None` picks the fused kernel if possible."""
    groups = param_groups(model, weight_decay)
    params = [p for g in groups for p in g["params"]]
    if not params:
        raise ConfigError("the model has no trainable parameters (all have requires_grad=False)")
    if fused is None:
        fused = _fused_ok(params)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused or None)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
