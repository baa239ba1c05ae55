"""Named tokenizer architectures: the Cosmos-1.0 suite at its published widths, and `tiny-*` twins.

Names follow Cosmos: C/D = continuous/discrete, V/I = video/image, then the compression
``T x H x W`` (video) or ``H x W`` (image). Published widths (Cosmos-Tokenizer configs):
base 128 channels, multipliers (2, 4, 4), 2 ResBlocks per level, attention at resolution 32 of
1024, Haar patch 4; 16 latent channels for CV/CI; 256 channels before a 6-channel FSQ
(levels 8, 8, 8, 5, 5, 5 = 64,000 codes) for DV/DI. `tiny-*` keep everything but the widths
(32/64) and, for DV/DI, the vocabulary: FSQ levels 8, 5, 5, 5 = 1,000 codes (the FSQ paper's
choice for ~2^10 codes, Mentzer et al. 2023, Sec. 4.1), so that an AR model on their tokens is tiny
too: with 64,000 codes the tiny GPT's embedding and output layers held 16M of its 17M parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from worldsmith.errors import ConfigError
from worldsmith.tokenizers.model import TokenizerConfig

_ENC = (128, 256, 512, 512)
_DEC = (256, 512, 512, 512)
_TINY_ENC = (32, 64, 64, 64)
_TINY_DEC = (32, 64, 64, 64)
TINY_FSQ_LEVELS = (8, 5, 5, 5)  # 1,000 codes


def _make(kind: str, t: int, s: int) -> Callable[[], TokenizerConfig]:
    def preset() -> TokenizerConfig:
        return TokenizerConfig(
            kind=kind,  # type: ignore[arg-type]
            latent_channels=16 if kind == "continuous" else 256,
            encoder_channels=_ENC,
            decoder_channels=_DEC,
            temporal_compression=t,
            spatial_compression=s,
        )

    return preset


def _tiny(full: Callable[[], TokenizerConfig]) -> Callable[[], TokenizerConfig]:
    def preset() -> TokenizerConfig:
        c = full()
        return replace(
            c,
            encoder_channels=_TINY_ENC,
            decoder_channels=_TINY_DEC,
            latent_channels=16 if c.kind == "continuous" else 64,
            fsq_levels=c.fsq_levels if c.kind == "continuous" else TINY_FSQ_LEVELS,
        )

    return preset


_PUBLISHED: dict[str, Callable[[], TokenizerConfig]] = {
    "CV4x8x8": _make("continuous", 4, 8),
    "CV8x8x8": _make("continuous", 8, 8),
    "CV8x16x16": _make("continuous", 8, 16),
    "DV4x8x8": _make("discrete", 4, 8),
    "DV8x8x8": _make("discrete", 8, 8),
    "DV8x16x16": _make("discrete", 8, 16),
    "CI8x8": _make("continuous", 1, 8),
    "CI16x16": _make("continuous", 1, 16),
    "DI8x8": _make("discrete", 1, 8),
    "DI16x16": _make("discrete", 1, 16),
}

# Every preset, in one visible dict: name -> function returning its config.
PRESETS: dict[str, Callable[[], TokenizerConfig]] = {
    **_PUBLISHED,
    **{f"tiny-{name.lower()}": _tiny(fn) for name, fn in _PUBLISHED.items()},
}


def get_preset(name: str) -> TokenizerConfig:
    """The config of preset `name` (case-insensitive)."""
    by_lower = {k.lower(): fn for k, fn in PRESETS.items()}
    if name.lower() not in by_lower:
        raise ConfigError(f"unknown tokenizer preset '{name}'; choose one of: {', '.join(PRESETS)}")
    return by_lower[name.lower()]()
