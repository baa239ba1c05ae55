"""Context refiner: finish a decoded Video2World prediction in pixel space, from the given frames.

Not in Cosmos. A latent world model predicts the future through the tokenizer, so even a perfect
latent prediction comes back with the tokenizer's reconstruction error everywhere, on the static
background as much as on what moves. Video2World is given real frames, though. The refiner is a
small 2D U-Net applied to each predicted frame on its own; it sees the first and the last given
frames ``G`` and ``L`` (what moved while given), the decoded prediction ``P_t``, the decoded
version of the last given frame ``D`` (so ``P_t - D`` is the change the world model predicts, free
of the tokenizer's own error) and the time since the last given frame, and composites (after the
compositing masks of Finn et al., "Unsupervised Learning for Physical Interaction through Video
Prediction", NeurIPS 2016)::

    out_t = m_t * L + (1 - m_t) * (P_t + r_t)        m_t = sigmoid(mask logit), r_t a correction

so pixels the world model leaves alone can be copied exactly from the given frame and the moving
ones come from the prediction. It is trained on the world model's own predictions for episodes
neither model trained on (otherwise it would learn to trust predictions of memorised clips).

Two choices make the exact copy reachable, and both were measured in the demo
(`docs/architecture.md`):

* the loss is the per-frame log mean squared error, ``mean_f log(MSE_f + eps)``: the mean per-frame
  PSNR, the evaluation's metric, up to sign and scale, capped at 60 dB by ``eps``. Plain MSE hardly
  rewards a 40 dB frame becoming exact, which the per-frame PSNR counts in full;
* the mask is a hard sigmoid, ``m = clamp(logit / 6 + 1/2, 0, 1)``, with a straight-through
  gradient within a margin. It reaches ``m = 1`` (a sigmoid never does), and the gradient still
  flows just past the clamp, so a pixel copied where copying is wrong gets pulled back. With a
  sigmoid mask and the log loss, the mask saturated and training stopped moving.

Where the decoded prediction is too blurry to say where an object went, the refiner still fades it
where it was rather than moving it: the hedge that any mean-error loss rewards.

Frames are ``[N, 3, H, W]`` in [-1, 1]; H and W must be multiples of 4.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith import fs
from worldsmith.config import check
from worldsmith.errors import WorldsmithError

CONFIG_FILE = "refiner.json"
MASKS = ("hard", "sigmoid")
LOSSES = ("log_mse", "mse")
LOG_EPS = 4e-6  # per-frame MSE floor of the log loss: 60 dB on frames in [-1, 1]
STRAIGHT_THROUGH_MARGIN = 0.5
WEIGHTS_FILE = "refiner.safetensors"


@dataclass(frozen=True)
class RefinerConfig:
    width: int = 24  # channels at full resolution; x2 at 1/2, x2.67 at 1/4
    mask_bias: float = 2.0  # initial mask logit: start near copy-the-given-frame (m = 0.83 or 0.88)
    mask: str = "hard"  # "hard": clamp(logit / 6 + 1/2, 0, 1), straight-through; "sigmoid"

    def __post_init__(self) -> None:
        check(self.mask in MASKS, "mask", self.mask, f"must be one of {MASKS}")


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
        nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.SiLU(),
    )


def _mask(logit: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "sigmoid":
        return torch.sigmoid(logit)
    # the hard sigmoid's slope; clamped to [0, 1] forwards, the identity backwards within a margin
    # of 1/2 and zero beyond it. With the identity everywhere, a pixel best copied but not exactly
    # (the prediction worse still) pushes its logit up for ever, the forward unchanged; a 1200-step
    # demo refiner trained that way overflowed to inf, and with the margin it is stable (measured)
    z = (logit / 6 + 0.5).clamp(-STRAIGHT_THROUGH_MARGIN, 1 + STRAIGHT_THROUGH_MARGIN)
    return z + (z.clamp(0, 1) - z).detach()


class ContextRefiner(nn.Module):
    """``(last given L, prediction P, decoded given D, time tau) -> refined frame``, all ``[N, 3, H, W]``."""

    def __init__(self, config: RefinerConfig | None = None):
        super().__init__()
        self.config = config or RefinerConfig()
        w = self.config.width
        w2, w4 = 2 * w, (8 * w) // 3
        self.enc1 = _block(13, w)
        self.enc2 = _block(w, w2, stride=2)
        self.enc3 = _block(w2, w4, stride=2)
        self.up2 = nn.Conv2d(w4, w2, 3, padding=1)
        self.dec2 = _block(w2, w2)
        self.up1 = nn.Conv2d(w2, w, 3, padding=1)
        self.dec1 = _block(w, w)
        self.head = nn.Conv2d(w, 4, 3, padding=1)  # mask logit, correction (3)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            self.head.bias[0] = self.config.mask_bias

    def forward(
        self,
        first: torch.Tensor,
        last: torch.Tensor,
        pred: torch.Tensor,
        decoded_last: torch.Tensor,
        tau: torch.Tensor,
    ) -> torch.Tensor:
        N, _, H, W = pred.shape
        if H % 4 or W % 4:
            raise WorldsmithError(f"refiner frames must have H and W multiples of 4, got {H}x{W}")
        t = tau.to(pred.dtype).view(N, 1, 1, 1).expand(N, 1, H, W)
        h1 = self.enc1(torch.cat([first, last, pred, decoded_last, t], 1))
        h2 = self.enc2(h1)
        h3 = self.enc3(h2)
        d2 = self.dec2(self.up2(F.interpolate(h3, scale_factor=2.0, mode="nearest")) + h2)
        d1 = self.dec1(self.up1(F.interpolate(d2, scale_factor=2.0, mode="nearest")) + h1)
        out = self.head(d1)
        m = _mask(out[:, :1], self.config.mask)
        return m * last + (1 - m) * (pred + out[:, 1:])

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with fs.atomic_path(folder / WEIGHTS_FILE) as tmp:
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(tmp))
        fs.write_json(folder / CONFIG_FILE, asdict(self.config))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> ContextRefiner:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / CONFIG_FILE).exists() or not (folder / WEIGHTS_FILE).exists():
            raise WorldsmithError(
                f"{folder} is not a refiner folder: it needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                "(written by ContextRefiner.save)"
            )
        # refiners saved before the mask was configurable used a sigmoid
        model = cls(RefinerConfig(**{"mask": "sigmoid", **json.loads((folder / CONFIG_FILE).read_text())}))
        try:
            model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        except RuntimeError as err:
            raise WorldsmithError(f"{folder / WEIGHTS_FILE} does not match {CONFIG_FILE}: {err}") from err
        return model.eval()


def refine_video(
    refiner: ContextRefiner, given: torch.Tensor, decoded: torch.Tensor, n_given: int, *, batch: int = 64
) -> torch.Tensor:
    """Refine the future frames of one decoded prediction.

    Args:
        given: the given frames ``[n_given, 3, H, W]`` in [-1, 1] (the first and last are used).
        decoded: the decoded prediction ``[T, 3, H, W]`` in [-1, 1], its first `n_given` frames the
            decoded given ones.
    Returns the refined future ``[T - n_given, 3, H, W]``.
    """
    T = decoded.shape[0]
    n_future = T - n_given
    if not 0 < n_given <= len(given) or n_future < 1 or given.shape[1:] != decoded.shape[1:]:
        raise WorldsmithError(
            f"refine_video needs n_given (got {n_given}) given frames {tuple(given.shape)} of the "
            f"decoded video's frame shape and fewer than its {T} frames ({tuple(decoded.shape)})"
        )
    inputs = refiner_inputs(given[None], decoded[None], n_given)  # the training's inputs, tau included
    with torch.no_grad():
        outs = [refiner(*(x[i : i + batch] for x in inputs)) for i in range(0, n_future, batch)]
    return torch.cat(outs).clamp(-1, 1)


def refine_clip(refiner: ContextRefiner, given: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """`refine_video` on the tokenizer's layout: given ``[3, n, H, W]`` and decoded ``[3, T, H, W]``
    -> ``[3, T, H, W]``, the decoded given frames followed by the refined future."""
    n = given.shape[1]
    future = refine_video(refiner, given.transpose(0, 1), decoded.transpose(0, 1), n)
    return torch.cat([decoded[:, :n], future.transpose(0, 1)], 1)


def refiner_inputs(
    given: torch.Tensor, decoded: torch.Tensor, n_given: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-future-frame inputs of videos ``given/decoded [N, T, 3, H, W]`` (given: the true frames,
    of which only the first `n_given` are read): (first, last, prediction, decoded last, tau), each
    flattened to ``[N * (T - n_given), ...]``."""
    N, T = decoded.shape[:2]
    n_future = T - n_given

    def rep(frames: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] -> [N * n_future, 3, H, W]
        return frames[:, None].expand(-1, n_future, -1, -1, -1).flatten(0, 1)

    tau = ((torch.arange(n_future, dtype=decoded.dtype) + 1) / n_future).repeat(N)
    pred = decoded[:, n_given:].flatten(0, 1)
    return rep(given[:, 0]), rep(given[:, n_given - 1]), pred, rep(decoded[:, n_given - 1]), tau


def _loss(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    mse = (out - target).square().flatten(1).mean(1)  # per frame
    return (mse + LOG_EPS).log().mean() if kind == "log_mse" else mse.mean()


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
    progress=None,
) -> tuple[ContextRefiner, dict[str, float]]:
    """Fit a `ContextRefiner` to the world model's decoded predictions of videos it never trained on.

    Args:
        true: the true videos ``[N, T, 3, H, W]`` in [-1, 1] (given frames and the future to match).
        decoded: the world model's decoded predictions of them from their first `n_given` frames.
        loss: "log_mse" (per-frame log MSE, the module docstring says why) or "mse".
        progress: a rich `Progress` to show the steps on (optional).
    AdamW, warm-up then cosine. Returns the model (eval mode) and metrics (loss first/last and the
    same loss for copying the last given frame).
    """
    if true.shape != decoded.shape or true.ndim != 5 or not 0 < n_given < true.shape[1]:
        raise WorldsmithError(
            f"refiner training needs true and decoded videos of one shape [N, T, 3, H, W] with "
            f"0 < n_given < T; got {tuple(true.shape)}, {tuple(decoded.shape)}, n_given={n_given}"
        )
    if loss not in LOSSES:
        raise WorldsmithError(f"refiner loss must be one of {LOSSES}, got {loss!r}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = ContextRefiner(config)
    inputs = refiner_inputs(true, decoded, n_given)
    target = true[:, n_given:].flatten(0, 1)
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.0)
    warmup = max(1, steps // 20)  # linear warm-up, then cosine decay to 0
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    )
    task = progress.add_task("train refiner", total=steps) if progress is not None else None
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(target), (batch,), generator=gen)
        value = _loss(model(*(x[idx] for x in inputs)), target[idx], loss)
        opt.zero_grad(set_to_none=True)
        value.backward()
        # a guard: the log loss weighs a frame by 1 / (its MSE + eps), so a frame copied exactly and
        # then missed by a hair gives a large gradient
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(value.item())
        if task is not None:
            progress.update(task, advance=1, description=f"train refiner  loss {value.item():.4f}")
    k = max(1, steps // 10)
    copy_loss = _loss(inputs[1], target, loss).item()  # the given last frame, copied
    metrics = {
        "loss_first": sum(losses[:k]) / k,
        "loss_last": sum(losses[-k:]) / k,
        "copy_last_frame_loss": copy_loss,
        "params": sum(p.numel() for p in model.parameters()),
    }
    return model.eval(), metrics
