"""`worldsmith train ar` and `worldsmith train medusa`: curated shards or videos -> token cache
(`worldsmith.data.encode_clips`) -> GPT (-> Medusa heads), conditioned on the clips' captions.

Both run the shared `Trainer`; overrides are dotted ``train.*`` (`TrainConfig`), ``model.*``
(`GPTConfig` / `MedusaConfig`) or ``objective.*``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from worldsmith import fs
from worldsmith.autoregressive.bundle import ARSpec, ARWorld
from worldsmith.autoregressive.gpt import GPT, GPTConfig, get_preset
from worldsmith.autoregressive.medusa import MedusaConfig, MedusaHeads, MedusaModel
from worldsmith.autoregressive.objective import ARObjective, MedusaObjective
from worldsmith.config import check_overrides, load, split_overrides
from worldsmith.data import PromptedDataset, Selection, encode_captions, encode_clips, open_data
from worldsmith.errors import ConfigError, WorldsmithError
from worldsmith.runs import seeded_init, torch_threads
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.train import TrainConfig, Trainer
from worldsmith.train.metrics import read_metrics


class TokenDataset(PromptedDataset):
    """DV indices ``[T, h, w]`` (+ text embeddings ``[S, D]`` and mask ``[S]``) per item."""

    key = "tokens"


HEADS = ("train", "model", "objective")  # the configs that dotted overrides address


def _discrete(tokenizer_dir: str | Path) -> CausalTokenizer:
    tokenizer = CausalTokenizer.from_pretrained(tokenizer_dir).eval()
    if not tokenizer.discrete:
        raise WorldsmithError(
            f"--tokenizer '{tokenizer_dir}' is continuous; the AR model needs a discrete (DV) one"
        )
    return tokenizer


def _fit(trainer: Trainer, out: Path, n_threads: int | None) -> dict[str, Any]:

    t0 = time.perf_counter()
    with torch_threads(n_threads):
        trainer.fit()
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    return {
        "steps": trainer.config.steps,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
    }


def _train_config(groups: dict[str, list[str]], n: int, seed: int, **defaults: Any) -> TrainConfig:
    base = dict(steps=300, batch_size=min(8, n), lr=3e-3, warmup_steps=20, log_every=25, tensorboard=False)
    return load(
        TrainConfig, overrides=groups["train"], base=TrainConfig(**{**base, **defaults, "seed": seed})
    )


def train_ar(
    tokenizer_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    preset: str = "tiny",
    frames: int = 17,
    size: tuple[int, int] = (64, 64),
    cache: str | Path | None = None,
    text_encoder: str = "minilm",
    overrides: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    n_threads: int | None = 1,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """Train a GPT on the DV tokens of every clip of `data` (`worldsmith.data.open_data`: a curate
    output folder, whose clips `selection` picks, or videos); the world model goes to ``out/model``."""
    out, data = Path(out), open_data(data, selection)  # bad data fails before a model loads
    groups = split_overrides(overrides, HEADS)
    check_overrides(groups, {"train": TrainConfig, "model": GPTConfig, "objective": ARObjective})
    tokenizer = _discrete(tokenizer_dir)
    enc = encode_clips(tokenizer, tokenizer_dir, data, cache or out / "token_cache", frames=frames,
                       size=size, name="tokens")  # fmt: skip
    tokens, fps = enc.values, enc.fps
    text, mask, enc_name = encode_captions(enc.captions, text_encoder, empty_is_null=False)
    shape = tuple(tokens.shape[1:])
    base = replace(
        get_preset(preset), latent_shape=shape, codebook_size=tokenizer.fsq.codebook_size,
        text_dim=None if text is None else text.shape[-1],
    )  # fmt: skip
    cfg = load(GPTConfig, overrides=groups["model"], base=base)
    if cfg.latent_shape != shape:
        raise ConfigError(f"model.latent_shape must be the token grid {shape} of the clips")
    objective = load(ARObjective, overrides=groups["objective"], base=ARObjective())
    train_cfg = _train_config(groups, len(tokens), seed)
    with seeded_init(train_cfg.seed):
        model = GPT(cfg)
    trainer = Trainer(train_cfg, model, objective, TokenDataset(tokens, text, mask), out=out / "train",
                      model_config=cfg)  # fmt: skip
    metrics = _fit(trainer, out / "train", n_threads)
    spec = ARSpec(frames=frames, size=size, fps=fps, text_encoder=enc_name)
    ARWorld(model.eval(), tokenizer, spec).save_pretrained(out / "model")
    metrics |= {"params": model.num_params(), "clips": len(tokens), "token_grid": list(shape),
                "model_dir": str(out / "model")}  # fmt: skip
    fs.write_json(out / "ar_metrics.json", metrics)
    return metrics


def train_medusa(
    base_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    heads: int = 7,
    joint: bool = False,
    cache: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    n_threads: int | None = 1,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """Train Medusa heads for the AR world model at `base_dir` (frozen, or jointly with `joint`);
    the heads go to ``out/medusa`` (and, with `joint`, the tuned base to ``out/model``)."""
    out, data = Path(out), open_data(data, selection)  # bad data fails before a model loads
    groups = split_overrides(overrides, HEADS)
    check_overrides(groups, {"train": TrainConfig, "model": MedusaConfig, "objective": MedusaObjective})
    world = ARWorld.from_pretrained(base_dir)
    spec = world.spec
    # the base's own token cache (train ar OUT/token_cache beside OUT/model) when it holds these clips
    enc = encode_clips(
        world.tokenizer, Path(base_dir) / "tokenizer", data, cache or out / "token_cache",
        frames=spec.frames, size=spec.size, name="tokens", reuse=[Path(base_dir).parent / "token_cache"],
    )  # fmt: skip
    tokens = enc.values
    if tuple(tokens.shape[1:]) != world.gpt.cfg.latent_shape:
        raise WorldsmithError(
            f"the clips give tokens {tuple(tokens.shape[1:])}, the base model wants "
            f"{world.gpt.cfg.latent_shape}: use the videos (frames, size) the base was trained on"
        )
    text, mask, _ = encode_captions(enc.captions, spec.text_encoder, empty_is_null=False)
    if (text is None) != (world.gpt.cfg.text_dim is None):
        raise WorldsmithError(
            "the base model was trained with captions and these clips have none (or reverse)"
        )
    mcfg = load(
        MedusaConfig, overrides=groups["model"], base=MedusaConfig(dim=world.gpt.cfg.dim, heads=heads)
    )
    objective = load(MedusaObjective, overrides=groups["objective"], base=MedusaObjective())
    train_cfg = _train_config(groups, len(tokens), seed)
    with seeded_init(train_cfg.seed):
        heads = MedusaHeads(mcfg)
    medusa = MedusaModel(world.gpt, heads, freeze_base=not joint)
    trainer = Trainer(train_cfg, medusa, objective, TokenDataset(tokens, text, mask), out=out / "train")
    metrics = _fit(trainer, out / "train", n_threads)
    medusa.heads.eval().save_pretrained(out / "medusa")
    if joint:
        world.gpt.eval().requires_grad_(True)
        world.save_pretrained(out / "model")
    metrics |= {"heads": mcfg.heads, "joint": joint, "medusa_dir": str(out / "medusa")}
    fs.write_json(out / "medusa_metrics.json", metrics)
    return metrics
