"""LoRA: low-rank adapters on a frozen base (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large
Language Models", arXiv 2106.09685).

A target linear layer ``h = W x`` becomes ``h = W x + (alpha / r) B A x`` (LoRA Eq. 3) with ``W``
frozen, ``A [r, in]`` drawn like a linear layer's weight and ``B [out, r]`` zero, so an adapted
model starts as the base exactly. Only ``A`` and ``B`` train; `merge_lora` folds ``(alpha / r) B A``
into ``W`` for export, leaving a plain model of the base's layout.

Why not `peft`: it would pull in `transformers` and `accelerate`, and our DiT's projections are
plain `nn.Linear` layers, so a 40-line layer covers it. `LoRALinear` *is* an `nn.Linear` with the
base's own ``weight``/``bias`` parameters, so a base checkpoint's keys load unchanged and the
adapter keys (``lora_A``, ``lora_B``) sit beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith import fs
from worldsmith.checkpoint import load_weights_file, save_weights
from worldsmith.config import check, from_dict, read_file, to_dict
from worldsmith.errors import CheckpointError, ConfigError

# Cosmos-Predict2's LoRA targets (q, k, v, output projections and both MLP layers), in our names:
# self-attention's fused qkv and out, and the MLP. Cross-attention to text is left out by default.
DEFAULT_TARGETS = ("self_attn.qkv", "self_attn.out", "mlp.fc1", "mlp.fc2")


@dataclass(frozen=True, kw_only=True)
class LoRAConfig:
    rank: int = 16
    alpha: float | None = None  # scale alpha / rank; None = rank (scale 1)
    targets: tuple[str, ...] = DEFAULT_TARGETS  # module-name suffixes to adapt

    def __post_init__(self) -> None:
        check(self.rank >= 1, "rank", self.rank, "must be >= 1")
        check(self.alpha is None or self.alpha > 0, "alpha", self.alpha, "must be positive")
        check(len(self.targets) > 0, "targets", self.targets, "must name at least one module")

    @property
    def scale(self) -> float:
        return (self.alpha if self.alpha is not None else self.rank) / self.rank


class LoRALinear(nn.Linear):
    """``F.linear(x, W, b) + scale * B (A x)`` around the base layer's own ``weight`` and ``bias``."""

    def __init__(self, base: nn.Linear, rank: int, scale: float, *, generator: torch.Generator | None = None):
        super().__init__(base.in_features, base.out_features, bias=False, device="meta")
        self.weight, self.bias = base.weight, base.bias  # shared, not copied
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype))
        # A as nn.Linear draws its weight (kaiming-uniform, a = sqrt(5)); B = 0 keeps the base output.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        self.scale, self.merged = scale, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        return y + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale  # [..., out]

    def delta(self) -> torch.Tensor:
        """``scale * B A``, the ``[out, in]`` update this adapter adds to ``W``."""
        return (self.lora_B @ self.lora_A) * self.scale

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.weight += self.delta().to(self.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.weight -= self.delta().to(self.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.lora_A.shape[0]}, scale={self.scale:g}"


def _targets(model: nn.Module, cfg: LoRAConfig) -> list[str]:
    names = [
        n
        for n, m in model.named_modules()
        if type(m) is nn.Linear and any(n == t or n.endswith("." + t) for t in cfg.targets)
    ]
    if not names:
        raise ConfigError(f"LoRA targets {list(cfg.targets)} match no linear layer of the model")
    return names


def add_lora(model: nn.Module, cfg: LoRAConfig, *, generator: torch.Generator | None = None) -> list[str]:
    """Freeze every parameter of `model`, then wrap its target linear layers in trainable adapters.
    Returns the adapted module names. Parameters of modules added to `model` later stay trainable."""
    model.requires_grad_(False)
    names = _targets(model, cfg)
    for name in names:
        parent, _, leaf = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, leaf, LoRALinear(getattr(owner, leaf), cfg.rank, cfg.scale, generator=generator))
    return names


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights only (``*.lora_A``, ``*.lora_B``)."""
    return {k: v for k, v in model.state_dict().items() if k.rsplit(".", 1)[-1] in ("lora_A", "lora_B")}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight and put plain `nn.Linear` layers back (in place)."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, device="meta")
        plain.weight, plain.bias = layer.weight, layer.bias
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, plain)
    return model


def save_adapter(model: nn.Module, cfg: LoRAConfig, path: str | Path) -> Path:
    """``adapter_config.json`` + ``adapter.safetensors`` (the adapters alone), written atomically."""
    with fs.atomic_dir(path) as tmp:
        fs.write_json(tmp / "adapter_config.json", {"adapter": "lora", **to_dict(cfg)})
        save_weights(tmp / "adapter.safetensors", lora_state_dict(model))
    return Path(path)


def load_adapter(model: nn.Module, path: str | Path) -> LoRAConfig:
    """Add the adapters saved at `path` to `model` (its base weights already loaded)."""
    path = Path(path)
    if not (path / "adapter_config.json").is_file() or not (path / "adapter.safetensors").is_file():
        raise CheckpointError(
            f"'{path}' is not a LoRA adapter (needs adapter_config.json and adapter.safetensors)"
        )
    data = read_file(path / "adapter_config.json")
    data.pop("adapter", None)
    cfg = from_dict(LoRAConfig, data)
    add_lora(model, cfg)
    sd = load_weights_file(path / "adapter.safetensors")
    own = lora_state_dict(model)
    if set(sd) != set(own) or any(sd[k].shape != own[k].shape for k in own):
        raise CheckpointError(f"adapter '{path}' does not fit this base model (other layers or sizes)")
    model.load_state_dict(sd, strict=False)
    return cfg


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts (shared tensors counted once)."""
    seen: dict[int, tuple[int, bool]] = {}
    for p in model.parameters():
        seen[id(p)] = (p.numel(), p.requires_grad)
    return sum(n for n, t in seen.values() if t), sum(n for n, _ in seen.values())
