"""An AR world model on disk: the GPT, the DV tokenizer that made its tokens, and how to feed it.

Layout of a bundle directory (what ``worldsmith train ar`` writes to ``OUT/model``)::

    config.json, model.safetensors    the GPT (`GPT.save_pretrained`)
    tokenizer/                        the discrete tokenizer (`CausalTokenizer.save_pretrained`)
    world.json                        frames, size, fps and text encoder of the training clips
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worldsmith import fs
from worldsmith.autoregressive.gpt import GPT
from worldsmith.config import check, from_dict, read_file, to_dict
from worldsmith.errors import CheckpointError
from worldsmith.tokenizers.model import CausalTokenizer


@dataclass(frozen=True, kw_only=True)
class ARSpec:
    frames: int  # video frames per training clip (1 + k * s_t)
    size: tuple[int, int]  # (H, W) pixels the clips were resized/cropped to
    fps: float = 24.0
    text_encoder: str = "none"  # minilm | t5:<dir> | none

    def __post_init__(self) -> None:
        check(self.frames >= 1, "frames", self.frames, "must be >= 1")
        check(all(s > 0 for s in self.size), "size", self.size, "must be positive")


@dataclass
class ARWorld:
    gpt: GPT
    tokenizer: CausalTokenizer
    spec: ARSpec

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        with fs.atomic_dir(path) as tmp:
            self.gpt.save_pretrained(tmp / "gpt")
            for f in ("config.json", "model.safetensors"):
                (tmp / "gpt" / f).rename(tmp / f)
            (tmp / "gpt").rmdir()
            self.tokenizer.save_pretrained(tmp / "tokenizer")
            fs.write_json(tmp / "world.json", to_dict(self.spec))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, *, map_location: str = "cpu") -> ARWorld:
        path = Path(path)
        if not (path / "world.json").is_file() or not (path / "tokenizer").is_dir():
            raise CheckpointError(
                f"'{path}' is not an AR world model (needs world.json, tokenizer/, config.json, "
                f"model.safetensors); pass the OUT/model folder written by `worldsmith train ar`"
            )
        gpt = GPT.from_pretrained(path, map_location=map_location).eval()
        tokenizer = CausalTokenizer.from_pretrained(path / "tokenizer", map_location=map_location).eval()
        return cls(gpt, tokenizer, from_dict(ARSpec, read_file(path / "world.json")))
