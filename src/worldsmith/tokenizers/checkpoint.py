"""Tokenizer checkpoints: a folder with ``config.json`` + ``model.safetensors`` (written atomically).

`load_pretrained` also reads a diffusers `AutoencoderKLCosmos` folder (NVIDIA's released CV
weights) through `convert.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from worldsmith import config as cfg
from worldsmith import fs
from worldsmith.errors import CheckpointError, ConfigError
from worldsmith.tokenizers.model import CausalTokenizer, TokenizerConfig

FORMAT = "worldsmith.tokenizer/1"


def save_pretrained(
    model: CausalTokenizer, path: str | Path, *, extras: dict[str, Any] | None = None
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` under `path` (replaced whole, atomically)."""
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with fs.atomic_dir(path) as tmp:
        fs.write_json(
            tmp / "config.json", {"format": FORMAT, "config": cfg.to_dict(model.config), **(extras or {})}
        )
        save_file(state, str(tmp / "model.safetensors"))
    return path


def read_checkpoint(path: str | Path) -> tuple[TokenizerConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """(config, state dict, extras) from one of our folders or a diffusers folder."""
    from worldsmith.tokenizers.convert import is_diffusers_dir, read_diffusers_dir

    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"tokenizer checkpoint '{path}' has no config.json; pass a folder written by "
            "`worldsmith tokenizer train` or a diffusers AutoencoderKLCosmos folder"
        )
    if is_diffusers_dir(path):
        return read_diffusers_dir(path)
    try:
        meta = json.loads((path / "config.json").read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"'{path / 'config.json'}' is not valid JSON: {err}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path / 'config.json'}' is not a worldsmith tokenizer config (format {FORMAT})"
        )
    try:
        config = cfg.from_dict(TokenizerConfig, meta["config"])
    except ConfigError as err:
        raise CheckpointError(f"'{path / 'config.json'}': {err}") from None
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"tokenizer checkpoint '{path}' has no model.safetensors")
    extras = {k: v for k, v in meta.items() if k not in ("format", "config")}
    return config, load_file(str(weights)), extras


def load_pretrained(path: str | Path, *, map_location: str | torch.device = "cpu") -> CausalTokenizer:
    config, state, _ = read_checkpoint(path)
    model = CausalTokenizer(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint '{path}' does not match its config: missing {sorted(missing)[:4]}"
            f"{'...' if len(missing) > 4 else ''}, unexpected {sorted(unexpected)[:4]}"
            f"{'...' if len(unexpected) > 4 else ''}"
        )
    return model.to(map_location).eval()
