"""The diffusion decoder: DV token indices -> continuous tokenizer (CV) latents, by a conditioned DiT.

Cosmos (arXiv 2501.03575, Sec. 5.2.3) improves the frames of its AR model by not decoding the
discrete tokens with the DV decoder but mapping them to the latents of a continuous tokenizer with a
diffusion model and decoding those with the CV decoder: the FSQ bottleneck (6 numbers per token)
loses detail that a generative decoder can restore from context. Here:

* condition: each DV index -> its FSQ code ``c`` (``[-1, 1]^6``, `tokenizers.fsq.FSQ`) and a learned
  per-token embedding ``e = W_2 SiLU(W_1 c)`` (`embed_dim` channels); ``[c, e]`` is placed on the CV
  latent grid (nearest, causally aligned in time: CV frame ``j`` takes DV frame ``ceil(j / u_t)``,
  since latent frame 0 holds video frame 0 alone and each later one the next ``s_t`` frames);
* network: the Cosmos DiT of `worldsmith.diffusion.dit` with the condition concatenated as extra
  input channels: ``F(c_in x, c_noise) = DiT([c_in x, cond])[:, :C]`` (the DiT's extra output
  channels are unused); the text input is the null text (one zero token);
* training: EDM's weighted denoising loss (`diffusion.edm.denoising_loss`) on CV latents normalised
  per channel to std ``sigma_data`` (as the diffusion world model does, `diffusion.world`);
* decoding: a sampler of `diffusion.samplers` on a Karras schedule, then de-normalisation;
  `decode_video` adds the CV tokenizer's decoder. By default it starts not from pure noise at
  ``sigma_max`` but from the DV decoder's own video, CV-encoded and noised to ``init_sigma`` 0.5
  (SDEdit, arXiv 2108.01073), takes 3 Euler steps and averages the latents of 4 such samples
  (`DecoderConfig`; chosen on validation episodes, see benchmarks/autoregressive.py).

A decoder directory (``worldsmith train diffusion-decoder`` writes ``OUT/model``) holds
``config.json`` + ``model.safetensors`` and ``tokenizer/``, the continuous tokenizer to decode with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldsmith import fs
from worldsmith.autoregressive.recipes import _discrete, _fit, _train_config
from worldsmith.checkpoint import Pretrained
from worldsmith.config import check, check_overrides, from_dict, load, split_overrides, to_dict
from worldsmith.data import Selection, encode_clips, open_data
from worldsmith.diffusion.dit import PRESETS, DiT, DiTConfig
from worldsmith.diffusion.edm import EDMConfig, EDMDenoiser, denoising_loss
from worldsmith.diffusion.samplers import SAMPLERS, karras_sigmas
from worldsmith.diffusion.world import latent_stats
from worldsmith.errors import CheckpointError, ConfigError, WorldsmithError
from worldsmith.runs import seeded_init
from worldsmith.tokenizers.fsq import FSQ
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.train import TrainConfig, Trainer


@dataclass(frozen=True, kw_only=True)
class DecoderConfig:
    """What the decoder adds around its DiT: the token condition, latent statistics, sampling."""

    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)  # the DV tokenizer's FSQ (64,000 codes)
    latent_channels: int = 16  # the CV tokenizer's latent channels
    embed_dim: int = 16  # learned token-embedding channels (besides the 6 FSQ code channels)
    upsample: tuple[int, int, int] = (1, 1, 1)  # CV latent grid / DV token grid per axis (t, h, w)
    latent_mean: tuple[float, ...] = ()  # per CV channel; () = 0
    latent_std: tuple[float, ...] = ()  # per CV channel; () = 1
    edm: EDMConfig = field(default_factory=EDMConfig)
    # How `decode_video` samples. Chosen on validation twin episodes (seeds 2000+, not the benchmark's
    # held-out 1000+; benchmarks/autoregressive.py): Euler beats Heun; starting from the DV decoder's
    # video, CV-encoded and noised to sigma 0.5 (SDEdit), beats pure noise at sigma_max (+0.85 vs
    # +0.69 dB over DV decoding at 10 steps); 3 steps from there +0.91; the mean latents of 4 such
    # samples +0.95 (12 model calls, about the 10 of one plain sample). init_sigma = 0 starts from
    # noise and needs no DV tokenizer; samples = 1 gives one sharper sample instead of the mean.
    sampler: str = "euler"
    steps: int = 3
    init_sigma: float = 0.5
    samples: int = 4

    def __post_init__(self) -> None:
        check(len(self.fsq_levels) > 0, "fsq_levels", self.fsq_levels, "must not be empty")
        check(self.latent_channels > 0, "latent_channels", self.latent_channels, "must be positive")
        check(self.embed_dim >= 0, "embed_dim", self.embed_dim, "must be >= 0")
        check(all(u >= 1 for u in self.upsample), "upsample", self.upsample, "must be >= 1 per axis")
        for key in ("latent_mean", "latent_std"):
            n = len(getattr(self, key))
            check(n in (0, self.latent_channels), key, n, f"must have 0 or {self.latent_channels} entries")
        check(all(s > 0 for s in self.latent_std), "latent_std", self.latent_std, "must be positive")
        check(self.sampler in SAMPLERS, "sampler", self.sampler, f"must be one of {', '.join(SAMPLERS)}")
        check(self.steps >= 1, "steps", self.steps, "must be >= 1")
        check(self.samples >= 1, "samples", self.samples, "must be >= 1")
        check(
            self.init_sigma == 0 or self.edm.sigma_min < self.init_sigma <= self.edm.sigma_max,
            "init_sigma", self.init_sigma, "must be 0 (start from noise) or in (sigma_min, sigma_max]",
        )  # fmt: skip

    @property
    def cond_channels(self) -> int:
        return len(self.fsq_levels) + self.embed_dim

    def latent_grid(self, token_grid: tuple[int, int, int]) -> tuple[int, int, int]:
        """The CV latent grid ``(T, H, W)`` of a DV token grid ``(T', h, w)``."""
        ut, uh, uw = self.upsample
        T, h, w = token_grid
        return 1 + (T - 1) * ut, h * uh, w * uw


def dit_config(cfg: DecoderConfig, base: DiTConfig, grid: tuple[int, int, int]) -> DiTConfig:
    """`base` (a DiT preset) made to take ``[latents, cond]`` and to cover the latent `grid`."""
    from dataclasses import replace

    size = tuple(max(m, -(-g // p) * p) for m, g, p in zip(base.max_size, grid, base.patch_size, strict=True))
    return replace(
        base, latent_channels=cfg.latent_channels + cfg.cond_channels, video2world=False,
        concat_padding_mask=False, max_size=size,
    )  # fmt: skip


class DiffusionDecoder(nn.Module, Pretrained):
    """The raw EDM network ``F(x_in [B, C, T, H, W], c_noise [B], tokens=[B, T', h, w])``.

    ``denoiser()`` wraps it in EDM preconditioning; ``sample(tokens)`` returns raw CV latents.
    """

    model_type = "ar-diffusion-decoder"
    config_attr = "cfg"

    def __init__(self, cfg: DecoderConfig, dit: DiTConfig):
        super().__init__()
        if dit.latent_channels != cfg.latent_channels + cfg.cond_channels or dit.video2world:
            raise WorldsmithError(
                f"the decoder's DiT must take {cfg.latent_channels} latent + {cfg.cond_channels} condition "
                f"channels and no Video2World mask (build its config with `dit_config`)"
            )
        self.cfg = cfg
        self.fsq = FSQ(cfg.fsq_levels)
        d = len(cfg.fsq_levels)
        self.embed = (
            nn.Sequential(nn.Linear(d, cfg.embed_dim), nn.SiLU(), nn.Linear(cfg.embed_dim, cfg.embed_dim))
            if cfg.embed_dim
            else None
        )
        self.dit = DiT(dit)
        C = cfg.latent_channels
        mean = torch.tensor(cfg.latent_mean or (0.0,) * C).view(1, C, 1, 1, 1)
        std = torch.tensor(cfg.latent_std or (1.0,) * C).view(1, C, 1, 1, 1)
        self.register_buffer("latent_mean", mean, persistent=False)
        self.register_buffer("latent_std", std, persistent=False)

    def parallel_blocks(self) -> list[nn.Module]:
        """The DiT's blocks: what `worldsmith.distributed.parallelize` compiles / checkpoints / shards."""
        return list(self.dit.blocks)

    # --- condition ----------------------------------------------------------------------------

    def condition(self, tokens: torch.Tensor) -> torch.Tensor:
        """DV indices ``[B, T', h, w]`` -> ``[B, 6 + embed_dim, T, H, W]`` on the CV latent grid."""
        if tokens.ndim != 4 or tokens.dtype.is_floating_point:
            raise WorldsmithError(f"tokens must be [B, T', h, w] DV indices, got {tuple(tokens.shape)}")
        codes = self.fsq.indices_to_codes(tokens).to(self.dit.patch_embed.weight.dtype)  # [B, 6, T', h, w]
        parts = [codes]
        if self.embed is not None:
            parts.append(self.embed(codes.movedim(1, -1)).movedim(-1, 1))  # [B, E, T', h, w]
        cond = torch.cat(parts, dim=1)
        ut, uh, uw = self.cfg.upsample
        if ut > 1:  # causal alignment: CV latent frame j <- DV latent frame ceil(j / ut)
            T = 1 + (tokens.shape[1] - 1) * ut
            src = torch.div(torch.arange(T, device=cond.device) + ut - 1, ut, rounding_mode="floor")
            cond = cond.index_select(2, src)
        if uh > 1 or uw > 1:
            cond = cond.repeat_interleave(uh, dim=3).repeat_interleave(uw, dim=4)
        return cond

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, *, tokens: torch.Tensor) -> torch.Tensor:
        cond = self.condition(tokens)
        if cond.shape[2:] != x.shape[2:] or cond.shape[0] != x.shape[0]:
            raise WorldsmithError(
                f"tokens {tuple(tokens.shape)} give a latent grid {tuple(cond.shape[2:])}, "
                f"the latents are {tuple(x.shape[2:])}"
            )
        B = x.shape[0]
        text = x.new_zeros(B, 1, self.dit.cfg.text_dim)  # the null text: zero cross-attention output
        out = self.dit(torch.cat([x, cond.to(x.dtype)], dim=1), c_noise, text)
        return out[:, : self.cfg.latent_channels]

    # --- EDM ----------------------------------------------------------------------------------

    def denoiser(self) -> EDMDenoiser:
        """``D(x, sigma, tokens=...)``: EDM preconditioning around this network."""
        return EDMDenoiser(self, self.cfg.edm)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Raw CV latents -> EDM space (std ~ sigma_data per channel)."""
        return (z - self.latent_mean) / self.latent_std * self.cfg.edm.sigma_data

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.cfg.edm.sigma_data * self.latent_std + self.latent_mean

    @torch.no_grad()
    def sample(
        self,
        tokens: torch.Tensor,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        generator: torch.Generator | None = None,
        init: torch.Tensor | None = None,
        sigma_start: float | None = None,
    ) -> torch.Tensor:
        """DV indices ``[B, T', h, w]`` -> raw CV latents ``[B, C, T, H, W]`` (decode them with the
        CV tokenizer). Steps and sampler default to the config's.

        With `init` (raw CV latents of a first guess, e.g. the DV decoder's video encoded by the CV
        tokenizer) sampling starts from `init` noised to `sigma_start` instead of from pure noise at
        ``sigma_max`` (SDEdit, arXiv 2108.01073): the guess's coarse content is kept, the decoder
        redraws what the noise hides.
        """
        sampler, steps = sampler or self.cfg.sampler, steps or self.cfg.steps
        if sampler not in SAMPLERS:
            raise WorldsmithError(f"unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}")
        edm, p = self.cfg.edm, self.dit.patch_embed.weight
        T, H, W = self.cfg.latent_grid(tuple(tokens.shape[1:]))
        shape = (tokens.shape[0], self.cfg.latent_channels, T, H, W)
        if (init is None) != (sigma_start is None):
            raise WorldsmithError("sample: give `init` and `sigma_start` together (SDEdit), or neither")
        if init is not None and tuple(init.shape) != shape:
            raise WorldsmithError(f"sample: `init` must be raw CV latents {shape}, got {tuple(init.shape)}")
        if sigma_start is not None and not edm.sigma_min < sigma_start <= edm.sigma_max:
            raise WorldsmithError(
                f"sample: sigma_start {sigma_start} must lie in ({edm.sigma_min}, {edm.sigma_max}]"
            )
        top = edm.sigma_max if sigma_start is None else sigma_start
        sigmas = karras_sigmas(steps, edm.sigma_min, top, device=p.device)
        x = torch.randn(shape, generator=generator).to(p.device) * sigmas[0]
        if init is not None:
            x = x + self.normalize(init.to(p.device, torch.float32))
        den = self.denoiser()
        x = SAMPLERS[sampler](lambda x, s: den(x, s, tokens=tokens), x, sigmas, generator=generator)
        return self.denormalize(x)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- checkpoints --------------------------------------------------------------------------

    def checkpoint_sections(self) -> dict:
        return {"config": to_dict(self.cfg), "dit": to_dict(self.dit.cfg)}

    @classmethod
    def from_sections(cls, meta: dict) -> DiffusionDecoder:
        return cls(from_dict(DecoderConfig, meta["config"]), from_dict(DiTConfig, meta["dit"]))

    @classmethod
    def upgrade_meta(cls, meta: dict, path: Path) -> dict:
        """Before format 1: ``{"model", "decoder": {...}, "dit": {...}}``."""
        if "decoder" not in meta or "dit" not in meta:
            raise CheckpointError(f"'{path}/config.json' does not describe a diffusion decoder")
        return {
            "model": meta.get("model"),
            "format_version": 1,
            "config": meta["decoder"],
            "dit": meta["dit"],
        }


def load_decoder(path: str | Path, *, map_location: str = "cpu") -> tuple[DiffusionDecoder, nn.Module]:
    """(decoder, CV tokenizer) from a directory written by `train_diffusion_decoder`."""

    path = Path(path)
    decoder = DiffusionDecoder.from_pretrained(path, map_location=map_location)
    if not (path / "tokenizer").is_dir():
        raise CheckpointError(f"'{path}' holds no tokenizer/ (the continuous tokenizer to decode with)")
    tokenizer = CausalTokenizer.from_pretrained(path / "tokenizer", map_location=map_location).eval()
    if tokenizer.discrete or tokenizer.config.latent_channels != decoder.cfg.latent_channels:
        raise CheckpointError(f"'{path}/tokenizer' is not the continuous tokenizer of this decoder")
    return decoder, tokenizer


@torch.no_grad()
def decode_video(
    decoder: DiffusionDecoder,
    tokenizer: nn.Module,
    tokens: torch.Tensor,
    *,
    steps: int | None = None,
    sampler: str | None = None,
    generator: torch.Generator | None = None,
    dv: nn.Module | None = None,
) -> torch.Tensor:
    """DV indices ``[B, T', h, w]`` -> video ``[B, 3, T, H, W]`` in [-1, 1] (unclamped) via CV latents.

    A decoder with ``cfg.init_sigma > 0`` starts from the DV tokenizer `dv`'s own decode of the
    tokens, encoded by the CV `tokenizer` (SDEdit; see `DiffusionDecoder.sample`). With
    ``cfg.samples > 1`` the latents of that many samples are averaged (towards the posterior mean,
    which PSNR rewards) before the CV decoder.
    """
    init = sigma = None
    if decoder.cfg.init_sigma > 0:
        if dv is None:
            raise WorldsmithError(
                f"this diffusion decoder starts from the DV decode (init_sigma {decoder.cfg.init_sigma}); "
                f"pass the DV tokenizer as `dv`, or set decoder.init_sigma=0 to start from noise"
            )
        dtype = next(tokenizer.parameters()).dtype
        init, sigma = tokenizer.encode(dv.decode(tokens).clamp(-1, 1).to(dtype)), decoder.cfg.init_sigma
    kw = dict(steps=steps, sampler=sampler, generator=generator, init=init, sigma_start=sigma)
    draws = [decoder.sample(tokens, **kw) for _ in range(decoder.cfg.samples)]
    latents = torch.stack(draws).mean(0) if len(draws) > 1 else draws[0]
    return tokenizer.decode(latents.to(next(tokenizer.parameters()).dtype))


def tokenizer_upsample(dv: nn.Module, cv: nn.Module) -> tuple[int, int, int]:
    """``DecoderConfig.upsample`` for a DV and a CV tokenizer: the ratio of their compressions."""
    a, b = dv.config, cv.config
    ratios = (a.temporal_compression / b.temporal_compression, a.spatial_compression / b.spatial_compression)
    if any(r < 1 or r != math.floor(r) for r in ratios):
        raise WorldsmithError(
            f"the CV tokenizer ({b.temporal_compression}x{b.spatial_compression}) must compress by "
            f"an integer factor less than the DV one ({a.temporal_compression}x{a.spatial_compression})"
        )
    t, s = int(ratios[0]), int(ratios[1])
    return t, s, s


# --- training --------------------------------------------------------------------------------------


class PairDataset(torch.utils.data.Dataset):
    """``{"tokens": [T', h, w], "latents": [C, T, H, W]}`` per clip: the DV and CV codes of one clip."""

    def __init__(self, tokens: torch.Tensor, latents: torch.Tensor):
        if len(tokens) != len(latents):
            raise WorldsmithError(f"{len(tokens)} token clips but {len(latents)} latent clips")
        self.tokens, self.latents = tokens, latents

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"tokens": self.tokens[i], "latents": self.latents[i]}


@dataclass(frozen=True, kw_only=True)
class DecoderObjective:
    """EDM denoising loss of CV latents given their DV tokens: ``(model, batch) -> (loss, metrics)``."""

    def __call__(
        self, model: DiffusionDecoder, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        y = model.normalize(batch["latents"].float())
        loss = denoising_loss(model.denoiser(), y, model.cfg.edm, tokens=batch["tokens"])
        return loss, {}


def train_diffusion_decoder(
    dv_dir: str | Path,
    cv_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    preset: str = "tiny",
    frames: int = 17,
    size: tuple[int, int] = (64, 64),
    cache: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    n_threads: int | None = 1,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """``worldsmith train diffusion-decoder``: clips of `data` (`worldsmith.data.open_data`: curated
    shards picked by `selection`, or videos) -> (DV tokens, CV latents) caches -> DiT on the shared
    Trainer; the decoder (+ the CV tokenizer) goes to ``out/model``.

    `overrides` are dotted ``train.*`` (TrainConfig), ``model.*`` (DiTConfig) or ``decoder.*``.
    """
    from dataclasses import replace

    out, data = Path(out), open_data(data, selection)  # bad data fails before a model loads
    cache = Path(cache) if cache is not None else out / "cache"
    groups = split_overrides(overrides, ("train", "model", "decoder"))
    check_overrides(groups, {"train": TrainConfig, "model": DiTConfig, "decoder": DecoderConfig})
    if preset not in PRESETS:
        raise ConfigError(f"unknown DiT preset '{preset}'; choose one of {', '.join(PRESETS)}")
    dv, cv = _discrete(dv_dir), CausalTokenizer.from_pretrained(cv_dir).eval()
    if cv.discrete:
        raise WorldsmithError(f"--cv '{cv_dir}' is discrete; the decoder needs a continuous (CV) tokenizer")
    geometry = dict(frames=frames, size=size)
    tokens = encode_clips(dv, dv_dir, data, cache / "tokens", name="tokens", **geometry).values
    latents = encode_clips(cv, cv_dir, data, cache / "latents", name="latents", **geometry).values
    mean, std = latent_stats(latents)
    base = DecoderConfig(
        fsq_levels=tuple(dv.config.fsq_levels), latent_channels=latents.shape[1],
        upsample=tokenizer_upsample(dv, cv), latent_mean=mean, latent_std=std,
    )  # fmt: skip
    dcfg = load(DecoderConfig, overrides=groups["decoder"], base=base)
    grid = dcfg.latent_grid(tuple(tokens.shape[1:]))
    if grid != tuple(latents.shape[2:]):
        raise WorldsmithError(f"DV tokens {tuple(tokens.shape[1:])} map to {grid}, CV latents are "
                              f"{tuple(latents.shape[2:])}: the tokenizers do not fit together")  # fmt: skip
    dit_base = dit_config(dcfg, replace(PRESETS[preset](), patch_size=(1, 1, 1)), grid)
    train_cfg = _train_config(groups, len(tokens), seed, steps=1000, lr=1e-3, warmup_steps=50)
    with seeded_init(train_cfg.seed):
        model = DiffusionDecoder(dcfg, load(DiTConfig, overrides=groups["model"], base=dit_base))
    trainer = Trainer(train_cfg, model, DecoderObjective(), PairDataset(tokens, latents), out=out / "train")
    metrics = _fit(trainer, out / "train", n_threads)
    model.eval().save_pretrained(out / "model", children={"tokenizer": cv})
    metrics |= {"params": model.num_params(), "clips": len(tokens), "token_grid": list(tokens.shape[1:]),
                "latent_grid": list(grid), "model_dir": str(out / "model")}  # fmt: skip
    fs.write_json(out / "decoder_metrics.json", metrics)
    return metrics
