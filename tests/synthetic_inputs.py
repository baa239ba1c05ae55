"""Synthetic inputs shared by the command-line tests: a moving-square clip and tiny random tokenizers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def moving_square(T: int, H: int, W: int, shift: int) -> np.ndarray:
    """uint8 ``[T, H, W, 3]``: an orange 12x12 square moving 2 px a frame over grey."""
    frames = np.full((T, H, W, 3), 40, np.uint8)
    for t in range(T):
        x = (shift + 2 * t) % (W - 12)
        frames[t, 10:22, x : x + 12] = (220, 80, 30)
    return frames


def save_tokenizers(root: Path, **presets: str) -> None:
    """Random-init tokenizers (seed 0, in the order given) saved at ``root/<name>``, e.g.
    ``save_tokenizers(root, tok="tiny-cv4x8x8")``."""
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

    torch.manual_seed(0)
    for name, preset in presets.items():
        CausalTokenizer(get_preset(preset)).save_pretrained(Path(root) / name)
