"""Context refiner: finish a decoded Video2World prediction in pixel space, from the given frames.

Not in Cosmos. A latent world model predicts the future through the tokenizer, so even a perfect
latent prediction comes back with the tokenizer's reconstruction error everywhere, on the static
background as much as on what moves. Video2World is given real frames, though. The refiner is a
small 2D U-Net applied to each predicted frame on its own; it sees `given_frames` given frames,
evenly spaced from the first ``G`` to the last ``L`` (what moved while given), the decoded
prediction ``P_t``, the decoded version of the last given frame ``D`` (so ``P_t - D`` is the change
the world model predicts, free of the tokenizer's own error) and the time since the last given
frame, and composites (after the
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

Where the decoded prediction is too blurry to say where an object went, this refiner still fades it
where it was rather than moving it: the hedge that any mean-error loss rewards.

**Motion** (``RefinerConfig(motion=True)``, after the transformed-pixel predictions of the same
paper): the head also predicts a forward flow ``f_t`` and an importance ``z_t``, and the copied
frame is the last given one carried forward, by softmax splatting (Niklaus and Liu, CVPR 2020)::

    S_t, c_t = splat(L, f_t, z_t + 2 |f_t|)        source_t = S_t + (1 - c_t) (P_t + r_t - S_t)
    out_t = m_t * source_t + (1 - m_t) * (P_t + r_t)

so an object moves *sharp*, texture and all, instead of being painted anew; where it left
(coverage ``c_t < 1``) the prediction fills in, and moving pixels land in front of still ones
(``2 |f_t|``). The flow is a forward one because that is a local question (how will the object
*here* move?), which a small CNN learns; a backward flow asks where, far away, something will
come from, and it did not learn that in the demo's budget (measured). On simulated episodes the
flow also learns from the instance masks (`flow_targets`: each object moves with its centroid).

Frames are ``[N, 3, H, W]`` in [-1, 1]; H and W must be multiples of 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith.checkpoint import Pretrained, load_weights_file, read_json
from worldsmith.config import check
from worldsmith.errors import WorldsmithError

CL = torch.channels_last

MASKS = ("hard", "sigmoid")
LOSSES = ("log_mse", "mse")
LOG_EPS = 4e-6  # per-frame MSE floor of the log loss: 60 dB on frames in [-1, 1]
STRAIGHT_THROUGH_MARGIN = 0.5
LEGACY_CONFIG, LEGACY_WEIGHTS = "refiner.json", "refiner.safetensors"  # the files before format 1
LEGACY = {"mask": "sigmoid", "given_frames": 2, "motion": False}  # keys older refiner.json files lack


@dataclass(frozen=True)
class RefinerConfig:
    width: int = 24  # channels at full resolution; x2 at 1/2, x2.67 at 1/4
    mask_bias: float = 2.0  # initial mask logit: start near copy-the-given-frame (m = 0.83 or 0.88)
    mask: str = "hard"  # "hard": clamp(logit / 6 + 1/2, 0, 1), straight-through; "sigmoid"
    given_frames: int = 2  # given frames it sees, evenly spaced from the first to the last
    motion: bool = False  # warp the last given frame by a predicted flow before compositing

    def __post_init__(self) -> None:
        check(self.mask in MASKS, "mask", self.mask, f"must be one of {MASKS}")
        check(
            self.given_frames >= 2, "given_frames", self.given_frames, "must be >= 2 (the first and the last)"
        )


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


FLOW_SCALE = 8.0  # the head's flow channels are in units of 8 pixels
IMPORTANCE_SPREAD = 30.0  # splatting weights span at most exp(30): none underflows in float32
MOTION_IMPORTANCE = 2.0  # splatting importance per pixel of motion: moving pixels land in front


def pixel_grid(H: int, W: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) coordinates ``[H, W]`` of every pixel, in the dtype and device of `like`."""
    rows = torch.arange(H, dtype=like.dtype, device=like.device)
    cols = torch.arange(W, dtype=like.dtype, device=like.device)
    return torch.meshgrid(rows, cols, indexing="ij")


def splat(
    image: torch.Tensor, flow: torch.Tensor, importance: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward warp (softmax splatting, Niklaus and Liu, CVPR 2020): every pixel ``p`` of ``image [N, C,
    H, W]`` moves to ``p + flow(p)`` (``flow [N, 2, H, W]`` in pixels, x then y) and is shared
    bilinearly among the four pixels around it, weighted by ``exp(importance [N, 1, H, W])``, so
    where several land on one pixel the more important wins. Returns (the normalised image, the
    coverage ``[N, 1, H, W]``: the bilinear weight that landed, 0 in holes). Zero flow returns the
    image with coverage 1."""
    N, C, H, W = image.shape
    ys, xs = pixel_grid(H, W, flow)
    x, y = xs + flow[:, 0], ys + flow[:, 1]  # [N, H, W]
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    # exp(importance), scaled by the image's largest; the spread is bounded so that no weight
    # underflows (a pixel 100 less important than the image's most important one would weigh 0 in
    # float32 and leave a black hole where it alone lands)
    z = (importance - importance.amax(dim=(1, 2, 3), keepdim=True)).clamp(min=-IMPORTANCE_SPREAD).exp()[:, 0]
    values = torch.cat([image * z[:, None], z[:, None]], 1).flatten(2)  # [N, C + 1, H * W]
    acc = image.new_zeros(N, C + 1, H * W)
    cover = image.new_zeros(N, 1, H * W)
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        w = w * ((xi >= 0) & (xi < W) & (yi >= 0) & (yi < H))
        index = (yi.clamp(0, H - 1) * W + xi.clamp(0, W - 1)).long().flatten(1)[:, None]  # [N, 1, H * W]
        w = w.flatten(1)[:, None]
        acc = acc.scatter_add(2, index.expand(-1, C + 1, -1), values * w)
        cover = cover.scatter_add(2, index, w)
    acc = acc.view(N, C + 1, H, W)
    weight = acc[:, C:]
    out = acc[:, :C] / torch.where(weight > 0, weight, torch.ones_like(weight))
    return out, cover.view(N, 1, H, W)


class ContextRefiner(nn.Module, Pretrained):
    """``(given frames G, prediction P, decoded last given D, time tau) -> refined frame``; ``G [N, K, 3,
    H, W]`` (K = `given_frames`, the last one ``L``), the others ``[N, 3, H, W]``."""

    model_type = "refiner"
    config_class = RefinerConfig

    def __init__(self, config: RefinerConfig | None = None):
        super().__init__()
        self.config = config or RefinerConfig()
        w = self.config.width
        w2, w4 = 2 * w, (8 * w) // 3
        self.enc1 = _block(3 * self.config.given_frames + 7, w)
        self.enc2 = _block(w, w2, stride=2)
        self.enc3 = _block(w2, w4, stride=2)
        self.up2 = nn.Conv2d(w4, w2, 3, padding=1)
        self.dec2 = _block(w2, w2)
        self.up1 = nn.Conv2d(w2, w, 3, padding=1)
        self.dec1 = _block(w, w)
        # mask logit, correction (3); with motion also the flow (2) and the splatting importance
        self.head = nn.Conv2d(w, 7 if self.config.motion else 4, 3, padding=1)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            self.head.bias[0] = self.config.mask_bias
        self.to(memory_format=CL)

    def forward(
        self,
        given: torch.Tensor,
        pred: torch.Tensor,
        decoded_last: torch.Tensor,
        tau: torch.Tensor,
        *,
        return_flow: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        N, _, H, W = pred.shape
        if H % 4 or W % 4:
            raise WorldsmithError(f"refiner frames must have H and W multiples of 4, got {H}x{W}")
        K = self.config.given_frames
        if given.ndim != 5 or given.shape[1] != K:
            raise WorldsmithError(
                f"this refiner sees {K} given frames [N, {K}, 3, H, W]; got {tuple(given.shape)}"
            )
        last = given[:, -1]
        t = tau.to(pred.dtype).view(N, 1, 1, 1).expand(N, 1, H, W)
        # channels-last: oneDNN's layout for these narrow 2D convolutions (1.47x a 1-thread training step)
        x = torch.cat([given.flatten(1, 2), pred, decoded_last, t], 1).contiguous(memory_format=CL)
        h1 = self.enc1(x)
        h2 = self.enc2(h1)
        h3 = self.enc3(h2)
        d2 = self.dec2(self.up2(F.interpolate(h3, scale_factor=2.0, mode="nearest")) + h2)
        d1 = self.dec1(self.up1(F.interpolate(d2, scale_factor=2.0, mode="nearest")) + h1)
        out = self.head(d1).float()  # compositing in float32, also under bfloat16 autocast
        m = _mask(out[:, :1], self.config.mask)
        flow = None
        fill = pred + out[:, 1:4]
        source = last
        if self.config.motion:
            # the last given frame's pixels carried forward; holes (where an object left) filled
            flow = FLOW_SCALE * out[:, 4:6]
            importance = out[:, 6:7] + MOTION_IMPORTANCE * flow.norm(dim=1, keepdim=True)
            moved, cover = splat(last, flow, importance)
            source = moved + (1 - cover.clamp(max=1)) * (fill - moved)
        frame = m * source + (1 - m) * fill
        return (frame, flow) if return_flow else frame

    @classmethod
    def read_checkpoint(cls, path: Path, *, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
        """Before format 1 a refiner was ``refiner.json`` + ``refiner.safetensors``; refiners saved
        before the `LEGACY` keys existed have a sigmoid mask and see the first and last given frames."""
        if (path / LEGACY_CONFIG).is_file():
            config = {**LEGACY, **read_json(path / LEGACY_CONFIG)}
            meta = {"model": cls.model_type, "format_version": 1, "config": config}
            return meta, load_weights_file(path / LEGACY_WEIGHTS, map_location=map_location)
        return super().read_checkpoint(path, map_location=map_location)


def refine_video(
    refiner: ContextRefiner, given: torch.Tensor, decoded: torch.Tensor, n_given: int, *, batch: int = 64
) -> torch.Tensor:
    """Refine the future frames of one decoded prediction.

    Args:
        given: the given frames ``[n_given, 3, H, W]`` in [-1, 1].
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
    inputs = refiner_inputs(given[None], decoded[None], n_given, refiner.config.given_frames)
    with torch.no_grad():
        outs = [refiner(*(x[i : i + batch] for x in inputs)) for i in range(0, n_future, batch)]
    return torch.cat(outs).clamp(-1, 1)


def refine_clip(refiner: ContextRefiner, given: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """`refine_video` on the tokenizer's layout: given ``[3, n, H, W]`` and decoded ``[3, T, H, W]``
    -> ``[3, T, H, W]``, the decoded given frames followed by the refined future."""
    n = given.shape[1]
    future = refine_video(refiner, given.transpose(0, 1), decoded.transpose(0, 1), n)
    return torch.cat([decoded[:, :n], future.transpose(0, 1)], 1)


def given_indices(n_given: int, k: int) -> list[int]:
    """The `k` given frames a refiner sees: evenly spaced from the first to the last of `n_given`
    (with one given frame, the first and the last are the same)."""
    if not (2 <= k <= n_given or k == 2 == n_given + 1):
        raise WorldsmithError(f"a refiner that sees {k} given frames needs at least {k}; {n_given} are given")
    return [round(i * (n_given - 1) / (k - 1)) for i in range(k)]


def refiner_inputs(
    given: torch.Tensor, decoded: torch.Tensor, n_given: int, k: int = 2, frames: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-future-frame inputs of videos ``given/decoded [N, T, 3, H, W]`` (given: the true frames,
    of which only the first `n_given` are read): (the `k` given frames ``[M, k, 3, H, W]``,
    prediction, decoded last given, tau) for the future frames numbered `frames` (``N * (T -
    n_given)`` of them, video-major), all of them by default."""
    N, T = decoded.shape[:2]
    n_future = T - n_given
    if frames is None:
        frames = torch.arange(N * n_future)
    video, step = frames // n_future, frames % n_future
    picked = given[:, given_indices(n_given, k)]  # [N, k, 3, H, W]
    tau = (step + 1).to(decoded.dtype) / n_future
    return picked[video], decoded[video, n_given + step], decoded[video, n_given - 1], tau
