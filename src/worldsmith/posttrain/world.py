"""Where post-training starts (`load_base`, ``--init``) and what it writes (a conditioned world model).

A post-trained world-model directory is a base world-model directory plus the new parts::

    model/
      world.json  tokenizer/  dit/   the base world model (`WorldModel`): under LoRA ``dit/`` holds the
                                     unchanged base weights; after full fine-tuning or a merge, the new ones
      action/                        ``config.json`` (`ActionConfig`) + ``model.safetensors`` (the embedder)
      adapter/                       LoRA adapters, saved apart (`lora.save_adapter`); absent when merged
      posttrain.json                 {"condition": "action", "adapter": true|false, "family": "diffusion"}

An AR world model post-trained with actions (`posttrain.ar_action`) has the layout of an `ARWorld`
(``world.json tokenizer/ config.json model.safetensors``: the GPT) plus the same ``action/``,
``adapter/`` and a posttrain.json with ``"family": "ar"``.

`merge_export` folds the adapters into ``dit/`` for export: the result loads and samples without LoRA
layers, with the same outputs up to float rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from worldsmith import fs
from worldsmith.autoregressive.bundle import ARWorld
from worldsmith.autoregressive.gpt import GPT
from worldsmith.checkpoint import (
    CONFIG_FILE,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    load_strict,
    load_weights_file,
    read_json,
    save_weights,
)
from worldsmith.config import from_dict, to_dict
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.world import WorldModel
from worldsmith.errors import CheckpointError
from worldsmith.posttrain.action import ActionConfig, ActionDiT
from worldsmith.posttrain.ar_action import ActionGPT
from worldsmith.posttrain.lora import LoRAConfig, load_adapter, lora_layers, merge_lora, save_adapter


def _family(path: Path) -> str | None:
    """What kind of checkpoint `path` holds, from its config files (None: unknown)."""
    for name in ("config.json", "adapter_config.json"):
        f = path / name
        if f.is_file():
            data = json.loads(f.read_text())
            return str(data.get("model") or data.get("_class_name") or data.get("adapter") or name)
    return None


def load_base(path: str | Path, *, tokenizer: str | Path | None = None) -> WorldModel:
    """The pretrained world model post-training starts from (``--init``): a diffusion world-model
    directory of ours, or a converted Cosmos-1.0 one (`worldsmith convert diffusers`).
    `tokenizer` replaces (or supplies) the one that encodes the training videos."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"--init '{path}' does not exist; give a world-model directory (DIR/model)")
    if not (path / "world.json").is_file():
        family = _family(path)
        if (path / "transformer").is_dir():
            hint = "a diffusers pipeline: convert it first with `worldsmith convert diffusers SRC --out DIR`"
        elif family == "CosmosTransformer3DModel":
            hint = (
                "a diffusers CosmosTransformer3DModel folder: convert its pipeline (the folder above) first"
            )
        else:
            hint = f"a '{family}' checkpoint, not a diffusion world model" if family else "not a checkpoint"
        raise CheckpointError(
            f"--init '{path}' is {hint}; give a diffusion world-model directory (with world.json), e.g. "
            "the model/ folder of `worldsmith train diffusion` or of `worldsmith convert diffusers`"
        )
    world = WorldModel.from_pretrained(path)
    if (path / "posttrain.json").is_file():
        raise CheckpointError(
            f"--init '{path}' is already post-trained; start from its base model, or merge it first "
            "(`worldsmith posttrain merge`) and post-train the merged one"
        )
    if tokenizer is not None:
        from worldsmith.tokenizers.model import CausalTokenizer

        world.tokenizer = CausalTokenizer.from_pretrained(tokenizer).eval()
    return world


def _plain_base(net: torch.nn.Module) -> torch.nn.Module:
    """The base network's own weights (adapter tensors left out), as a model of the base's class and
    config (a `DiT`, or the `GPT` of an AR world model)."""
    sd = {k: v for k, v in net.base.state_dict().items() if k.rsplit(".", 1)[-1] not in ("lora_A", "lora_B")}
    with torch.device("meta"):
        base = type(net.base)(net.base.cfg)
    base.load_state_dict(sd, assign=True)
    return base


def _world_family(world: WorldModel | ARWorld) -> str:
    return "ar" if isinstance(world, ARWorld) else "diffusion"


def save_posttrained(
    world: WorldModel | ARWorld,
    net: torch.nn.Module,
    path: str | Path,
    *,
    condition: str,
    part: torch.nn.Module,
    meta: dict | None,
    lora: LoRAConfig | None,
) -> Path:
    """Write a post-trained world model atomically: the base (``net.base``'s own weights), the new
    `part` under ``<condition>/`` (with `meta` as its config.json), adapters, posttrain.json (which
    names the family: a diffusion `WorldModel` or an AR `ARWorld`)."""
    if lora is not None and not lora_layers(net.base):
        lora = None  # already merged
    with fs.atomic_dir(path) as tmp:
        if isinstance(world, ARWorld):
            ARWorld(_plain_base(net), world.tokenizer, world.spec).save_pretrained(tmp)
        else:
            WorldModel(_plain_base(net), world.spec, world.tokenizer).save_pretrained(tmp)
        (tmp / condition).mkdir()
        if meta is not None:
            fs.write_json(tmp / condition / CONFIG_FILE, meta)
        save_weights(tmp / condition / WEIGHTS_FILE, part.state_dict())
        if lora is not None:
            save_adapter(net.base, lora, tmp / "adapter")
        info = {"condition": condition, "adapter": lora is not None, "family": _world_family(world)}
        fs.write_json(tmp / "posttrain.json", info)
    return Path(path)


def posttrain_info(path: str | Path) -> dict:
    """The ``posttrain.json`` of a post-trained world model (empty when there is none)."""
    f = Path(path) / "posttrain.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def load_posttrained(path: str | Path, condition: str, make, *, map_location: str = "cpu"):
    """``(world, net)`` of a post-trained model of `condition`: ``net = make(base, path)`` (the base: the
    world's DiT, or the GPT of an AR world) gets the weights of its `part` (``net.<condition>``) and the
    adapters."""
    path = Path(path)
    info = posttrain_info(path)
    if info.get("condition") != condition:
        raise CheckpointError(
            f"'{path}' is not a '{condition}' post-trained world model (no posttrain.json with condition "
            f"'{condition}'); make one with `worldsmith posttrain {condition} --out DIR` (writes DIR/model)"
        )
    if info.get("family") == "ar":
        world: WorldModel | ARWorld = ARWorld.from_pretrained(path, map_location=map_location)
        net = make(world.gpt, path)
    else:
        world = WorldModel.from_pretrained(path, map_location=map_location)
        net = make(world.dit, path)
    weights = load_weights_file(path / condition / WEIGHTS_FILE, map_location=map_location)
    load_strict(getattr(net, condition), weights, path / condition)
    if (path / "adapter").is_dir():
        load_adapter(net.base, path / "adapter")
    return world, net.eval()


def save_action_world(
    world: WorldModel | ARWorld, net: ActionDiT | ActionGPT, path: str | Path, *, lora: LoRAConfig | None
) -> Path:
    """Write a post-trained action world model (layout in the module docstring), atomically."""
    meta = {"model": "action-embedder", "format_version": FORMAT_VERSION, "config": to_dict(net.action_cfg)}
    return save_posttrained(world, net, path, condition="action", part=net.action, meta=meta, lora=lora)


def load_action_world(path: str | Path, *, map_location: str = "cpu"):
    """A post-trained action world model: its `WorldModel` (whose ``dit`` is the adapted base) and the
    `ActionDiT` to sample with, or for the AR family its `ARWorld` and `ActionGPT`."""

    def make(base: DiT | GPT, folder: Path) -> ActionDiT | ActionGPT:
        meta = read_json(folder / "action" / CONFIG_FILE)
        cfg = from_dict(ActionConfig, meta.get("config", {}))
        return ActionGPT(base, cfg) if isinstance(base, GPT) else ActionDiT(base, cfg)

    return load_posttrained(path, "action", make, map_location=map_location)


def merge_export(src: str | Path, out: str | Path) -> Path:
    """Fold the LoRA adapters of the post-trained model at `src` into its DiT (or GPT) and write it to
    `out`."""
    world, net = load_action_world(src)
    merge_lora(net.base)
    return save_action_world(world, net, out, lora=None)
