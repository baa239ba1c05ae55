"""The one checkpoint format every worldsmith model uses: a directory with two files.

    config.json        {"model": "<type>", "format_version": 1, "config": {...}, ...sections}
    model.safetensors  the state dict (tied weights stored once per name, re-tied by the module)

`Pretrained` is the mixin behind every model's `save_pretrained(dir)` / `from_pretrained(dir)`
(DiT, GPT, Medusa heads, tokenizer, refiner, diffusion decoder). Writes are atomic: the directory is
built beside the target and renamed over it, so a crash never leaves half a checkpoint. Loading is
strict: a mismatch names the file and the missing, unexpected or mis-shaped keys.

Checkpoints written before this format (a flat config with a "model" key; the tokenizer's
``worldsmith.tokenizer/1``; the refiner's ``refiner.json``) still load: each model class upgrades
its own old layout in `upgrade_meta` / `read_checkpoint`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from worldsmith import config as cfg
from worldsmith import fs
from worldsmith.errors import CheckpointError, ConfigError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def unshare(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights): give each its own contiguous copy."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        v = v.detach().contiguous().cpu()
        ptr = v.untyped_storage().data_ptr()
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def save_weights(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Write a state dict to a safetensors file atomically."""
    with fs.atomic_path(path) as tmp:
        save_file(unshare(state), str(tmp), metadata={"format": "pt"})
    return Path(path)


def load_weights_file(
    path: str | Path, *, map_location: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"'{path}' is missing; pass a checkpoint directory written by save_pretrained")
    try:
        return load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"'{path}' is not a readable safetensors file ({err}); re-export it") from None


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], where: str | Path) -> nn.Module:
    """Load `state` into `model`, or raise `CheckpointError` naming missing/unexpected/mis-shaped keys."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
        if bad:
            parts.append(f"shape of '{bad[0]}' is {tuple(state[bad[0]].shape)}, the config gives "
                         f"{tuple(own[bad[0]].shape)}")  # fmt: skip
        raise CheckpointError(
            f"checkpoint '{where}' does not match {type(model).__name__}'s config: {'; '.join(parts)}"
        )
    model.load_state_dict(state)
    return model


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"'{path}' is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"'{path}' must hold a JSON object")
    return data


class Pretrained:
    """Mixin for an `nn.Module` built from one frozen config dataclass.

    A subclass sets `model_type` (the "model" key in config.json) and `config_class`, and keeps its
    config in the attribute named by `config_attr`. A model built from more than one config
    overrides `checkpoint_sections` / `from_sections`; one with an older on-disk layout overrides
    `upgrade_meta` (or `read_checkpoint` when the files themselves had other names).
    """

    model_type: ClassVar[str]
    config_class: ClassVar[type]
    config_attr: ClassVar[str] = "config"

    # -- what goes into config.json ------------------------------------------------------------

    def checkpoint_sections(self) -> dict[str, Any]:
        return {"config": cfg.to_dict(getattr(self, self.config_attr))}

    @classmethod
    def from_sections(cls, meta: dict[str, Any]):
        return cls(cfg.from_dict(cls.config_class, meta["config"]))

    @classmethod
    def upgrade_meta(cls, meta: dict[str, Any], path: Path) -> dict[str, Any]:
        """An older config.json (no format_version) in today's layout. Default: the flat layout
        ``{"model": type, **config}`` that DiT, GPT and Medusa heads wrote before format 1."""
        rest = {k: v for k, v in meta.items() if k != "model"}
        return {"model": meta.get("model", cls.model_type), "format_version": FORMAT_VERSION, "config": rest}

    @classmethod
    def read_checkpoint(cls, path: Path, *, map_location: str | torch.device = "cpu"
                        ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:  # fmt: skip
        """(config.json in today's layout, state dict) of checkpoint directory `path`. A model whose
        older checkpoints had other files (or that reads a foreign layout) overrides this."""
        if not (path / CONFIG_FILE).is_file():
            raise CheckpointError(
                f"'{path}' is not a {cls.model_type} checkpoint: it has no {CONFIG_FILE} "
                f"(pass a directory written by save_pretrained)"
            )
        meta = read_json(path / CONFIG_FILE)
        if "format_version" not in meta:
            meta = cls.upgrade_meta(meta, path)
        return meta, load_weights_file(path / WEIGHTS_FILE, map_location=map_location)

    # -- save / load ---------------------------------------------------------------------------

    def save_pretrained(self, path: str | Path, *, extras: dict[str, Any] | None = None,
                        state: dict[str, torch.Tensor] | None = None,
                        children: dict[str, Pretrained] | None = None) -> Path:  # fmt: skip
        """Write `path`/config.json + model.safetensors, replacing `path` whole and atomically.

        `extras` are further JSON sections; `state` overrides the module's own state dict (e.g. the
        gathered weights of a sharded model); `children` are checkpoints saved in sub-directories
        of the same atomic write (e.g. a decoder's tokenizer)."""
        assert isinstance(self, nn.Module)
        meta = {"model": self.model_type, "format_version": FORMAT_VERSION, **self.checkpoint_sections()}
        with fs.atomic_dir(path) as tmp:
            fs.write_json(tmp / CONFIG_FILE, {**meta, **(extras or {})})
            save_file(unshare(self.state_dict() if state is None else state), str(tmp / WEIGHTS_FILE),
                      metadata={"format": "pt"})  # fmt: skip
            for name, child in (children or {}).items():
                child.save_pretrained(tmp / name)
        return Path(path)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, map_location: str | torch.device = "cpu"):
        """Build the model from `path`/config.json and load its weights strictly."""
        path = Path(path)
        meta, state = cls.read_checkpoint(path, map_location=map_location)
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CheckpointError(
                f"'{path / CONFIG_FILE}' has format_version {version!r}; this worldsmith reads up to "
                f"{FORMAT_VERSION}: upgrade worldsmith"
            )
        if meta.get("model") != cls.model_type:
            raise CheckpointError(
                f"'{path / CONFIG_FILE}' describes a '{meta.get('model')}', not a {cls.model_type}; "
                f"pass a {cls.model_type} checkpoint"
            )
        try:
            model = cls.from_sections(meta)
        except (ConfigError, KeyError, TypeError) as err:
            raise CheckpointError(f"'{path / CONFIG_FILE}': {err}") from None
        load_strict(model, state, path)
        return model.to(
            map_location
        ).eval()  # inference mode, as transformers does; the Trainer calls train()
