"""Training the context refiner through the `Trainer`: its objective, the flow targets it learns
from simulator masks, and `train_refiner` (what the demo's refiner stage calls).

The batch is a set of future-frame numbers (video-major); `RefinerObjective` builds each frame's
inputs from the videos it holds (`refiner_inputs`), so the Trainer's data is just ``arange(M)``.
Its loss is the per-frame log MSE (or MSE) of the refined frame, plus, with a motion refiner and
instance masks, the flow loss against `flow_targets`.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldsmith.errors import WorldsmithError
from worldsmith.refine.model import (
    FLOW_SCALE,
    LOG_EPS,
    LOSSES,
    ContextRefiner,
    RefinerConfig,
    given_indices,
    pixel_grid,
    refiner_inputs,
)
from worldsmith.runs import seeded_init
from worldsmith.train import TrainConfig, Trainer
from worldsmith.train.metrics import read_metrics


def flow_targets(
    masks: torch.Tensor, n_given: int, static: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Motion targets from instance masks ``[N, T, H, W]`` (0: background): for every future frame,
    the forward flow (px, x then y) of the last given frame's pixels, each object's pixels moving
    with its centroid (rotation is not modelled). It is known on the objects seen in both frames,
    and on the background where the camera is `static` ``[N]`` (zero flow there).
    Returns ``(flow [N, T - n_given, 2, H, W], on_objects, on_background)``, the last two boolean
    ``[N, T - n_given, H, W]``: where the flow is known."""
    N, T, H, W = masks.shape
    flow = torch.zeros(N, T - n_given, 2, H, W)
    ys, xs = pixel_grid(H, W, flow)
    objects = torch.zeros(N, T - n_given, H, W, dtype=torch.bool)
    background = torch.zeros(N, T - n_given, H, W, dtype=torch.bool)
    for i in range(N):
        last = masks[i, n_given - 1]
        background[i] = bool(static[i]) & (last == 0)
        # each object of the last given frame: its pixels there and its centroid
        seen = [(inst, last == inst) for inst in last.unique().tolist() if inst != 0]
        seen = [(inst, was, xs[was].mean(), ys[was].mean()) for inst, was in seen]
        for j in range(T - n_given):
            now = masks[i, n_given + j]
            for inst, was, x0, y0 in seen:
                is_ = now == inst
                if not is_.any():
                    continue  # gone from view
                flow[i, j, 0][was] = xs[is_].mean() - x0
                flow[i, j, 1][was] = ys[is_].mean() - y0
                objects[i, j][was] = True
    return flow, objects, background


def _flow_loss(flow: torch.Tensor, target: torch.Tensor, objects: torch.Tensor, background: torch.Tensor):
    """Squared error in units of `FLOW_SCALE` pixels, the mean on the objects plus the mean on the
    background: the objects are a few percent of the pixels. Measured with the first, backward-warp
    design: with all pixels weighted alike its flow stayed at zero on the demo's objects, and with
    an absolute error the toy's flow stayed at zero for 600 steps where the squared error learnt it
    (the median of "maybe an object lands here, maybe not" is no motion)."""
    err = ((flow - target) / FLOW_SCALE).square().sum(1)
    return sum((err * w).sum() / w.sum().clamp_min(1) for w in (objects.float(), background.float()))


def _loss(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    mse = (out - target).square().flatten(1).mean(1)  # per frame
    return (mse + LOG_EPS).log().mean() if kind == "log_mse" else mse.mean()


@dataclass
class RefinerObjective:
    """``objective(model, frame_numbers) -> (loss, metrics)`` for the `Trainer`."""

    true: torch.Tensor  # [N, T, 3, H, W] in [-1, 1]
    decoded: torch.Tensor  # [N, T, 3, H, W]: the world model's decoded predictions
    n_given: int
    k: int  # given frames the refiner sees
    loss: str = "log_mse"
    flow: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # flow_targets, flattened
    flow_weight: float = 1.0

    def __post_init__(self) -> None:
        self.target = self.true[:, self.n_given :].flatten(0, 1)  # [M, 3, H, W]

    def __call__(self, model: ContextRefiner, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        out, flow = model(
            *refiner_inputs(self.true, self.decoded, self.n_given, self.k, idx), return_flow=True
        )
        value = _loss(out, self.target[idx], self.loss)
        metrics: dict[str, Any] = {"pixel_loss": value.detach()}
        if self.flow is not None:
            flow_t, on_obj, on_bg = self.flow
            flow_loss = _flow_loss(flow, flow_t[idx], on_obj[idx], on_bg[idx])
            value = value + self.flow_weight * flow_loss
            metrics["flow_loss"] = flow_loss.detach()
        return value, metrics


def train_refiner(
    true: torch.Tensor,
    decoded: torch.Tensor,
    n_given: int,
    *,
    steps: int = 600,
    batch: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    config: RefinerConfig | None = None,
    loss: str = "log_mse",
    masks: torch.Tensor | None = None,
    static: torch.Tensor | None = None,
    flow_weight: float = 1.0,
    precision: str = "fp32",
    out: str | Path | None = None,
) -> tuple[ContextRefiner, dict[str, float]]:
    """Fit a `ContextRefiner` to the world model's decoded predictions of videos it never trained on.

    Args:
        true: the true videos ``[N, T, 3, H, W]`` in [-1, 1] (given frames and the future to match).
        decoded: the world model's decoded predictions of them from their first `n_given` frames.
        loss: "log_mse" (per-frame log MSE, `worldsmith.refine.model` says why) or "mse".
        masks, static: instance masks ``[N, T, H, W]`` and which videos have a still camera ``[N]``
            (simulator ground truth): with a motion refiner, its flow also learns `flow_targets`
            (`_flow_loss`, weighted by `flow_weight`).
        precision: the Trainer's (``"auto"``: bfloat16 autocast where the CPU has it natively; the
            U-Net's convolutions run in bfloat16, its compositing and the loss in float32).
        out: the Trainer's folder (checkpoints, metrics.jsonl); a temporary one when None.
    AdamW (no weight decay), warm-up over 5% of the steps then cosine to 0, gradients clipped at
    norm 1: the log loss weighs a frame by 1 / (its MSE + eps), so a frame copied exactly and then
    missed by a hair gives a large gradient. Returns the model (eval mode) and metrics (loss first
    and last: means over the first and last tenth of the logged steps; the pixel loss of copying
    the last given frame).
    """
    if true.shape != decoded.shape or true.ndim != 5 or not 0 < n_given < true.shape[1]:
        raise WorldsmithError(
            f"refiner training needs true and decoded videos of one shape [N, T, 3, H, W] with "
            f"0 < n_given < T; got {tuple(true.shape)}, {tuple(decoded.shape)}, n_given={n_given}"
        )
    if loss not in LOSSES:
        raise WorldsmithError(f"refiner loss must be one of {LOSSES}, got {loss!r}")
    with seeded_init(seed):
        model = ContextRefiner(config)
    k = model.config.given_frames
    given_indices(n_given, k)  # names a refiner that needs more given frames than there are
    flow = None
    if masks is not None and model.config.motion:
        if masks.shape != true.shape[:2] + true.shape[3:]:
            raise WorldsmithError(
                f"masks {tuple(masks.shape)} must be [N, T, H, W] of the videos {tuple(true.shape)}"
            )
        still = torch.ones(len(true), dtype=torch.bool) if static is None else static.bool()
        flow = tuple(x.flatten(0, 1) for x in flow_targets(masks, n_given, still))
    objective = RefinerObjective(true, decoded, n_given, k, loss, flow, flow_weight)
    frames = torch.arange(len(objective.target))
    tcfg = TrainConfig(
        steps=steps, batch_size=min(batch, len(frames)), lr=lr, betas=(0.9, 0.999), weight_decay=0.0,
        warmup_steps=max(1, steps // 20), min_lr_ratio=0.0, grad_clip=1.0, log_every=1, seed=seed,
        tensorboard=False, precision=precision,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() if out is None else contextlib.nullcontext(out) as folder:
        trainer = Trainer(tcfg, model, objective, frames, out=folder, model_config=model.config)
        trainer.fit()
        rows = [r for r in read_metrics(folder) if "loss" in r]
    q = max(1, len(rows) // 10)
    last = true[:, n_given - 1 : n_given].expand_as(true[:, n_given:]).flatten(0, 1)
    metrics = {
        "loss_first": sum(r["loss"] for r in rows[:q]) / q,
        "loss_last": sum(r["loss"] for r in rows[-q:]) / q,
        "copy_last_frame_loss": _loss(last, objective.target, loss).item(),  # the given last frame, copied
        "params": sum(p.numel() for p in model.parameters()),
    }
    if flow is not None:  # the flow's share of the loss
        metrics["flow_loss_first"] = sum(r["flow_loss"] for r in rows[:q]) / q
        metrics["flow_loss_last"] = sum(r["flow_loss"] for r in rows[-q:]) / q
    return model.eval(), metrics
