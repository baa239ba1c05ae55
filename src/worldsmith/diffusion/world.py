"""A trained diffusion world model on disk: the DiT, its latent statistics, tokenizer and text encoder.

Layout of a world-model directory (written atomically)::

    world.json        WorldSpec: latent mean/std per channel, trained latent size, fps, text encoder,
                      noise family (EDM or rectified flow) and its constants
    dit/              DiT checkpoint (config.json + model.safetensors)
    tokenizer/        the continuous tokenizer that made the latents (optional; needed to decode video)

Latents are normalised as Cosmos does before diffusion: ``(z - mean) / std * sigma_data`` per
channel, so the data the EDM sees has standard deviation sigma_data (Karras et al. 2022, Sec. 5);
a rectified-flow model (Cosmos 2.x) uses sigma_data = 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from worldsmith import fs
from worldsmith.config import check, from_dict, read_file, to_dict
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.flow import FlowConfig
from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.video.transforms import to_model, to_uint8


@dataclass(frozen=True, kw_only=True)
class WorldSpec:
    latent_mean: tuple[float, ...]  # per channel [C], or per channel and latent frame [C * F] (Cosmos VAE)
    latent_std: tuple[float, ...]
    latent_size: tuple[int, int, int]  # (T, H, W) of the latent clips it was trained on
    fps: float = 24.0  # frame rate of the training video (for writing generated clips)
    model_fps: float | None = None  # fps given to the DiT's temporal RoPE clock (Cosmos-1.0: the video fps)
    text_encoder: str = "minilm"  # `worldsmith.text.encoders.load_text_encoder` spec, or "none"
    family: Literal["edm", "flow"] = "edm"  # the noise family the DiT was trained in
    edm: EDMConfig = field(default_factory=EDMConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)

    @property
    def noise(self) -> EDMConfig | FlowConfig:
        """The config of the model's noise family (what every sampler and loss is given)."""
        return self.flow if self.family == "flow" else self.edm

    def __post_init__(self) -> None:
        check(
            len(self.latent_mean) == len(self.latent_std),
            "latent_std",
            self.latent_std,
            "must match latent_mean",
        )
        check(all(s > 0 for s in self.latent_std), "latent_std", self.latent_std, "must be positive")


def latent_stats(latents: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of latents ``[N, C, T, H, W]``."""
    z = latents.transpose(0, 1).reshape(latents.shape[1], -1).double()  # [C, N*T*H*W]
    return tuple(z.mean(1).tolist()), tuple(z.std(1).clamp_min(1e-6).tolist())


def _stats(spec: WorldSpec, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent mean and std ``[1, C, 1 or T, 1, 1]`` of `spec` for latents `z` ``[B, C, T, H, W]``."""
    C, T = z.shape[1], z.shape[2]
    out = []
    for values in (spec.latent_mean, spec.latent_std):
        v = torch.tensor(values, device=z.device, dtype=z.dtype).view(1, C, -1, 1, 1)  # [1, C, F, 1, 1]
        if v.shape[2] > 1:
            if v.shape[2] < T:
                raise WorldsmithError(f"latent statistics cover {v.shape[2]} latent frames, got {T}")
            v = v[:, :, :T]
        out.append(v)
    return out[0], out[1]


class WorldModel:
    """DiT + `WorldSpec` (+ tokenizer): maps raw tokenizer latents to the EDM space and back."""

    def __init__(self, dit: DiT, spec: WorldSpec, tokenizer: torch.nn.Module | None = None):
        if len(spec.latent_mean) % dit.cfg.latent_channels:
            raise CheckpointError(
                f"world spec has {len(spec.latent_mean)} latent channels, the DiT {dit.cfg.latent_channels}"
            )
        self.dit, self.spec, self.tokenizer = dit, spec, tokenizer

    def _stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _stats(self.spec, z)

    @staticmethod
    def normalize_with(spec: WorldSpec, z: torch.Tensor) -> torch.Tensor:
        """`normalize` by `spec` before there is a DiT (e.g. to measure the training data)."""
        mean, std = _stats(spec, z)
        return (z - mean) / std * spec.noise.sigma_data

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latents ``[B, C, T, H, W]`` -> diffusion space (std ~ sigma_data)."""
        return self.normalize_with(self.spec, z)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return x / self.spec.noise.sigma_data * std + mean

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor, batch: int = 8) -> torch.Tensor:
        """uint8 clips ``[N, F, H, W, 3]`` -> diffusion-space latents ``[N, C, T, h, w]`` with the
        world's tokenizer, `batch` clips at a time (in-memory clips; a dataset goes through the
        latent cache, `worldsmith.data.encode_clips`)."""
        out = []
        for i in range(0, len(frames), batch):
            x = torch.stack([to_model(f) for f in frames[i : i + batch]])  # [b, 3, F, H, W]
            out.append(self.normalize(self._tokenizer().encode(x)))
        return torch.cat(out)

    @torch.no_grad()
    def decode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Diffusion-space latents ``[B, C, T, h, w]`` -> uint8 clips ``[B, F, H, W, 3]``."""
        decoded = self._tokenizer().decode(self.denormalize(x)).clamp(-1, 1)  # [B, 3, F, H, W]
        return torch.stack([to_uint8(d) for d in decoded])

    def _tokenizer(self) -> torch.nn.Module:
        if self.tokenizer is None:
            raise WorldsmithError("this world model has no tokenizer; load one with --tokenizer DIR")
        return self.tokenizer

    def save_pretrained(self, path: str | Path) -> Path:
        with fs.atomic_dir(path) as tmp:
            fs.write_json(tmp / "world.json", to_dict(self.spec))
            self.dit.save_pretrained(tmp / "dit")
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(tmp / "tokenizer")
        return Path(path)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, map_location: str = "cpu") -> WorldModel:
        path = Path(path)
        if not (path / "world.json").is_file():
            raise CheckpointError(
                f"'{path}' is not a world-model directory (no world.json); "
                "make one with `worldsmith train diffusion --out DIR` (it is written to DIR/model)"
            )
        spec = from_dict(WorldSpec, read_file(path / "world.json"))
        dit = DiT.from_pretrained(path / "dit", map_location=map_location).eval()
        tokenizer = None
        if (path / "tokenizer").is_dir():
            from worldsmith.tokenizers.wan import load_tokenizer

            tokenizer = load_tokenizer(path / "tokenizer", map_location=map_location)
        return cls(dit, spec, tokenizer)
