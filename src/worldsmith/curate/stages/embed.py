"""Embed: an `Embedder` protocol and its backends; embeddings feed semantic de-duplication.

- `PerceptualEmbedder` (default, no weights): for frames sampled evenly through the clip, the
  low-frequency 2D DCT of each YCrCb channel at 32x32 (a colour-layout descriptor, as in MPEG-7,
  and the basis of DCT perceptual hashes), centred so that unrelated clips are near-orthogonal.
  Re-encoded, rescaled or slightly trimmed copies of a clip land within cosine ~0.99 of it.
- `HFImageEmbedder`: any image encoder `transformers` loads from a local folder (CLIP/SigLIP
  vision towers and the like): mean of pooled frame features. No pretrained image encoder ships
  its weights in a PyPI wheel, so it is opt-in.
- `TokenizerEmbedder`: our own trained continuous tokenizer (a `save_pretrained` folder): each
  sampled frame encoded alone (a causal tokenizer encodes a first frame by itself), latents
  averaged over space, frames concatenated in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from worldsmith.config import check
from worldsmith.curate.frames import clip_frames
from worldsmith.curate.stage import ClipStage, Resources
from worldsmith.curate.tasks import ClipTask
from worldsmith.errors import WorldsmithError
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.video.io import iter_frames, to_rgb
from worldsmith.video.transforms import resize_center_crop, to_model


@dataclass(frozen=True, kw_only=True)
class EmbedConfig:
    backend: str = "perceptual"  # perceptual | hf | tokenizer
    model: str = ""  # hf: a local model folder; tokenizer: a tokenizer checkpoint folder
    frames: int = 4
    dct_size: int = 6  # low-frequency block kept per channel

    def __post_init__(self) -> None:
        check(
            self.backend in ("perceptual", "hf", "tokenizer"),
            "embed.backend",
            self.backend,
            "must be perceptual, hf or tokenizer",
        )
        check(self.backend == "perceptual" or bool(self.model), "embed.model", self.model, "is needed")
        check(self.frames >= 1, "embed.frames", self.frames, "must be >= 1")


@runtime_checkable
class Embedder(Protocol):
    def embed(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] frames of one clip -> one float32 vector [D], L2-normalised."""
        ...


def even_frames(path: str, num_frames: int, count: int, size: tuple[int, int] | None) -> np.ndarray:
    """`count` frames spread evenly over a clip, uint8 [count', h, w, 3]."""

    stride = max(1, num_frames // count)
    frames = [f for _, f in zip(range(count), iter_frames(path, stride=stride, size=size), strict=False)]
    if not frames:
        raise ValueError(f"clip '{path}' has no frames to embed")
    return np.stack(frames)


class PerceptualEmbedder:
    size = (32, 32)

    def __init__(self, dct_size: int = 6):
        self.k = dct_size

    def embed(self, frames: np.ndarray) -> np.ndarray:
        parts = []
        for frame in frames:
            small = cv2.resize(frame, self.size[::-1], interpolation=cv2.INTER_AREA)
            ycc = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb).astype(np.float32) - 128.0  # [32, 32, 3]
            for ch in range(3):
                parts.append(cv2.dct(np.ascontiguousarray(ycc[..., ch]))[: self.k, : self.k].ravel())
        v = np.concatenate(parts).astype(np.float32)  # [frames * 3 * k * k]
        return v / max(float(np.linalg.norm(v)), 1e-8)


class HFImageEmbedder:
    """Mean pooled image features of a `transformers` vision model from a local folder."""

    def __init__(self, model: str):
        import torch
        from transformers import AutoImageProcessor, AutoModel

        self.torch = torch
        self.processor = AutoImageProcessor.from_pretrained(model, local_files_only=True)
        self.model = AutoModel.from_pretrained(model, local_files_only=True).eval()

    def embed(self, frames: np.ndarray) -> np.ndarray:
        inputs = self.processor(images=list(frames), return_tensors="pt")
        with self.torch.no_grad():
            if hasattr(self.model, "get_image_features"):
                feats = self.model.get_image_features(**inputs)  # [N, D]
                feats = getattr(feats, "pooler_output", feats)
            else:
                out = self.model(**inputs)
                feats = getattr(out, "pooler_output", None)
                if feats is None:
                    feats = out.last_hidden_state.mean(1)  # [N, D]
        v = feats.float().mean(0).numpy()
        return v / max(float(np.linalg.norm(v)), 1e-8)


class TokenizerEmbedder:
    """Pooled latents of a continuous `CausalTokenizer` checkpoint, per frame, concatenated."""

    def __init__(self, checkpoint: str, size: tuple[int, int] = (64, 64)):
        import torch

        self.torch, self.size = torch, size
        self.model = CausalTokenizer.from_pretrained(checkpoint)
        if self.model.discrete:
            raise WorldsmithError(
                f"embed.model '{checkpoint}' is a discrete tokenizer; use a continuous (CV/CI) one"
            )

    def embed(self, frames: np.ndarray) -> np.ndarray:

        x = to_model(
            resize_center_crop(self.torch.from_numpy(np.ascontiguousarray(frames)), self.size)
        )  # [3, N, H, W]
        x = x.permute(1, 0, 2, 3).unsqueeze(2)  # [N, 3, 1, H, W]: each frame a one-frame clip
        with self.torch.no_grad():
            z = self.model.encode(x)  # [N, C, 1, h, w]
        v = z.float().mean(dim=(2, 3, 4)).flatten().numpy()  # [N * C]
        return v / max(float(np.linalg.norm(v)), 1e-8)


class EmbedStage(ClipStage):
    name = "embed"
    resources = Resources(cpus=1.0)

    def __init__(self, config: EmbedConfig | None = None):
        self.config = config or EmbedConfig()
        self.embedder: Embedder | None = None

    def setup(self) -> None:
        if self.embedder is None:
            c = self.config
            makers = {
                "perceptual": lambda: PerceptualEmbedder(c.dct_size),
                "hf": lambda: HFImageEmbedder(c.model),
                "tokenizer": lambda: TokenizerEmbedder(c.model),
            }
            self.embedder = makers[c.backend]()

    def process_clip(self, clip: ClipTask) -> None:

        self.setup()
        size = PerceptualEmbedder.size if self.config.backend == "perceptual" else None
        count = self.config.frames
        picked = clip_frames(clip, every=max(1, clip.num_frames // count), limit=count)  # spread evenly
        if not picked:
            raise ValueError(f"clip '{clip.path}' has no frames to embed")
        frames = np.stack([to_rgb(f, size) for f in picked])  # [N, h, w, 3]
        clip.embedding = [round(float(x), 6) for x in self.embedder.embed(frames)]
