"""Sampling latents from a trained DiT: Text2World (no given frames) and Video2World.

`sample_latents` binds the conditioning into a denoiser ``D(x; sigma)`` (`conditioning.py`), wraps
it in classifier-free guidance against the null text, and runs a sampler from `samplers.py` on a
Karras schedule, starting from noise at ``sigma_max`` (EDM Algorithm 1/2). Cosmos-1.0 samples with
35 Euler steps and guidance w = 7 in its convention (scale 8 here, see `samplers.guided`); Cosmos
Predict 2.5 (a rectified-flow model, `noise=FlowConfig()`) with UniPC on sigmas 200 -> 0.01.
"""

from __future__ import annotations

import torch
from torch import nn

from worldsmith.diffusion.conditioning import residual_factor, video2world_denoise
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.flow import FlowConfig
from worldsmith.diffusion.objective import null_text
from worldsmith.diffusion.samplers import SAMPLERS, guided, karras_sigmas
from worldsmith.errors import WorldsmithError


@torch.no_grad()
def sample_latents(
    model: nn.Module,
    shape: tuple[int, int, int, int, int],
    *,
    text: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    cond_latents: torch.Tensor | None = None,
    n_cond: int = 0,
    steps: int = 35,
    sampler: str = "euler",
    guidance: float = 1.0,
    noise_cfg: EDMConfig | FlowConfig | None = None,
    rho: float = 7.0,
    augment_sigma: float = 0.001,
    noise: torch.Tensor | None = None,
    fps: float | None = None,
    generator: torch.Generator | None = None,
    callback=None,
    cond_kwargs: dict | None = None,
    uncond_kwargs: dict | None = None,
    neg_text: torch.Tensor | None = None,
    neg_text_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latents ``[B, C, T, H, W]`` (in the model's normalised latent space).

    Args:
        model: a `DiT` (the raw network F).
        shape: ``(B, C, T, H, W)`` of the latents to generate.
        text, text_mask: ``[B, S, D]`` prompt embeddings and ``[B, S]`` mask; None = null text.
        cond_latents: ``[B, C, >= n_cond, H, W]`` given latents for Video2World.
        n_cond: how many leading latent frames are given (0 = Text2World).
        guidance: classifier-free guidance scale (1 = none; the uncond model sees the null text).
        noise_cfg: the model's noise family (`WorldSpec.noise`); EDM defaults when omitted.
        noise: the starting standard-normal noise (drawn from `generator` when omitted).
        fps: passed to the DiT's temporal RoPE clock (`WorldSpec.model_fps`).
        cond_kwargs, uncond_kwargs: extra network inputs of the conditional and the unconditional
            model (post-training conditions such as actions, `worldsmith.posttrain`).
        neg_text, neg_text_mask: what the unconditional model sees instead of the null text (the
            embedded negative prompt of Cosmos 2.x pipelines).
    """
    if sampler not in SAMPLERS:
        raise WorldsmithError(f"unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}")
    if steps < 1:
        raise WorldsmithError(f"--steps must be >= 1, got {steps}")
    family = noise_cfg or EDMConfig()
    B, C, T, H, W = shape
    if n_cond and (cond_latents is None or cond_latents.shape[2] < n_cond):
        raise WorldsmithError(f"Video2World needs {n_cond} given latent frames, got {_frames(cond_latents)}")
    if n_cond >= T:
        raise WorldsmithError(f"{n_cond} given latent frames leave nothing to generate out of {T}")
    dev = next(model.parameters()).device
    text_dim = model.cfg.text_in_dim
    if text is None:
        text, text_mask = null_text(B, text_dim, dev)
    u_text, u_mask = null_text(B, text_dim, dev) if neg_text is None else (neg_text, neg_text_mask)
    common = dict(cfg=family, cond_latents=cond_latents if n_cond else None, n_cond=n_cond)
    common["augment_sigma"], common["generator"] = augment_sigma, generator
    if fps is not None:
        common["fps"] = fps
    c_kw, u_kw = cond_kwargs or {}, uncond_kwargs or {}

    def cond(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return video2world_denoise(model, x, sigma, text=text, text_mask=text_mask, **common, **c_kw)

    def uncond(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return video2world_denoise(model, x, sigma, text=u_text, text_mask=u_mask, **common, **u_kw)

    k = float(residual_factor(model.cfg, n_cond, 1)[0])  # a residual scale shifts the schedule with it
    sigmas = karras_sigmas(steps, family.sigma_min / k, family.sigma_max / k, rho, device=dev)
    if noise is None:
        noise = torch.randn(shape, generator=generator).to(dev)
    x = noise * family.prior_scale(sigmas[0])
    return SAMPLERS[sampler](
        guided(cond, uncond, guidance), x, sigmas, generator=generator, callback=callback
    )


def _frames(t: torch.Tensor | None) -> int:
    return 0 if t is None else t.shape[2]


@torch.no_grad()
def decode_relative(
    tokenizer: torch.nn.Module, given: torch.Tensor, latents: torch.Tensor, n_cond: int
) -> torch.Tensor:
    """Video of a Video2World latent prediction as the last given frame plus the decoded change:
    ``given[-1] + decode(latents) - decode(held)``, where `held` repeats the last given latent frame
    over the future. The tokenizer's reconstruction error cancels (a held latent gives exactly the
    copied last frame) and only the motion the DiT predicted is added to the true pixels.

    `given`: the given frames ``[B, 3, n, H, W]`` in [-1, 1]; `latents`: ``[B, C, T', h, w]`` whose
    first `n_cond` frames encode them. Returns ``[B, 3, T, H, W]`` in [-1, 1], the given frames exact.
    """
    if not 0 < n_cond < latents.shape[2]:
        raise WorldsmithError(f"n_cond must be in 1..{latents.shape[2] - 1}, got {n_cond}")
    n = given.shape[2]
    held = latents.clone()
    held[:, :, n_cond:] = latents[:, :, n_cond - 1 : n_cond]
    change = tokenizer.decode(latents) - tokenizer.decode(held)  # [B, 3, T, H, W]
    future = (given[:, :, -1:] + change[:, :, n:]).clamp(-1, 1)
    return torch.cat([given, future], dim=2)
