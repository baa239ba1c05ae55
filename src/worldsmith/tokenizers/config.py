"""The tokenizer's architecture config (Cosmos CV/DV/CI/DI), apart from the model so that the
converters and checkpoint readers can use it without importing the network."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from worldsmith import config as cfg
from worldsmith.errors import WorldsmithError


class TokenizerInputError(WorldsmithError, ValueError):
    """A video given to a tokenizer has the wrong shape or frame count."""


def _log2(n: int) -> int:
    return int(round(math.log2(n)))


@dataclass(frozen=True, kw_only=True)
class TokenizerConfig:
    """Architecture of a causal tokenizer (defaults: Cosmos CV8x8x8 at its published widths)."""

    kind: Literal["continuous", "discrete"] = "continuous"
    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 16  # encoder output z (continuous latent; 256 before FSQ for DV/DI)
    encoder_channels: tuple[int, ...] = (128, 256, 512, 512)
    decoder_channels: tuple[int, ...] = (256, 512, 512, 512)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (32,)
    resolution: int = 1024  # nominal input size that, with the above, decides which levels attend
    patch_size: int = 4
    spatial_compression: int = 8
    temporal_compression: int = 8  # 1 = image tokenizer
    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
    # Not in Cosmos (off for its weights): a fixed low-pass path around the networks, in the spirit of
    # DC-AE's residual autoencoding (arXiv 2410.10733). The first `in_channels` code channels get the
    # causal block mean of the input (s_t x s x s), and the decoder adds that mean, upsampled, to its
    # output. At initialisation the tokenizer is then a naive codec; training learns the residual.
    lowpass_shortcut: bool = False

    def __post_init__(self) -> None:
        for key in ("in_channels", "out_channels", "latent_channels", "num_res_blocks", "resolution"):
            cfg.check(getattr(self, key) > 0, key, getattr(self, key), "must be positive")
        for key in ("patch_size", "spatial_compression", "temporal_compression"):
            v = getattr(self, key)
            cfg.check(v >= 1 and v & (v - 1) == 0, key, v, "must be a power of two")
        cfg.check(
            self.spatial_compression >= self.patch_size,
            "spatial_compression",
            self.spatial_compression,
            f"must be >= patch_size {self.patch_size}",
        )
        cfg.check(
            self.temporal_compression in (1,) or self.temporal_compression >= self.patch_size,
            "temporal_compression",
            self.temporal_compression,
            f"must be 1 (image) or >= patch_size {self.patch_size}",
        )
        for key in ("encoder_channels", "decoder_channels"):
            v = getattr(self, key)
            cfg.check(len(v) >= 2 and all(c > 0 for c in v), key, v, "must list >= 2 positive widths")
        cfg.check(
            len(self.encoder_channels) == len(self.decoder_channels),
            "decoder_channels",
            self.decoder_channels,
            "must have as many entries as encoder_channels",
        )
        cfg.check(
            not self.lowpass_shortcut
            or (self.code_channels >= self.in_channels and self.in_channels == self.out_channels),
            "lowpass_shortcut",
            self.lowpass_shortcut,
            f"needs in_channels == out_channels and at least {self.in_channels} code channels",
        )
        cfg.check(
            all(n >= 3 for n in self.fsq_levels) and len(self.fsq_levels) > 0,
            "fsq_levels",
            self.fsq_levels,
            "must be a non-empty list of integers >= 3",
        )
        slots = len(self.encoder_channels) - 2
        down, up = self.down_flags(), self.up_flags()
        for name, flags in (("encoder", down), ("decoder", up)):
            n_s, n_t = sum(s for s, _ in flags), sum(t for _, t in flags)
            if (n_s, n_t) != (self.num_spatial_layers, self.num_temporal_layers):
                raise cfg.ConfigError(
                    f"config: {name} with {len(self.encoder_channels)} widths ({slots} resampling levels) "
                    f"cannot reach spatial x{self.spatial_compression} / "
                    f"temporal x{self.temporal_compression} "
                    f"with patch_size {self.patch_size}; add widths to encoder_channels/decoder_channels"
                )

    @property
    def video(self) -> bool:
        return self.temporal_compression > 1

    @property
    def num_spatial_layers(self) -> int:
        return _log2(self.spatial_compression) - _log2(self.patch_size)

    @property
    def num_temporal_layers(self) -> int:
        return _log2(self.temporal_compression) - _log2(self.patch_size) if self.video else 0

    @property
    def patch_channels(self) -> int:
        return self.in_channels * self.patch_size ** (3 if self.video else 2)

    @property
    def code_channels(self) -> int:
        """Channels of what leaves the bottleneck: the latent (continuous) or FSQ codes (discrete)."""
        return self.latent_channels if self.kind == "continuous" else len(self.fsq_levels)

    def down_flags(self) -> list[tuple[bool, bool]]:
        """(spatial, temporal) downsampling of each encoder level but the last."""
        n_s, n_t = self.num_spatial_layers, self.num_temporal_layers
        return [(i < n_s, i < n_t) for i in range(len(self.encoder_channels) - 2)]

    def up_flags(self) -> list[tuple[bool, bool]]:
        """(spatial, temporal) upsampling of each decoder level but the last.

        Released weights put temporal upsampling on levels 1..n_t and spatial upsampling there
        too, plus on the early levels when space is compressed more than time.
        """
        n_s, n_t = self.num_spatial_layers, self.num_temporal_layers
        flags = []
        for i in range(len(self.decoder_channels) - 2):
            temporal = 0 < i < n_t + 1
            flags.append((temporal or (i < n_s and n_s > n_t), temporal))
        return flags

    def encoder_attention(self) -> list[bool]:
        res, out = self.resolution // self.patch_size, []
        for i in range(len(self.encoder_channels) - 1):
            out.append(res in self.attention_resolutions)
            res = res // 2 if i < len(self.encoder_channels) - 2 else res
        return out

    def decoder_attention(self) -> list[bool]:
        res, out = (self.resolution // self.patch_size) // 2 ** (len(self.decoder_channels) - 2), []
        for i in range(len(self.decoder_channels) - 1):
            out.append(res in self.attention_resolutions)
            res = res * 2 if i < len(self.decoder_channels) - 2 else res
        return out

    @property
    def compression_ratio(self) -> float:
        """Input values per latent value (uint8 pixels per float latent, per FSQ index for DV)."""
        per_latent = self.latent_channels if self.kind == "continuous" else 1
        return self.in_channels * self.temporal_compression * self.spatial_compression**2 / per_latent
