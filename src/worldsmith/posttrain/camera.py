"""Camera-conditioned world models: a pretrained DiT that follows a requested camera path.

Cosmos post-trains Video2World for camera control (arXiv 2501.03575, Sec. 5.3, after CameraCtrl,
He et al. 2024, arXiv 2404.02101): every pixel gets the Plücker coordinates of its viewing ray under
the requested camera, ``(d, o x d)`` with ``o`` the camera centre and ``d`` the unit ray direction in
world space (6 channels), at latent resolution; the 6 channels are concatenated to the latent
channels at the DiT's input. Concatenating channels before the patch embedding is a linear layer of
the concatenation, i.e. ``patch_embed(x) + W_cam(plucker patches)``: `CameraDiT` adds ``W_cam``'s
tokens to the base's patch embeddings (`DiT.forward(extra_tokens=)`), with ``W_cam`` zero-initialised
so step 0 of post-training is the base model exactly.

Poses are taken relative to the first frame (its camera is the identity), so a path means the same
whatever world frame it was written in; translations keep the path's units (the twins: metres).

Time layout (causal tokenizer, ``k`` frames per latent frame after the first): latent frame 0 is
video frame 0, latent frame ``j >= 1`` summarises frames ``(j-1) k + 1 .. j k`` and takes the rays
of its last frame ``j k``. A clip of ``1 + (n-1) k`` frames needs that many poses.

Cameras are dropped with probability `camera_dropout` in training (those samples get no camera
tokens: the base model), which gives classifier-free guidance on the camera at sampling:
``D = D_none + w (D_camera - D_none)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch import nn

from worldsmith.config import check
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.errors import WorldsmithError

PLUCKER_CHANNELS = 6


class CameraError(WorldsmithError):
    """A camera path that does not fit the model or the video (count, rotations, intrinsics)."""


def relative_to_first(w2c: torch.Tensor) -> torch.Tensor:
    """World-to-camera ``[..., F, 4, 4]`` -> the same cameras in the first camera's frame
    (``w2c_i inv(w2c_0)``; frame 0 becomes the identity)."""
    return w2c @ torch.linalg.inv(w2c[..., :1, :, :])


def latent_frame_indices(latent_frames: int, k: int) -> list[int]:
    """The video frame whose rays each latent frame takes: 0, then ``j k`` (its last frame)."""
    return [j * k for j in range(latent_frames)]


def plucker(K: torch.Tensor, w2c: torch.Tensor, height: int, width: int, stride: int = 1) -> torch.Tensor:
    """Plücker coordinates ``[..., 6, height // stride, width // stride]`` of the rays through the
    centres of ``stride x stride`` pixel cells, for cameras ``K [..., 3, 3]``, ``w2c [..., 4, 4]``.

    Pixel centres are at integer coordinates, so cell ``(i, j)`` is centred at pixel
    ``(u, v) = (s j + (s - 1) / 2, s i + (s - 1) / 2)``. Channels: unit direction ``d`` (world space),
    then the moment ``o x d``.
    """
    check(height % stride == 0 and width % stride == 0, "stride", stride, f"must divide {height}x{width}")
    K, w2c = K.double(), w2c.double()
    h, w = height // stride, width // stride
    off = (stride - 1) / 2
    v, u = torch.meshgrid(
        torch.arange(h, dtype=torch.float64) * stride + off,
        torch.arange(w, dtype=torch.float64) * stride + off,
        indexing="ij",
    )  # [h, w] each
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(-1, 3)  # [h w, 3]
    R, t = w2c[..., :3, :3], w2c[..., :3, 3]
    cam_dirs = pix @ torch.linalg.inv(K).transpose(-1, -2)  # [..., h w, 3] camera-space directions
    d = cam_dirs @ R  # [..., h w, 3]: R^T x per row
    d = d / d.norm(dim=-1, keepdim=True)
    o = -(R.transpose(-1, -2) @ t[..., None])[..., 0]  # [..., 3] camera centre
    m = torch.cross(o[..., None, :].expand_as(d), d, dim=-1)  # [..., h w, 3]
    out = torch.cat([d, m], dim=-1).transpose(-1, -2)  # [..., 6, h w]
    return out.reshape(*out.shape[:-1], h, w).float()


def check_path(K: torch.Tensor, w2c: torch.Tensor, needed: int, size: tuple[int, int], where: str) -> None:
    """Raise `CameraError` naming `where` and the fix: too few poses, non-orthonormal rotations,
    non-finite values, or intrinsics whose principal point is not near the centre of a ``size`` (H, W)
    image (more than 15 % of the size away: K written for another resolution)."""
    if w2c.shape[0] < needed or K.shape[0] < needed:
        raise CameraError(
            f"{where}: {min(w2c.shape[0], K.shape[0])} poses for a clip of {needed} frames; give one "
            "pose (and intrinsics) per frame, or generate fewer frames"
        )
    w2c, K = w2c[:needed].double(), K[:needed].double()
    if not (torch.isfinite(w2c).all() and torch.isfinite(K).all()):
        raise CameraError(f"{where}: the path contains NaN or inf values; fix or drop those frames")
    R = w2c[:, :3, :3]
    eye = torch.eye(3, dtype=R.dtype)
    err = (R @ R.transpose(-1, -2) - eye).abs().amax(dim=(-1, -2))  # [F]
    bad = int(torch.argmax(err))
    if err[bad] > 1e-3 or torch.linalg.det(R[bad]) < 0:
        raise CameraError(
            f"{where}: the rotation of frame {bad} is not orthonormal (|R R^T - I| = {err[bad]:.3g}, det "
            f"{torch.linalg.det(R[bad]):.3g}); give proper rotations (world-to-camera, det +1)"
        )
    H, W = size
    cx, cy, fx, fy = K[:, 0, 2], K[:, 1, 2], K[:, 0, 0], K[:, 1, 1]
    # Principal points sit near the image centre: K for another size puts it off by >= 15 %.
    off = (
        ((cx - (W - 1) / 2).abs() > 0.15 * W) | ((cy - (H - 1) / 2).abs() > 0.15 * H) | (fx <= 0) | (fy <= 0)
    )
    if off.any():
        i = int(torch.nonzero(off)[0])
        raise CameraError(
            f"{where}: intrinsics of frame {i} (cx {cx[i]:.1f}, cy {cy[i]:.1f}) do not fit a {W}x{H} video; "
            "give K for the video's size (scale fx, cx by the width ratio and fy, cy by the height ratio)"
        )


def camera_rays(K: torch.Tensor, w2c: torch.Tensor, latent_frames: int, k: int, size, stride) -> torch.Tensor:
    """Per-frame cameras ``K [B, F, 3, 3]``, ``w2c [B, F, 4, 4]`` -> Plücker rays ``[B, 6, T, h, w]``
    at latent resolution, poses relative to frame 0, one frame per latent frame."""
    idx = latent_frame_indices(latent_frames, k)
    rel = relative_to_first(w2c.double())[:, idx]  # [B, T, 4, 4]
    rays = plucker(K[:, idx], rel, size[0], size[1], stride)  # [B, T, 6, h, w]
    return rays.transpose(1, 2).contiguous()  # [B, 6, T, h, w]


class CameraDiT(nn.Module):
    """A base `DiT` plus camera conditioning: ``F(x, c_noise, text, *, plucker [B, 6, T, h, w],
    camera_keep [B])``. Without `plucker` (or where `camera_keep` is 0) it is the base network (the
    unconditional model of classifier-free guidance). `cfg` is the base's config."""

    def __init__(self, base: DiT):
        super().__init__()
        self.base = base
        pt, ph, pw = base.cfg.patch_size
        self.camera = nn.Linear(PLUCKER_CHANNELS * pt * ph * pw, base.cfg.dim, bias=False)
        nn.init.zeros_(self.camera.weight)  # zero-initialised input weights: step 0 is the base

    @property
    def cfg(self):
        return self.base.cfg

    def tokens(self, rays: torch.Tensor) -> torch.Tensor:
        """Plücker rays ``[B, 6, T, H, W]`` -> tokens ``[B, L, D]`` in the base's patch order."""
        pt, ph, pw = self.cfg.patch_size
        patches = rearrange(rays, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)
        return self.camera(patches)

    def forward(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        text: torch.Tensor,
        *,
        plucker: torch.Tensor | None = None,
        camera_keep: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if plucker is None:
            return self.base(x, c_noise, text, **kwargs)
        if tuple(plucker.shape[2:]) != tuple(x.shape[2:]) or plucker.shape[1] != PLUCKER_CHANNELS:
            raise CameraError(f"camera rays {tuple(plucker.shape)} do not match latents {tuple(x.shape)}")
        tok = self.tokens(plucker.to(x.device, x.dtype))  # [B, L, D]
        if camera_keep is not None:
            tok = tok * camera_keep.to(tok.dtype).view(-1, 1, 1)  # 0 = camera dropped
        if not tok.requires_grad and not tok.any():
            return self.base(x, c_noise, text, **kwargs)  # step 0 / all dropped: the base bit for bit
        return self.base(x, c_noise, text, extra_tokens=tok, **kwargs)


class CameraObjective(DiffusionObjective):
    """The diffusion objective with ``batch["plucker"] [B, 6, T, h, w]`` as a condition, dropped per
    sample with probability `camera_dropout` (for classifier-free guidance on the camera)."""

    def __init__(
        self,
        cfg: ObjectiveConfig | None = None,
        *,
        camera_dropout: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__(cfg, generator=generator)
        check(0 <= camera_dropout <= 1, "camera_dropout", camera_dropout, "must be in [0, 1]")
        self.camera_dropout = camera_dropout

    def condition(self, batch: dict[str, Any], B: int, device) -> dict[str, Any]:
        if batch.get("plucker") is None:
            raise CameraError("the training batch has no 'plucker' rays; post-train on episodes with cameras")
        keep = (torch.rand(B, generator=self.generator) >= self.camera_dropout).float()
        return {"plucker": batch["plucker"].to(device), "camera_keep": keep.to(device)}


def motion_magnitude(w2c: np.ndarray) -> tuple[float, float]:
    """(total rotation in degrees, camera-centre path length) of a path ``[F, 4, 4]`` w2c."""
    R, t = w2c[:, :3, :3], w2c[:, :3, 3]
    centres = -np.einsum("fji,fj->fi", R, t)  # [F, 3]: -R^T t
    rel = np.einsum("fij,fkj->fik", R[1:], R[:-1])  # R_{i+1} R_i^T
    ang = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    return float(ang.sum()), float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())
