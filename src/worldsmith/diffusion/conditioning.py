"""Video2World conditioning: the first latent frames are given, the model denoises the rest.

Cosmos (arXiv 2501.03575, Sec. 5.1 "Video2World") trains one DiT for Text2World (no given frames)
and Video2World (the first ``n`` latent frames given). Given frames enter the network clean up to a
small noise augmentation ``y + sigma_aug n`` at their own input scale ``c_in(sigma_aug)`` (so the
network sees them as nearly-clean latents, not as noise at level sigma), a condition-mask channel marks
them, and the denoiser's output on them is the given latents themselves. After sampling, the given
frames therefore come out exactly as they went in.

Deviation from diffusers' Cosmos Video2World pipeline: there, once the sampler's sigma falls to
``sigma_aug`` or below (the last step, sigma_min = 0.0002 < 0.001), every frame is treated as noisy
and the given frames drift by ~1e-3. Here given frames stay given at every sigma, so they come out
bit-exact.

Rectified flow (Cosmos Predict 2.5, `flow.FlowConfig`): the given frames enter clean, shown to the
network at their own small time ``cond_t`` (a per-frame noise level, needs ``p_t = 1``) instead of
noise-augmented; everything else is shared through the family's ``scalings``.

Option (not in Cosmos; `DiTConfig.residual_to_given`): the generated frames are denoised relative
to the last given latent frame ``a``: ``D(x) = a + D'(x - a)`` with ``D'`` the EDM denoiser above.
A still scene is then the zero residual: at high noise the prediction falls back to "nothing
moves" (copy the last latent) instead of to the data mean, and the network spends its capacity on
what changes. Samples without given frames (Text2World) use ``a = 0``.

`DiTConfig.residual_scale` ``k`` (not in Cosmos): the change from ``a`` is far smaller than
sigma_data (std ~0.1 against 0.5 on the physics twins), below almost every training noise level, so
the denoiser learned "nothing moves". With ``k`` the residual denoiser works on the change scaled
to std ~sigma_data, at the noise levels scaled with it: ``D(x; sigma) = a + D'(k (x - a); k sigma) / k``
(exact for any ``D'``). The objective draws ``k sigma`` from the family's training distribution and
weights the loss by ``lambda(k sigma) k^2``; the sampler's schedule runs from ``sigma_max / k`` to
``sigma_min / k`` (`residual_factor`). Only samples with given frames are scaled.
"""

from __future__ import annotations

import torch
from torch import nn

from worldsmith.diffusion.edm import EDMConfig, _as_tensor
from worldsmith.diffusion.flow import FlowConfig


def frame_indicator(n_cond: torch.Tensor | int, B: int, T: int, device=None) -> torch.Tensor:
    """``[B, 1, T, 1, 1]`` float: 1 on the first `n_cond` (per sample ``[B]`` or shared) latent frames."""
    n = torch.as_tensor(n_cond, device=device).reshape(-1).expand(B)
    return (torch.arange(T, device=device)[None, :] < n[:, None]).float().view(B, 1, T, 1, 1)


def video2world_denoise(
    net: nn.Module,
    x: torch.Tensor,
    sigma: torch.Tensor | float,
    *,
    cfg: EDMConfig | FlowConfig,
    cond_latents: torch.Tensor | None = None,
    n_cond: torch.Tensor | int = 0,
    augment_sigma: torch.Tensor | float = 0.001,
    generator: torch.Generator | None = None,
    **net_kwargs,
) -> torch.Tensor:
    """Denoiser ``D(x; sigma)`` with the first `n_cond` latent frames given (Cosmos Video2World);
    `cfg` is the noise family (`EDMConfig` or `FlowConfig`).

    Args:
        net: the raw network ``F(x_in, c_noise, **net_kwargs)`` (a `DiT`); if its config has
            ``video2world`` a condition mask ``[B, 1, T, H, W]`` is passed as `condition_mask`.
        x: noisy latents ``[B, C, T, H, W]``.
        sigma: noise level, scalar or ``[B]``.
        cond_latents: clean latents ``[B, C, T', H, W]`` whose first `n_cond` frames are given.
        n_cond: given frames, an int or ``[B]`` (0 = Text2World).
        augment_sigma: noise level of the augmentation of the given frames, scalar or ``[B]``.
    """
    B, C, T, H, W = x.shape
    sigma = _as_tensor(sigma, x).to(x.device)
    sigma = sigma.expand(B) if sigma.ndim == 0 else sigma
    c_skip, c_out, c_in, _ = cfg.scalings(sigma.view(B, 1, 1, 1, 1))  # [B, 1, 1, 1, 1]
    c_noise = cfg.scalings(sigma)[3]  # [B]
    net_cfg = getattr(net, "cfg", None)
    ind = frame_indicator(n_cond, B, T, x.device) if cond_latents is not None else x.new_zeros(B, 1, T, 1, 1)
    anchor, k = x.new_zeros(()), x.new_ones(())
    if cond_latents is not None and getattr(net_cfg, "residual_to_given", False):
        anchor = last_given(_fit_frames(cond_latents, T).to(x.dtype), n_cond)  # [B, C, 1, H, W]
        k = residual_factor(net_cfg, n_cond, B, x.device)  # [B]
        c_skip, c_out, c_in, _ = cfg.scalings((k * sigma).view(B, 1, 1, 1, 1))
        c_noise = cfg.scalings(k * sigma)[3]
        k = k.view(B, 1, 1, 1, 1)
        x = k * (x - anchor)  # the scaled change: std ~sigma_data
    x_in = c_in * x
    if cond_latents is not None:
        y = _fit_frames(cond_latents, T).to(x.dtype)
        if cfg.name == "flow":  # clean given frames at their own time cond_t (Cosmos Predict 2.5)
            y_in = y
            if getattr(net_cfg, "patch_size", (1,))[0] == 1:
                ind_t = ind.view(B, T)
                c_noise = ind_t * cfg.cond_t + (1 - ind_t) * c_noise[:, None]  # [B, T]
        else:  # noise-augmented given frames at their own input scale (Cosmos 1.0)
            aug = _as_tensor(augment_sigma, x).to(x.device)
            aug = (aug.expand(B) if aug.ndim == 0 else aug).view(B, 1, 1, 1, 1)
            noise = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
            y_in = cfg.scalings(aug)[2] * (y + aug * noise)
        x_in = ind * y_in + (1 - ind) * x_in
    if getattr(net_cfg, "video2world", False):
        net_kwargs["condition_mask"] = ind.expand(B, 1, T, H, W)
    if getattr(net_cfg, "given_channels", False) and cond_latents is not None:
        net_kwargs["given_context"] = given_context(
            net_cfg, _fit_frames(cond_latents, T).to(x.dtype), n_cond, cfg
        )
    F_x = net(x_in.to(x.dtype), c_noise, **net_kwargs)
    D_x = anchor + (c_skip * x + c_out * F_x.float()) / k
    if cond_latents is not None:
        D_x = ind * y + (1 - ind) * D_x
    return D_x


def residual_factor(net_cfg, n_cond: torch.Tensor | int, B: int, device=None) -> torch.Tensor:
    """``[B]`` float: the residual scale ``k`` of `net_cfg` (`DiTConfig.residual_scale`) on samples with
    given frames, 1 on Text2World samples and for models without ``residual_to_given``."""
    on = getattr(net_cfg, "residual_to_given", False)
    k = float(getattr(net_cfg, "residual_scale", 1.0)) if on else 1.0
    n = torch.as_tensor(n_cond, device=device).reshape(-1).expand(B)
    return torch.where(n > 0, k, 1.0).float()


def measure_residual_scale(latents: torch.Tensor, n_cond: int | tuple[int, ...], sigma_data: float) -> float:
    """``sigma_data / rms(change)``: the `DiTConfig.residual_scale` that brings the change of the
    futures of diffusion-space latents ``[N, C, T, H, W]`` from their last given frame (after each
    `n_cond` in turn) to std ~sigma_data; 1 (off) where nothing changes."""
    ms = []
    for n in (n_cond,) if isinstance(n_cond, int) else n_cond:
        change = latents[:, :, n:].double() - latents[:, :, n - 1 : n].double()  # [N, C, T - n, H, W]
        ms.append(change.pow(2).mean())
    rms = float(torch.stack(ms).mean().sqrt())
    return sigma_data / rms if rms > 1e-8 else 1.0


def given_context(net_cfg, cond: torch.Tensor, n_cond: torch.Tensor | int, cfg) -> torch.Tensor:
    """``[B, 2C, 1, H, W]``: the last given latent frame ``a`` and its change from the given frame
    before it (0 with one given frame), ``[a, k (a - a_prev)] / sigma_data`` (``k``: the residual
    scale), i.e. about unit std; zeros on Text2World samples (`DiTConfig.given_channels`)."""
    B = cond.shape[0]
    n = torch.as_tensor(n_cond, device=cond.device).reshape(-1).expand(B)
    a, prev = last_given(cond, n), last_given(cond, (n - 1).clamp_min(0))
    prev = torch.where((n > 1).view(B, 1, 1, 1, 1), prev, a)
    k = residual_factor(net_cfg, n, B, cond.device).view(B, 1, 1, 1, 1)
    return torch.cat([a, k * (a - prev)], dim=1) / cfg.sigma_data


def last_given(cond: torch.Tensor, n_cond: torch.Tensor | int) -> torch.Tensor:
    """``[B, C, 1, H, W]``: each sample's last given latent frame (zeros where ``n_cond`` is 0)."""
    B = cond.shape[0]
    n = torch.as_tensor(n_cond, device=cond.device).reshape(-1).expand(B)
    idx = (n - 1).clamp_min(0).view(B, 1, 1, 1, 1).expand(B, cond.shape[1], 1, *cond.shape[3:])
    return torch.gather(cond, 2, idx) * (n > 0).to(cond.dtype).view(B, 1, 1, 1, 1)


def _fit_frames(cond: torch.Tensor, T: int) -> torch.Tensor:
    """Given latents padded with zeros (or cut) to `T` frames; frames past n_cond are never read."""
    if cond.shape[2] >= T:
        return cond[:, :, :T]
    pad = cond.new_zeros(*cond.shape[:2], T - cond.shape[2], *cond.shape[3:])
    return torch.cat([cond, pad], dim=2)  # [B, C, T, H, W]
