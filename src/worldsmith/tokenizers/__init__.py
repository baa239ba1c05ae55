"""Cosmos-style causal video tokenizers: continuous (CV/CI) and discrete FSQ (DV/DI)."""

from worldsmith.tokenizers.model import CausalTokenizer, TokenizerConfig, TokenizerInputError
from worldsmith.tokenizers.presets import PRESETS, get_preset

__all__ = ["PRESETS", "CausalTokenizer", "TokenizerConfig", "TokenizerInputError", "demo_train", "get_preset"]


def demo_train(*args, **kwargs):
    """See `worldsmith.tokenizers.train.demo_train` (imported lazily: it pulls in the Trainer)."""
    from worldsmith.tokenizers.train import demo_train as _demo_train

    return _demo_train(*args, **kwargs)
