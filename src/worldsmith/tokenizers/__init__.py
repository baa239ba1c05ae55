"""Cosmos-style causal video tokenizers: continuous (CV/CI) and discrete FSQ (DV/DI)."""

from worldsmith.tokenizers.model import CausalTokenizer, TokenizerConfig, TokenizerInputError
from worldsmith.tokenizers.presets import PRESETS, get_preset

__all__ = ["PRESETS", "CausalTokenizer", "TokenizerConfig", "TokenizerInputError", "get_preset"]
