"""Released Cosmos weights in diffusers' layout <-> worldsmith's DiT.

diffusers' ``CosmosTransformer3DModel`` (Cosmos-1.0 Text2World / Video2World, Cosmos Predict 2 / 2.5)
and `DiT` hold the same tensors under different names; `diffusers_key` maps ours to theirs one-to-one.
`convert_diffusers` turns a diffusers pipeline directory (``transformer/`` + ``scheduler/`` +
``vae/``) into a worldsmith checkpoint directory without importing diffusers: configs are JSON and
weights safetensors. The scheduler decides the noise family: ``EDMEulerScheduler`` (1.0) -> EDM,
``FlowMatchEulerDiscreteScheduler`` (Predict 2) or ``UniPCMultistepScheduler`` (2.5) -> rectified flow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from worldsmith import fs
from worldsmith.checkpoint import load_strict
from worldsmith.diffusion.dit import DiT, DiTConfig
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.flow import FlowConfig
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.errors import CheckpointError

# Ordered (ours, diffusers) name fragments; applied left to right on dotted keys.
_RENAMES: list[tuple[str, str]] = [
    (r"^patch_embed\.", "patch_embed.proj."),
    (r"^text_proj\.", "crossattn_proj.0."),
    (r"^img_proj\.", "img_context_proj.0."),
    (r"^pos_embed\.(t|h|w)$", r"learnable_pos_embed.pos_emb_\1"),
    (r"^t_fc1\.", "time_embed.t_embedder.linear_1."),
    (r"^t_fc2\.", "time_embed.t_embedder.linear_2."),
    (r"^t_norm\.", "time_embed.norm."),
    (r"^blocks\.", "transformer_blocks."),
    (r"\.mod_self\.", ".norm1."),
    (r"\.mod_cross\.", ".norm2."),
    (r"\.mod_mlp\.", ".norm3."),
    (r"^final_mod\.", "norm_out."),
    (r"\.down\.", ".linear_1."),
    (r"\.up\.", ".linear_2."),
    (r"\.self_attn\.", ".attn1."),
    (r"\.cross_attn\.", ".attn2."),
    (r"\.q\.weight$", ".to_q.weight"),
    (r"\.(q|k)_norm\.", r".norm_\1."),
    (r"\.out\.weight$", ".to_out.0.weight"),
    (r"\.mlp\.fc1\.", ".ff.net.0.proj."),
    (r"\.mlp\.fc2\.", ".ff.net.2."),
]


# Our fused projections and the diffusers tensors they stack (along the output dimension).
_FUSED = {
    ".qkv.weight": (".to_q.weight", ".to_k.weight", ".to_v.weight"),
    ".kv.weight": (".to_k.weight", ".to_v.weight"),
}


def diffusers_key(key: str) -> str:
    """Our state-dict key -> the ``CosmosTransformer3DModel`` key holding the same tensor
    (for a fused ``qkv``/``kv`` weight: the key of its first part, ``to_q``/``to_k``)."""
    for pattern, repl in _RENAMES:
        key = re.sub(pattern, repl, key)
    for fused, parts in _FUSED.items():
        if key.endswith(fused):
            key = key[: -len(fused)] + parts[0]
    return key


def diffusers_parts(key: str) -> list[str]:
    """The diffusers keys whose tensors, stacked, make our tensor `key`."""
    for fused, parts in _FUSED.items():
        if key.endswith(fused):
            base = diffusers_key(key)[: -len(parts[0])]
            return [base + p for p in parts]
    return [diffusers_key(key)]


def config_from_diffusers(cfg: dict[str, Any]) -> DiTConfig:
    """A diffusers ``transformer/config.json`` (Cosmos 1.0, Predict 2 / 2.5) as a `DiTConfig`."""
    if cfg.get("controlnet_block_every_n"):
        raise CheckpointError(
            "diffusers Cosmos config has controlnet_block_every_n (Cosmos Transfer 2.5): its ControlNet "
            "branches are not supported; convert the Predict 2 / 2.5 base model"
        )
    text_dim = int(cfg.get("text_embed_dim", 1024))
    proj = bool(cfg.get("use_crossattn_projection", False))
    if proj and int(cfg.get("encoder_hidden_states_channels", 1024)) != text_dim:
        raise CheckpointError(
            "diffusers Cosmos config: encoder_hidden_states_channels must equal text_embed_dim "
            f"({cfg.get('encoder_hidden_states_channels')} vs {text_dim}) for cross-attention to run"
        )
    width = int(cfg.get("num_attention_heads", 32)) * int(cfg.get("attention_head_dim", 128))
    img_dim = int(cfg.get("img_context_dim_in") or 0)
    if img_dim and int(cfg.get("img_context_dim_out", 2048)) != width:
        raise CheckpointError(
            f"diffusers Cosmos config: img_context_dim_out {cfg.get('img_context_dim_out')} must equal the "
            f"model width {width} (the image keys and values are projected from it)"
        )
    c_in, c_out = int(cfg.get("in_channels", 16)), int(cfg.get("out_channels", 16))
    if c_in not in (c_out, c_out + 1):
        raise CheckpointError(
            f"diffusers Cosmos config: in_channels {c_in} must be out_channels {c_out} (+1)"
        )
    pos = cfg.get("extra_pos_embed_type", "learnable")
    if pos not in (None, "learnable"):
        raise CheckpointError(f"diffusers Cosmos config: extra_pos_embed_type {pos!r} is not supported")
    return DiTConfig(
        latent_channels=c_out,
        heads=int(cfg.get("num_attention_heads", 32)),
        head_dim=int(cfg.get("attention_head_dim", 128)),
        depth=int(cfg.get("num_layers", 28)),
        mlp_ratio=float(cfg.get("mlp_ratio", 4.0)),
        text_dim=text_dim,
        adaln_lora_dim=int(cfg.get("adaln_lora_dim", 256)),
        max_size=tuple(cfg.get("max_size", (128, 240, 240))),
        patch_size=tuple(cfg.get("patch_size", (1, 2, 2))),
        rope_scale=tuple(float(s) for s in cfg.get("rope_scale", (2.0, 1.0, 1.0))),
        concat_padding_mask=bool(cfg.get("concat_padding_mask", True)),
        learnable_pos_embed=pos == "learnable",
        video2world=c_in == c_out + 1,
        text_proj_dim=int(cfg.get("crossattn_proj_in_channels", 1024)) if proj else 0,
        img_context_dim=img_dim,
    )


def config_to_diffusers(cfg: DiTConfig) -> dict[str, Any]:
    """`DiTConfig` -> keyword arguments of ``CosmosTransformer3DModel``."""
    if cfg.residual_to_given:
        raise CheckpointError(
            "a DiT trained with residual_to_given has no diffusers equivalent (diffusers' Video2World "
            "denoises the latents themselves); keep it in worldsmith's format"
        )
    if cfg.given_channels:
        raise CheckpointError(
            "a DiT with given_channels has no diffusers equivalent (its patch embedding takes the last "
            "given frame and its change too); keep it in worldsmith's format"
        )
    return {
        "in_channels": cfg.latent_channels + int(cfg.video2world),
        "out_channels": cfg.latent_channels,
        "num_attention_heads": cfg.heads,
        "attention_head_dim": cfg.head_dim,
        "num_layers": cfg.depth,
        "mlp_ratio": cfg.mlp_ratio,
        "text_embed_dim": cfg.text_dim,
        "adaln_lora_dim": cfg.adaln_lora_dim,
        "max_size": tuple(cfg.max_size),
        "patch_size": tuple(cfg.patch_size),
        "rope_scale": tuple(cfg.rope_scale),
        "concat_padding_mask": cfg.concat_padding_mask,
        "extra_pos_embed_type": "learnable" if cfg.learnable_pos_embed else None,
        "use_crossattn_projection": cfg.text_proj_dim > 0,
        "crossattn_proj_in_channels": cfg.text_proj_dim or 1024,
        "encoder_hidden_states_channels": cfg.text_dim,
        "img_context_dim_in": cfg.img_context_dim or None,
        "img_context_dim_out": cfg.dim,
    }


def from_diffusers_state_dict(
    model: torch.nn.Module, sd: dict[str, torch.Tensor], *, where: str = "state dict", parts_of=None
) -> torch.nn.Module:
    """Load a ``CosmosTransformer3DModel`` state dict into `model` (strict: every tensor accounted for).
    `parts_of(key)` names the diffusers keys of our `key` (default: the DiT's; ControlNet branches
    pass theirs, `worldsmith.posttrain.control`)."""
    ours, used = {}, set()
    for key in model.state_dict():
        parts = (parts_of or diffusers_parts)(key)
        if all(p in sd for p in parts):
            ours[key] = torch.cat([sd[p] for p in parts]) if len(parts) > 1 else sd[parts[0]]
            used.update(parts)
    ours |= {f"<unmapped>{k}": v for k, v in sd.items() if k not in used}
    load_strict(model, ours, where)
    return model


def to_diffusers_state_dict(model: torch.nn.Module, *, parts_of=None) -> dict[str, torch.Tensor]:
    """Our weights under diffusers' names (to load into ``CosmosTransformer3DModel``; `parts_of` as in
    `from_diffusers_state_dict`)."""
    out = {}
    for key, value in model.state_dict().items():
        parts = (parts_of or diffusers_parts)(key)
        out |= dict(zip(parts, value.chunk(len(parts)), strict=True))
    return out


def _read_safetensors_dir(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"'{folder}' holds no .safetensors weights (pickled .bin files are not loaded)")
    sd: dict[str, torch.Tensor] = {}
    for f in files:
        sd.update(load_file(f))
    return sd


def load_diffusers_transformer(folder: str | Path) -> DiT:
    """A DiT from a diffusers ``transformer/`` folder (``config.json`` + safetensors shards)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"'{folder}' has no config.json: point at a diffusers Cosmos transformer folder"
        )
    model = DiT(config_from_diffusers(json.loads((folder / "config.json").read_text())))
    return from_diffusers_state_dict(model, _read_safetensors_dir(folder), where=str(folder))


# Cosmos-1.0 pipeline defaults: 121 frames at 704x1280 and 30 fps -> 16 x 88 x 160 latents (CV8x8x8).
_COSMOS_LATENT_SIZE = (16, 88, 160)
_COSMOS_FPS = 30.0
# Predict 2 / 2.5 defaults: 93 frames at 704x1280, 16 fps -> 24 x 88 x 160 latents (Wan 2.1 VAE, 4x8x8).
_COSMOS2_LATENT_SIZE = (24, 88, 160)
_COSMOS2_FPS = 16.0
_FLOW_SCHEDULERS = ("FlowMatchEulerDiscreteScheduler", "UniPCMultistepScheduler")


def noise_from_scheduler(s_cfg: dict[str, Any]):
    """``(family, EDMConfig, FlowConfig)`` from a diffusers ``scheduler_config.json``."""

    name = s_cfg.get("_class_name", "EDMEulerScheduler")
    if name in _FLOW_SCHEDULERS:  # Predict 2 registers 0.002..80 on its scheduler; 2.5 uses 0.01..200
        flow = FlowConfig(
            sigma_min=float(s_cfg.get("sigma_min") or 0.01), sigma_max=float(s_cfg.get("sigma_max") or 200.0)
        )
        return "flow", EDMConfig(), flow
    if name != "EDMEulerScheduler":
        raise CheckpointError(f"diffusers scheduler '{name}' is not a Cosmos scheduler this converter reads")
    edm = EDMConfig(
        sigma_data=float(s_cfg.get("sigma_data", 0.5)),
        sigma_min=float(s_cfg.get("sigma_min", 0.002)),
        sigma_max=float(s_cfg.get("sigma_max", 80.0)),
    )
    return "edm", edm, FlowConfig()


def convert_diffusers(src: str | Path, out: str | Path) -> dict[str, Any]:
    """Convert a diffusers Cosmos pipeline directory (1.0, Predict 2 or 2.5) into a worldsmith
    world-model directory.

    ``out`` gets ``dit/`` (our `DiT` layout), ``tokenizer/`` (the ``vae/``: a Cosmos tokenizer read by
    `worldsmith.tokenizers`, or the Wan VAE of 2.x as `WanTokenizer`) and ``world.json``: the
    VAE's latent statistics, the scheduler's noise family and constants, the fps of the RoPE clock
    (1.0: 30; Predict 2: 16; Predict 2.5: none), and the text encoder (``src/text_encoder`` when
    present: referenced, not copied). Returns a summary.
    """

    src, out = Path(src), Path(out)
    if not (src / "transformer").is_dir():
        raise CheckpointError(
            f"'{src}' has no transformer/ folder: expected a diffusers Cosmos pipeline directory"
        )
    dit = load_diffusers_transformer(src / "transformer")
    C = dit.cfg.latent_channels
    tokenizer, vae_cfg = None, {}
    if (src / "vae").is_dir():
        from worldsmith.tokenizers.wan import load_tokenizer

        vae_cfg = json.loads((src / "vae" / "config.json").read_text())
        tokenizer = load_tokenizer(src / "vae")  # a Cosmos tokenizer (1.0) or the Wan VAE (2.x)
    sched = src / "scheduler" / "scheduler_config.json"
    family, edm, flow = noise_from_scheduler(json.loads(sched.read_text()) if sched.is_file() else {})
    text, v2 = src / "text_encoder", family == "flow"
    predict25 = dit.cfg.text_proj_dim > 0  # Predict 2.5: Qwen2.5-VL states, no fps on the RoPE clock
    default_text = "qwen:nvidia/Cosmos-Reason1-7B" if predict25 else "t5:google-t5/t5-11b"
    spec = WorldSpec(
        latent_mean=tuple(vae_cfg.get("latents_mean") or [0.0] * C),
        latent_std=tuple(vae_cfg.get("latents_std") or [1.0] * C),
        latent_size=_COSMOS2_LATENT_SIZE if v2 else _COSMOS_LATENT_SIZE,
        fps=_COSMOS2_FPS if v2 else _COSMOS_FPS,
        model_fps=None if predict25 else _COSMOS2_FPS if v2 else _COSMOS_FPS,
        text_encoder=f"{default_text.split(':')[0]}:{text.resolve()}" if text.is_dir() else default_text,
        family=family,
        edm=edm,
        flow=flow,
    )
    WorldModel(dit, spec, tokenizer).save_pretrained(out)
    summary = {
        "source": str(src),
        "dit_params": sum(p.numel() for p in dit.parameters()),
        "video2world": dit.cfg.video2world,
        "family": family,
        "tokenizer": tokenizer is not None,
        "text_encoder": spec.text_encoder,
    }
    fs.write_json(Path(out) / "convert.json", summary)
    return summary
