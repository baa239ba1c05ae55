"""In-memory training samples with optional per-sample prompt embeddings."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class PromptedDataset(Dataset):
    """Rows of `values` under the key `key` (+ ``text [S, D]`` and ``text_mask [S]``) per item.

    Subclasses name the key: the diffusion recipe's latents, the AR recipe's token indices.
    """

    key = "values"

    def __init__(
        self, values: torch.Tensor, text: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ):
        self.values, self.text, self.mask = values, text, mask

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {self.key: self.values[i]}
        if self.text is not None:
            item["text"], item["text_mask"] = self.text[i], self.mask[i]
        return item
