"""Action post-training of an AR world model on the shared `Trainer` (``worldsmith posttrain action``
with an AR ``--init``, the OUT/model of ``worldsmith train ar``).

The robot episodes are cut into clips of the base's frames and size (its ``world.json``), tokenised by
the base's own DV tokenizer, and an `ActionGPT` (the base GPT + zero-initialised cross-attention to the
actions, `posttrain.ar_action`) is trained on next-token prediction given the actions, by full
fine-tuning or LoRA on the GPT's projections (base frozen). The result is an AR world directory plus
``action/`` (+ ``adapter/``), written by `posttrain.world.save_action_world`; `load_action_world` and
``worldsmith generate action2world`` / ``posttrain merge`` take it like a diffusion one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worldsmith.autoregressive.bundle import ARWorld
from worldsmith.data.episodes import read_action_clips
from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.posttrain.ar_action import (
    AR_LORA_TARGETS,
    ActionGPT,
    ARActionObjective,
    ar_clip_frames,
    encode_tokens,
)
from worldsmith.posttrain.lora import LoRAConfig, add_lora, trainable_parameters
from worldsmith.posttrain.recipes import (
    ActionPosttrainConfig,
    action_config,
    fit_posttrain,
    posttrain_train_config,
    write_action_metrics,
)
from worldsmith.posttrain.world import posttrain_info, save_action_world
from worldsmith.runs import seeded_init


def is_ar_world(path: str | Path) -> bool:
    """Whether `path` holds an AR world model (its config.json is a GPT's), post-trained or not."""
    f = Path(path) / "config.json"
    try:
        return f.is_file() and json.loads(f.read_text()).get("model") == "ar-gpt"
    except (OSError, ValueError):
        return False


def load_ar_base(path: str | Path) -> ARWorld:
    """The pretrained AR world model that post-training starts from (``--init``)."""
    path = Path(path)
    if not is_ar_world(path):
        raise CheckpointError(
            f"--init '{path}' is not an AR world model (its config.json is not a GPT's); give the "
            "OUT/model folder of `worldsmith train ar`, or a diffusion world model for the diffusion recipe"
        )
    if posttrain_info(path):
        raise CheckpointError(
            f"--init '{path}' is already post-trained; start from its base model, or merge it first "
            "(`worldsmith posttrain merge`) and post-train the merged one"
        )
    return ARWorld.from_pretrained(path)


def posttrain_ar_action(
    init: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    config: ActionPosttrainConfig | None = None,
    train: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    tokenizer: str | Path | None = None,
    resume: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Post-train the AR world model at `init` to follow the actions of the episodes under `data`
    (the signature of `recipes.posttrain_action`; `tokenizer`, ``config.frames`` and ``config.size``
    must stay unset: the GPT reads the tokens of its own tokenizer at its own clip geometry)."""
    cfg = config or ActionPosttrainConfig()
    if tokenizer is not None or cfg.frames is not None or cfg.size is not None:
        raise WorldsmithError(
            f"--tokenizer/--frames/--size do not apply to the AR world model '{init}': it is post-trained "
            "on clips of its own frames and size, tokenised by its own tokenizer; leave them out"
        )
    if cfg.inject != "adaln" or cfg.motion_weight:
        raise WorldsmithError(
            f"--inject/--motion-weight are options of the diffusion recipe; the AR world model '{init}' "
            "takes actions by cross-attention after every block: leave them out"
        )
    out, world = Path(out), load_ar_base(init)
    frames, size, k = ar_clip_frames(world)
    clips = read_action_clips(data, frames=frames, size=size, stride=cfg.stride)
    action_cfg = action_config(clips, k, cfg)
    tokens = encode_tokens(world, clips.frames)  # [N, T, h, w]
    if tuple(tokens.shape[1:]) != world.gpt.cfg.latent_shape:
        raise WorldsmithError(
            f"the clips make tokens {tuple(tokens.shape[1:])}, the GPT of '{init}' wants "
            f"{world.gpt.cfg.latent_shape}; its world.json and tokenizer/ disagree with config.json"
        )
    train_cfg = posttrain_train_config(train, overrides, len(clips))
    with seeded_init(train_cfg.seed):
        net = ActionGPT(world.gpt, action_cfg)
        lora = None
        if cfg.lora_rank:
            lora = LoRAConfig(rank=cfg.lora_rank, alpha=cfg.lora_alpha, targets=AR_LORA_TARGETS)
            add_lora(net.base, lora)
    n_params = trainable_parameters(net)
    dataset = [{"tokens": tokens[i], "actions": clips.actions[i]} for i in range(len(clips))]
    objective = ARActionObjective(action_dropout=cfg.action_dropout)
    fit = fit_posttrain(net, objective, dataset, train_cfg, out, resume=resume, threads=threads)
    save_action_world(world, net, out / "model", lora=lora)
    metrics = write_action_metrics(
        out, init=init, clips=clips, frames=frames, cfg=cfg, params=n_params, fit=fit
    )
    return metrics | {"family": "ar"}
