"""What every demo stage shares: the run's context and readers of earlier stages' outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith.demo.config import DemoConfig
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.video.transforms import to_model


@dataclass
class Context:
    out: Path
    cfg: DemoConfig
    seed: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def dir(self, stage: str) -> Path:
        path = self.out / stage
        path.mkdir(parents=True, exist_ok=True)
        return path


def load_split(out: Path, name: str) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """(arrays, per-episode metadata) of a held-out split written by `stage_sim`."""
    folder = out / "sim"
    with np.load(folder / f"{name}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads((folder / f"{name}.json").read_text())


def load_clips(out: Path) -> tuple[torch.Tensor, list[str]]:
    """The curated training clips ``[N, 3, T, H, W]`` in [-1, 1] and their captions."""
    with np.load(out / "curate" / "clips.npz") as data:
        clips = torch.from_numpy(data["clips"])  # [N, T, H, W, 3] uint8
    x = torch.stack([to_model(c) for c in clips])  # [N, 3, T, H, W] in [-1, 1]
    return x, json.loads((out / "curate" / "clips.json").read_text())


def load_tokenizer(out: Path) -> CausalTokenizer:
    return CausalTokenizer.from_pretrained(out / "tokenizer" / "model")


@torch.no_grad()
def encode(tok: CausalTokenizer, x: torch.Tensor, batch: int = 4) -> torch.Tensor:
    return torch.cat([tok.encode(x[i : i + batch]) for i in range(0, len(x), batch)])
