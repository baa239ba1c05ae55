"""Structured controls for sim-to-real generation (Cosmos-Transfer): edges, blur, depth, segmentation.

Every control is a video of the generated clip's size and length, ``[T, H, W, 3]`` uint8, so a control
is a file anyone can make and inspect (the formats, also in docs/posttrain.md):

* ``edge``: white (255) Canny edges on black (OpenCV ``cv2.Canny`` on the grey frame, thresholds
  ``low``/``high``; Canny 1986), the grey value in all three channels. Extracted from any video.
* ``blur``: the frame down-sampled by `factor` (area average) and up-sampled back (bilinear): the
  layout and colours without detail. Extracted from any video.
* ``depth``: grey, near = bright: inverse depth ``1/z`` scaled to 0..255 per clip (min..max of the
  clip's valid depths), like the relative inverse depth of monocular estimators. From a twin's metric
  depth, or a user's depth video in the same convention.
* ``seg``: one flat colour per segment (`palette`, id 0 = background = black). From a twin's
  instance masks, or a user's colour-coded segmentation video.

The model sees a control at latent resolution without a tokenizer: per latent frame, the mean of the
video frames it covers (the causal layout: latent frame 0 = frame 0, latent frame j >= 1 = frames
``(j-1)k+1 .. jk``), then ``s x s`` pixel cells unshuffled into channels (`control_latents`). Cosmos
encodes control videos with its VAE; at our tokenizers' sizes that blurs 1-px edges away.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from worldsmith.errors import WorldsmithError

# Control type -> the channels of its video the model reads (edges and depth are grey).
CONTROL_CHANNELS = {"edge": 1, "blur": 3, "depth": 1, "seg": 3}
CONTROL_TYPES = tuple(CONTROL_CHANNELS)
FROM_ANY_VIDEO = ("edge", "blur")  # extracted from RGB; depth and seg come from a twin or a file


class ControlError(WorldsmithError):
    """A control that does not fit: unknown type, size or length unlike the video, bad weights."""


def check_type(name: str, where: str = "control") -> str:
    if name not in CONTROL_CHANNELS:
        raise ControlError(f"{where}: unknown control type '{name}'; choose from {', '.join(CONTROL_TYPES)}")
    return name


def parse_controls(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"depth,seg,edge"`` (or a list) -> checked control types in order, no repeats."""
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if not names:
        raise ControlError("--controls is empty; name at least one of " + ", ".join(CONTROL_TYPES))
    if len(set(names)) != len(names):
        raise ControlError(f"--controls {','.join(names)} repeats a control; name each once")
    return tuple(check_type(n, "--controls") for n in names)


# --- extraction ------------------------------------------------------------------------------------


def _check_video(frames: torch.Tensor, what: str) -> np.ndarray:
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ControlError(
            f"{what}: expected a uint8 video [T, H, W, 3], got {frames.dtype} {tuple(frames.shape)}"
        )
    return frames.numpy()


def edges(frames: torch.Tensor, low: int = 100, high: int = 200) -> torch.Tensor:
    """Canny edges of a video ``[T, H, W, 3]`` uint8 -> ``[T, H, W, 3]`` uint8 (255 on edges)."""
    video = _check_video(frames, "edge control")
    out = np.stack([cv2.Canny(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), low, high) for f in video])  # [T, H, W]
    return torch.from_numpy(np.repeat(out[..., None], 3, axis=-1))


def blur(frames: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Down-sample by `factor` (area) and up-sample back (bilinear): ``[T, H, W, 3]`` uint8."""
    _check_video(frames, "blur control")
    if factor < 1:
        raise ControlError(f"blur factor must be >= 1, got {factor}")
    T, H, W, _ = frames.shape
    x = frames.permute(0, 3, 1, 2).float()  # [T, 3, H, W]
    small = F.interpolate(x, size=(max(1, H // factor), max(1, W // factor)), mode="area")
    x = F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()  # [T, H, W, 3]


def depth_video(depth: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Metric depth ``[T, H, W]`` (metres; <= 0 or non-finite = no depth) -> grey inverse-depth video
    ``[T, H, W, 3]`` uint8, near = 255, far = 0, scaled over the clip's valid depths (no depth: 0)."""
    z = torch.as_tensor(np.asarray(depth), dtype=torch.float64)
    valid = torch.isfinite(z) & (z > 0)
    if z.ndim != 3 or not valid.any():
        raise ControlError(f"depth must be [T, H, W] metres with some positive values, got {tuple(z.shape)}")
    inv = torch.where(valid, 1.0 / z.clamp_min(1e-9), 0.0)
    lo, hi = inv[valid].min(), inv[valid].max()
    grey = torch.where(valid, (inv - lo) / (hi - lo).clamp_min(1e-12) * 255.0, 0.0)
    return grey.round().to(torch.uint8)[..., None].expand(-1, -1, -1, 3).contiguous()


def palette(n: int) -> torch.Tensor:
    """``[n, 3]`` uint8 colours for segment ids 0..n-1: black for 0, then well-separated hues
    (golden-ratio steps around the hue circle, alternating brightness)."""
    hue = (np.arange(n) * 0.618033988749895 * 180) % 180
    val = np.where(np.arange(n) % 2, 255, 170)
    hsv = np.stack([hue, np.full(n, 220), val], axis=-1).astype(np.uint8)[None]  # [1, n, 3]
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]
    rgb[0] = 0
    return torch.from_numpy(rgb)


def seg_video(masks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Instance ids ``[T, H, W]`` (0 = background) -> colour-coded video ``[T, H, W, 3]`` uint8."""
    ids = torch.as_tensor(np.asarray(masks)).long()
    if ids.ndim != 3 or (ids < 0).any():
        raise ControlError(f"segmentation must be [T, H, W] non-negative ids, got {tuple(ids.shape)}")
    return palette(int(ids.max()) + 1)[ids]


def extract(name: str, frames: torch.Tensor) -> torch.Tensor:
    """The `name` control of an RGB video (edge or blur: the controls any video gives)."""
    check_type(name)
    if name == "edge":
        return edges(frames)
    if name == "blur":
        return blur(frames)
    raise ControlError(
        f"a {name} control cannot be extracted from RGB frames offline; give a {name} video "
        f"(--control {name}=FILE) or render a twin (worldsmith sim), whose {name} is exact"
    )


# --- checks and the model's view -------------------------------------------------------------------


def check_controls(controls: dict[str, torch.Tensor], frames: int | None = None,
                   size: tuple[int, int] | None = None, where: str = "--control") -> None:  # fmt: skip
    """Every control a known type, a uint8 ``[T, H, W, 3]`` video, all of one size and length, and of
    `frames` frames and `size` (H, W) when given: else `ControlError` naming which and the fix."""
    if not controls:
        raise ControlError(f"{where}: no control given; give at least one ({', '.join(CONTROL_TYPES)})")
    ref_name, ref = None, None
    for name, video in controls.items():
        check_type(name, where)
        _check_video(video, f"{where} {name}")
        T, H, W, _ = video.shape
        if ref is None:
            ref_name, ref = name, video
        h, w = size if size is not None else ref.shape[1:3]
        n = frames if frames is not None else ref.shape[0]
        if (h, w) != (H, W):
            other = "the video" if size is not None else ref_name
            raise ControlError(
                f"{where} {name}: {W}x{H} frames, unlike {other} ({w}x{h}); give every control the "
                "video's size"
            )
        if n != T:
            other = "the video" if frames is not None else ref_name
            raise ControlError(
                f"{where} {name}: {T} frames, unlike {other} ({n} frames); give one control frame per "
                "video frame"
            )


def control_latents(video: torch.Tensor, name: str, k: int, s: int) -> torch.Tensor:
    """A control video ``[F, H, W, 3]`` uint8 (``F = 1 + (T-1) k``) -> ``[c s s, T, H/s, W/s]`` in
    [-1, 1]: per latent frame the mean of its video frames, ``s x s`` cells unshuffled to channels."""
    c = CONTROL_CHANNELS[check_type(name)]
    Fr, H, W, _ = video.shape
    if (Fr - 1) % k or H % s or W % s:
        raise ControlError(
            f"{name} control of {Fr} frames at {W}x{H} does not fit 1 + n*{k} frames, x{s} cells"
        )
    x = video.permute(3, 0, 1, 2).float() / 127.5 - 1.0  # [3, F, H, W]
    x = x[:c] if c == 3 else x.mean(0, keepdim=True)  # [c, F, H, W]
    rest = rearrange(x[:, 1:], "c (t k) h w -> c t k h w", k=k).mean(2) if Fr > 1 else x[:, :0]
    x = torch.cat([x[:, :1], rest], dim=1)  # [c, T, H, W]
    return rearrange(x, "c t (h sh) (w sw) -> (c sh sw) t h w", sh=s, sw=s)  # [c s s, T, h, w]


def latent_channels(name: str, s: int) -> int:
    return CONTROL_CHANNELS[check_type(name)] * s * s


def check_weights(
    weights: dict[str, float | torch.Tensor], controls: tuple[str, ...] | list[str], *, positive: bool = True
) -> None:
    """Weights are for given controls, finite and >= 0, and (`positive`: a user's weights) sum to a
    positive number (for maps: somewhere); else `ControlError` with the fix. Training passes
    `positive=False`: a batch whose controls were all dropped is the base, not an error."""
    for name, w in weights.items():
        if name not in controls:
            raise ControlError(
                f"--weight {name}: no --control {name} to weight; weight one of {', '.join(controls)}"
            )
        t = torch.as_tensor(w, dtype=torch.float32)
        if not torch.isfinite(t).all() or (t < 0).any():
            raise ControlError(f"--weight {name}: weights must be finite and >= 0; got {_show(t)}")
    total = sum(torch.as_tensor(weights.get(n, 1.0), dtype=torch.float32) for n in controls)
    if positive and not (torch.as_tensor(total) > 0).any():
        raise ControlError(
            f"--weight: the control weights sum to {_show(torch.as_tensor(total))}; give at least one "
            "control a positive weight"
        )


def _show(t: torch.Tensor) -> str:
    return f"{t.item():g}" if t.numel() == 1 else f"a map with range {t.min().item():g}..{t.max().item():g}"
