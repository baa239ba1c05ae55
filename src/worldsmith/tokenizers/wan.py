"""The Wan 2.1 VAE (the tokenizer of Cosmos Predict 2 / 2.5) behind worldsmith's Tokenizer seam.

Cosmos 2.x diffuses in the latent space of Wan 2.1's causal video VAE (Wan team 2025, arXiv
2503.20314): 16 channels, 4x in time, 8x in space, the first frame encoded on its own, so a clip of
``1 + 4k`` frames gives ``1 + k`` latent frames. diffusers implements it as ``AutoencoderKLWan``;
we wrap it rather than re-implement it (same weights, same numbers by construction; the model's
causal cache runs inside diffusers). What the wrapper adds:

* the seam: ``encode(x [B, 3, T, H, W] in [-1, 1]) -> z [B, 16, T', h, w]`` (the posterior mode, raw,
  as Cosmos' pipelines take it) and ``decode(z) -> x``; ``config`` answers the compressions the
  pipelines ask for; clear errors for bad shapes;
* the latent normalisation ``(z - mean) / std`` with the VAE's published per-channel statistics
  (`normalize` / `denormalize`; world models store the same numbers in `WorldSpec`);
* spatial tiling with worldsmith's linear-ramp blending (`tiling._tiled`) for frames too large to
  encode in one piece; time is streamed causally by the VAE itself, chunk by chunk (1, 4, 4, ...).

Checkpoints are diffusers' own ``vae/`` folder (``config.json`` + safetensors), loaded with
`WanTokenizer.from_pretrained`; `tokenizers.load_tokenizer` picks this class for such a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from worldsmith import fs
from worldsmith.errors import CheckpointError
from worldsmith.tokenizers.config import TokenizerInputError
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.tiling import _tiled


@dataclass(frozen=True, kw_only=True)
class WanInfo:
    """What pipelines read from a tokenizer's ``config`` (the VAE's own config stays diffusers')."""

    latent_channels: int
    temporal_compression: int
    spatial_compression: int
    latents_mean: tuple[float, ...]
    latents_std: tuple[float, ...]
    kind: str = "continuous"


class WanTokenizer(nn.Module):
    """``AutoencoderKLWan`` behind the Tokenizer seam (continuous, causal, 4x8x8 by default)."""

    discrete = False

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae.eval()
        c = vae.config
        spatial = 2 ** len(c.temperal_downsample) * (c.patch_size or 1)
        self.config = WanInfo(
            latent_channels=c.z_dim, temporal_compression=2 ** sum(c.temperal_downsample),
            spatial_compression=spatial, latents_mean=tuple(c.latents_mean), latents_std=tuple(c.latents_std),
        )  # fmt: skip

    def check_input(self, x: torch.Tensor) -> None:
        c = self.config
        st, s = c.temporal_compression, c.spatial_compression
        if x.ndim != 5 or x.shape[1] != 3 or (x.shape[2] - 1) % st or x.shape[3] % s or x.shape[4] % s:
            raise TokenizerInputError(
                f"the Wan VAE takes [B, 3, 1 + {st}k, H, W] video with H and W multiples of {s}, got "
                f"{tuple(x.shape)}; trim the clip to 1 + {st}k frames and resize"
            )

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 1 + 4k, H, W]`` -> raw latents ``[B, 16, 1 + k, H/8, W/8]`` (the posterior mode)."""
        self.check_input(x)
        return self.vae.encode(x.to(self.vae.dtype)).latent_dist.mode().float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latents ``[B, 16, T', h, w]`` -> video ``[B, 3, 1 + 4 (T' - 1), 8h, 8w]`` in about [-1, 1]."""
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            want = f"[B, {self.config.latent_channels}, T', h, w]"
            raise TokenizerInputError(f"the Wan VAE decodes {want} latents, got {tuple(z.shape)}")
        return self.vae.decode(z.to(self.vae.dtype)).sample.float()

    def _stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        mean = torch.tensor(self.config.latents_mean, device=z.device, dtype=z.dtype).view(shape)
        return mean, torch.tensor(self.config.latents_std, device=z.device, dtype=z.dtype).view(shape)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """``(z - mean) / std`` per channel: the space Cosmos 2.x diffuses in (sigma_data = 1)."""
        mean, std = self._stats(z)
        return (z - mean) / std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(z)
        return z * std + mean

    def encode_tiled(self, x: torch.Tensor, *, tile: int = 256, overlap: int = 64) -> torch.Tensor:
        """`encode` in (tile x tile)-pixel tiles blended with linear ramps (`tiling._tiled`)."""
        self.check_input(x)
        s = self.config.spatial_compression
        return _tiled(self.encode, x, tile, overlap, s, 1 / s)

    def decode_tiled(self, z: torch.Tensor, *, tile: int = 32, overlap: int = 8) -> torch.Tensor:
        """`decode` in (tile x tile)-latent tiles blended with linear ramps."""
        return _tiled(self.decode, z, tile, overlap, 1, self.config.spatial_compression)

    def save_pretrained(self, path: str | Path) -> Path:
        """diffusers' own layout (``config.json`` + safetensors), written atomically."""
        with fs.atomic_dir(path) as tmp:
            self.vae.save_pretrained(tmp, safe_serialization=True)
        return Path(path)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, map_location: str = "cpu") -> WanTokenizer:
        # diffusers is an optional heavy dependency: imported only when a Wan VAE is loaded.
        try:
            from diffusers import AutoencoderKLWan
        except ImportError:
            raise CheckpointError(
                f"'{path}' is a Wan VAE; reading it needs diffusers: pip install diffusers"
            ) from None
        try:
            vae = AutoencoderKLWan.from_pretrained(str(path), use_safetensors=True)
        except (OSError, ValueError) as err:
            raise CheckpointError(f"'{path}' is not a readable AutoencoderKLWan folder ({err})") from None
        return cls(vae.to(map_location))


def load_tokenizer(path: str | Path, *, map_location: str = "cpu"):
    """The tokenizer in folder `path`: a Wan VAE saved by diffusers (`WanTokenizer`) or a Cosmos
    tokenizer (`CausalTokenizer`: ours, or a diffusers ``AutoencoderKLCosmos`` folder), in eval mode."""
    import json

    config = Path(path) / "config.json"
    name = json.loads(config.read_text()).get("_class_name") if config.is_file() else None
    if name == "AutoencoderKLWan":
        return WanTokenizer.from_pretrained(path, map_location=map_location)
    return CausalTokenizer.from_pretrained(path, map_location=map_location).eval()
