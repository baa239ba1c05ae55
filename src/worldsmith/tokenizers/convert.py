"""Load NVIDIA's released Cosmos tokenizer weights: the diffusers `AutoencoderKLCosmos` layout.

A diffusers model folder holds ``config.json`` (``"_class_name": "AutoencoderKLCosmos"``) and
``diffusion_pytorch_model.safetensors`` (possibly sharded with an ``.index.json``). Our module
tree mirrors theirs; the differences, handled here in both directions, are:

- norms: ``<name>.norm.weight`` (a GroupNorm wrapped in a module) -> ``<name>.weight``;
- resamplers: ``downsamplers.0.`` / ``upsamplers.0.`` -> ``resample.``;
- attention: three ``[C, C, 1, 1, 1]`` 1x1x1 convs ``to_q/to_k/to_v`` -> one ``qkv`` linear
  ``[3C, C]`` (one matrix product instead of three), ``to_out.0`` -> ``proj``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from worldsmith.errors import CheckpointError
from worldsmith.tokenizers.config import TokenizerConfig

DIFFUSERS_CLASS = "AutoencoderKLCosmos"
_NORM = re.compile(r"\.(norm|norm1|norm2|norm_out)\.norm\.")
_ATTN = re.compile(r"^(.*\.(?:attentions|temp_attentions)\.\d+)\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$")


def is_diffusers_dir(path: str | Path) -> bool:
    cfg_path = Path(path) / "config.json"
    if not cfg_path.is_file():
        return False
    try:
        return json.loads(cfg_path.read_text()).get("_class_name") == DIFFUSERS_CLASS
    except json.JSONDecodeError:
        return False


def config_from_diffusers(d: dict[str, Any]) -> TokenizerConfig:
    """A diffusers `AutoencoderKLCosmos` config dict -> our `TokenizerConfig` (continuous video)."""
    if d.get("patch_type", "haar") != "haar":
        raise CheckpointError(
            f"patch_type '{d.get('patch_type')}' is not supported; only 'haar' checkpoints load"
        )
    return TokenizerConfig(
        kind="continuous",
        in_channels=d.get("in_channels", 3),
        out_channels=d.get("out_channels", 3),
        latent_channels=d.get("latent_channels", 16),
        encoder_channels=tuple(d.get("encoder_block_out_channels", (128, 256, 512, 512))),
        decoder_channels=tuple(d.get("decode_block_out_channels", (256, 512, 512, 512))),
        num_res_blocks=d.get("num_layers", 2),
        attention_resolutions=tuple(d.get("attention_resolutions", (32,))),
        resolution=d.get("resolution", 1024),
        patch_size=d.get("patch_size", 4),
        spatial_compression=d.get("spatial_compression_ratio", 8),
        temporal_compression=d.get("temporal_compression_ratio", 8),
    )


def config_to_diffusers(c: TokenizerConfig) -> dict[str, Any]:
    """Our config -> keyword arguments of diffusers' `AutoencoderKLCosmos` (continuous video only)."""
    if c.kind != "continuous" or not c.video:
        raise CheckpointError("only continuous video tokenizers (CV) have a diffusers layout")
    if c.lowpass_shortcut:
        raise CheckpointError(
            "a tokenizer with lowpass_shortcut has no diffusers layout (AutoencoderKLCosmos has no "
            "such path); keep it in worldsmith's format"
        )
    return {
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "latent_channels": c.latent_channels,
        "encoder_block_out_channels": tuple(c.encoder_channels),
        "decode_block_out_channels": tuple(c.decoder_channels),
        "attention_resolutions": tuple(c.attention_resolutions),
        "resolution": c.resolution,
        "num_layers": c.num_res_blocks,
        "patch_size": c.patch_size,
        "patch_type": "haar",
        "spatial_compression_ratio": c.spatial_compression,
        "temporal_compression_ratio": c.temporal_compression,
    }


def from_diffusers_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers `AutoencoderKLCosmos` state dict -> `CausalTokenizer` state dict."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        key = _NORM.sub(r".\1.", key)
        key = key.replace(".downsamplers.0.", ".resample.").replace(".upsamplers.0.", ".resample.")
        m = _ATTN.match(key)
        if m is None:
            out[key] = value
            continue
        prefix, which, kind = m.groups()
        value = value.reshape(value.shape[0], -1) if kind == "weight" else value  # [C, C, 1, 1, 1] -> [C, C]
        if which == "to_out.0":
            out[f"{prefix}.proj.{kind}"] = value
        else:
            qkv.setdefault(f"{prefix}.qkv.{kind}", {})[which] = value
    for key, parts in qkv.items():
        if set(parts) != {"to_q", "to_k", "to_v"}:
            raise CheckpointError(f"attention weights incomplete at '{key}': found {sorted(parts)}")
        out[key] = torch.cat([parts["to_q"], parts["to_k"], parts["to_v"]], dim=0)  # [3C, ...]
    return out


def to_diffusers_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`CausalTokenizer` state dict (continuous video) -> diffusers `AutoencoderKLCosmos` layout."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        key = re.sub(r"\.(norm|norm1|norm2|norm_out)\.(weight|bias)$", r".\1.norm.\2", key)
        if ".resample." in key:
            key = key.replace(
                ".resample.", ".downsamplers.0." if key.startswith("encoder.") else ".upsamplers.0."
            )
        m = re.match(r"^(.*\.(?:attentions|temp_attentions)\.\d+)\.(qkv|proj)\.(weight|bias)$", key)
        if m is None:
            out[key] = value
            continue
        prefix, which, kind = m.groups()
        as_conv = (lambda t: t.reshape(*t.shape, 1, 1, 1)) if kind == "weight" else (lambda t: t)
        if which == "proj":
            out[f"{prefix}.to_out.0.{kind}"] = as_conv(value)
        else:
            for name, part in zip(("to_q", "to_k", "to_v"), value.chunk(3, dim=0), strict=True):
                out[f"{prefix}.{name}.{kind}"] = as_conv(part.contiguous())
    return out


def read_diffusers_dir(path: str | Path) -> tuple[TokenizerConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """(config, our state dict, extras such as latents_mean/std) from a diffusers model folder."""
    path = Path(path)
    raw = json.loads((path / "config.json").read_text())
    single = path / "diffusion_pytorch_model.safetensors"
    index = path / "diffusion_pytorch_model.safetensors.index.json"
    if single.is_file():
        sd = load_file(str(single))
    elif index.is_file():
        sd = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            sd.update(load_file(str(path / shard)))
    else:
        raise CheckpointError(
            f"diffusers folder '{path}' has no diffusion_pytorch_model.safetensors; "
            "download the safetensors weights (pickled .bin files are not loaded)"
        )
    extras = {k: raw[k] for k in ("latents_mean", "latents_std", "scaling_factor") if raw.get(k) is not None}
    return config_from_diffusers(raw), from_diffusers_state_dict(sd), extras
