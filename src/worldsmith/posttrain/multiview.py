"""Multi-view driving world models: V synchronised cameras generated jointly, following the ego path.

Cosmos post-trains a single-view Video2World model into a multi-view one (arXiv 2501.03575,
Sec. 5.4 "Multi-view driving"): the V views of a rig are one sample, latents ``[B, V, C, T, H, W]``;

* a learned **view embedding** is concatenated to every view's latent channels. Concatenated
  channels that are constant over a patch are a linear layer of the embedding added to the patch
  embedding (as in `camera.py`): ``tokens_v += W_view e_v``, ``W_view`` zero-initialised;
* **self-attention is joint** over all views' tokens (``V T H W`` of them), each view keeping its
  own 3D RoPE positions (the same table per view: the view embedding tells them apart);
* **cross-attention is per view**, each view's tokens attending to its own caption (one block-
  diagonal mask over the V captions concatenated);
* optionally the **ego trajectory** (Cosmos: 64 points x xyz at 0.1 s, in the ego frame of the first
  frame) is embedded, like the action of `action.py`, by zero-initialised layers added to the
  noise-level embedding and the shared AdaLN-LoRA term (`ActionEmbedder`);
* Video2World: the first latent frames of every view are given.

Layout: the diffusion code (objective, `video2world_denoise`, samplers) works on ``[B, C, T, H, W]``
tensors, so a rig travels through it **tiled along the width**, ``[B, C, T, H, V W]`` (`tile_views`):
one noise level, one given-frame count and one text dropout per rig. `MultiViewDiT` untiles it into
views before the patch embedding; patches never straddle two views. With V = 1 and the zero-
initialised layers it computes the base DiT's output.

The trajectory is dropped with probability `trajectory_dropout` in training (dropped samples get no
trajectory embedding), which gives classifier-free guidance on it and "the same model without the
trajectory" for evaluation. The model reuses the base's weights (`base`), which LoRA may adapt;
the new parts live in `multiview` (saved apart, `world.save_posttrained`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsmith.config import check
from worldsmith.diffusion.dit import DiT, _modulate, _rms_norm
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.errors import WorldsmithError
from worldsmith.nn.embed import sinusoidal_embedding
from worldsmith.nn.rope import rope_3d
from worldsmith.posttrain.action import ActionConfig, ActionEmbedder


class RigError(WorldsmithError):
    """A rig, trajectory or checkpoint that does not fit the multi-view model."""


@dataclass(frozen=True, kw_only=True)
class MultiViewConfig:
    """The rig a multi-view model generates and the trajectory it follows."""

    cameras: tuple[str, ...]  # view order of the rig (drive twin: front, back, left, right, ...)
    view_dim: int = 8  # width of the learned view embedding (channels concatenated per view)
    trajectory_points: int = 64  # N points x xyz (0 = no trajectory conditioning)
    trajectory_dt: float = 0.1  # seconds between trajectory points (the first at dt)
    trajectory_scale: float = 10.0  # metres per unit of the embedder's input
    hidden_mult: float = 4.0  # trajectory MLP width / D (as the action MLPs)

    def __post_init__(self) -> None:
        check(len(self.cameras) >= 1, "cameras", self.cameras, "must name at least one camera")
        check(len(set(self.cameras)) == len(self.cameras), "cameras", self.cameras, "must be distinct")
        check(self.view_dim >= 1, "view_dim", self.view_dim, "must be >= 1")
        check(self.trajectory_points >= 0, "trajectory_points", self.trajectory_points, "must be >= 0")
        check(self.trajectory_dt > 0, "trajectory_dt", self.trajectory_dt, "must be positive")
        check(self.trajectory_scale > 0, "trajectory_scale", self.trajectory_scale, "must be positive")

    @property
    def views(self) -> int:
        return len(self.cameras)

    @property
    def horizon_s(self) -> float:
        """Seconds of future the trajectory covers."""
        return self.trajectory_points * self.trajectory_dt


def trajectory_points_for(frames: int, fps: float, dt: float = 0.1) -> int:
    """Trajectory points (every `dt` s) that cover a clip of `frames` frames at `fps`."""
    return max(1, math.ceil((frames - 1) / fps / dt - 1e-9))


def tile_views(x: torch.Tensor) -> torch.Tensor:
    """Rig latents ``[B, V, C, T, H, W]`` -> the tiled layout ``[B, C, T, H, V W]``."""
    return rearrange(x, "b v c t h w -> b c t h (v w)")


def untile_views(x: torch.Tensor, views: int) -> torch.Tensor:
    """The tiled layout ``[B, C, T, H, V W]`` -> rig latents ``[B, V, C, T, H, W]``."""
    return rearrange(x, "b c t h (v w) -> b v c t h w", v=views)


class RigConditioning(nn.Module):
    """The new parts: a view embedding ``[V, view_dim]`` with its zero-initialised projection to the
    model width, and the trajectory embedder (zero-initialised output layers)."""

    def __init__(self, cfg: MultiViewConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.view_table = nn.Parameter(torch.randn(cfg.views, cfg.view_dim))
        self.view_proj = nn.Linear(cfg.view_dim, dim, bias=False)
        nn.init.zeros_(self.view_proj.weight)  # step 0 is the base
        self.trajectory = None
        if cfg.trajectory_points:
            traj = ActionConfig(action_dim=3 * cfg.trajectory_points, hidden_mult=cfg.hidden_mult)
            self.trajectory = ActionEmbedder(traj, dim)

    def view_tokens(self) -> torch.Tensor:
        """``[V, D]``: what each view's channels add to its patch embeddings."""
        return self.view_proj(self.view_table)

    def embed_trajectory(self, trajectory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, >= N, 3]`` metres -> the DiT's ``extra_emb`` ``([B, 1, D], [B, 1, 3D])``."""
        n = self.cfg.trajectory_points
        check_trajectory(trajectory, n, "trajectory")
        flat = trajectory[:, :n].reshape(trajectory.shape[0], 1, 3 * n) / self.cfg.trajectory_scale
        return self.trajectory(flat.float())  # [B, 1, D], [B, 1, 3D]


def check_trajectory(trajectory: torch.Tensor, needed: int, where: str, dt: float = 0.1) -> None:
    """Raise `RigError` naming `where` and the fix: not ``[B, N, 3]``, too short, or non-finite."""
    if trajectory.ndim != 3 or trajectory.shape[-1] != 3:
        raise RigError(
            f"{where}: expected points of x, y, z metres ([N, 3]), got shape {tuple(trajectory.shape)}"
        )
    if trajectory.shape[1] < needed:
        raise RigError(
            f"{where}: {trajectory.shape[1]} points ({trajectory.shape[1] * dt:.1f} s) are shorter than the "
            f"model's horizon of {needed} points every {dt} s ({needed * dt:.1f} s); give a longer trajectory"
        )
    if not torch.isfinite(trajectory[:, :needed]).all():
        raise RigError(f"{where}: the trajectory contains NaN or inf values; fix or drop those points")


class MultiViewDiT(nn.Module):
    """A base `DiT` run jointly over the V views of a rig:
    ``F(x [B, C, T, H, V W], c_noise, text [B, V S, Dt] | [B, 1, Dt], *, trajectory [B, N, 3])``.

    `text` holds each view's caption, view-major (``[B, V S, Dt]`` with mask ``[B, V S]``), or one
    shared token (the null text of guidance). `cfg` is the base's config, so the diffusion code takes
    it as it takes a `DiT`."""

    def __init__(self, base: DiT, cfg: MultiViewConfig):
        super().__init__()
        if base.cfg.img_context_dim:
            raise WorldsmithError(
                "multi-view post-training of an image-context (Transfer) DiT is not supported"
            )
        self.base, self.mv_cfg = base, cfg
        self.multiview = RigConditioning(cfg, base.cfg.dim)

    @property
    def cfg(self):
        return self.base.cfg

    def parallel_blocks(self) -> list[nn.Module]:
        """The base's blocks: context parallelism splits the joint ``V T H W`` sequence across ranks."""
        return list(self.base.blocks)

    def _text(
        self, text: torch.Tensor, mask: torch.Tensor | None, L: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-view captions -> (``[B, V S, Dt]``, block-diagonal mask ``[B, 1, V L, V S]``)."""
        V, (B, S, _) = self.mv_cfg.views, text.shape
        if mask is None:
            mask = torch.ones(B, S, dtype=torch.bool, device=text.device)
        if S % V:
            if S != 1:
                raise RigError(
                    f"text must be [B, V*S, D] captions for {V} views (or one shared token), got S={S}"
                )
            text, mask, S = text.expand(B, V, -1), mask.expand(B, V), V
        view_q = torch.arange(V, device=text.device).repeat_interleave(L)  # [V L]
        view_k = torch.arange(V, device=text.device).repeat_interleave(S // V)  # [V S]
        block = view_q[:, None] == view_k[None, :]  # [V L, V S]: each view attends to its caption
        return text, block[None, None] & mask.bool()[:, None, None, :]  # [B, 1, V L, V S]

    def forward(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        text: torch.Tensor,
        *,
        text_mask: torch.Tensor | None = None,
        condition_mask: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        fps: float | None = None,
        trajectory: torch.Tensor | None = None,
        trajectory_keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        base, cfg, V = self.base, self.base.cfg, self.mv_cfg.views
        B, C, T, H, VW = x.shape
        pt, ph, pw = cfg.patch_size
        W = VW // V
        if VW % V or W % pw or H % ph or T % pt or cfg.latent_channels != C:
            raise RigError(
                f"latents {tuple(x.shape)} are not {V} tiled views of [{cfg.latent_channels}, T, H, W] "
                f"divisible by the patch {cfg.patch_size}"
            )
        grid = (T // pt, H // ph, W // pw)
        L = grid[0] * grid[1] * grid[2]
        inputs = [x]
        if cfg.video2world:
            inputs.append(
                x.new_zeros(B, 1, T, H, VW) if condition_mask is None else condition_mask.to(x.dtype)
            )
        if cfg.concat_padding_mask:
            pad = x.new_zeros(1, 1, H, VW) if padding_mask is None else padding_mask.to(x.dtype)
            inputs.append(F.interpolate(pad, size=(H, VW), mode="nearest")[:, :, None].expand(B, 1, T, H, VW))
        views = rearrange(torch.cat(inputs, 1), "b c t h (v w) -> (b v) c t h w", v=V)  # [B V, C_in, T, H, W]
        patches = rearrange(views, "n c (t a) (h p) (w q) -> n (t h w) (c a p q)", a=pt, p=ph, q=pw)
        tokens = base.patch_embed(patches) + self.multiview.view_tokens().repeat(B, 1)[:, None]  # [B V, L, D]
        tokens = rearrange(tokens, "(b v) l d -> b (v l) d", v=V)  # [B, V L, D]: the joint sequence

        cos, sin = rope_3d(cfg.head_dim, grid, scale=cfg.rope_scale, fps=fps, device=x.device)
        rope = (cos.repeat(V, 1), sin.repeat(V, 1))  # [V L, Dh]: every view at its own 3D positions
        pos = None if base.pos_embed is None else base.pos_embed(grid).to(x.dtype).repeat(V, 1)  # [V L, D]

        if c_noise.ndim == 2 and (pt != 1 or c_noise.shape != (B, T)):
            raise ValueError(f"per-frame c_noise must be [B, T] = {(B, T)} with p_t = 1")
        t_feat = (
            sinusoidal_embedding(c_noise.reshape(-1), cfg.dim).to(x.dtype).view(B, -1, cfg.dim)
        )  # [B, 1|T, D]
        shared = base.t_fc2(F.silu(base.t_fc1(t_feat)))  # [B, 1|T, 3D]
        if trajectory is not None and self.multiview.trajectory is not None:
            e, s = self.multiview.embed_trajectory(trajectory.to(x.device))
            if trajectory_keep is not None:
                keep = trajectory_keep.to(e.dtype).view(-1, 1, 1)  # [B, 1, 1]: 0 = trajectory dropped
                e, s = e * keep, s * keep
            t_feat, shared = t_feat + e.to(x.dtype), shared + s.to(x.dtype)
        emb = _rms_norm(t_feat, base.t_norm)  # [B, 1|T, D]
        if emb.shape[1] > 1:  # per latent frame: repeated over each view's tokens of that frame
            per = grid[1] * grid[2]
            emb, shared = (
                e[:, None, :, None].expand(-1, V, -1, per, -1).flatten(1, 3) for e in (emb, shared)
            )

        if base.text_proj is not None:
            text = F.gelu(base.text_proj(text))  # [B, V S, text_dim]
        text, mask = self._text(text, text_mask, L)
        for block in base.blocks:
            tokens = block(tokens, emb, shared, text, rope=rope, pos=pos, text_mask=mask)
        shift, scale = base.final_mod(emb, shared)
        out = base.proj_out(_modulate(tokens, shift, scale))  # [B, V L, ph pw pt C]
        t, h, w = grid
        # the base's output patch layout (p_h, p_w, p_t, C), views back side by side along the width
        return rearrange(
            out, "b (v t h w) (p q a c) -> b c (t a) (h p) (v w q)", v=V, t=t, h=h, w=w, p=ph, q=pw, a=pt
        )


class MultiViewObjective(DiffusionObjective):
    """The diffusion objective on tiled rigs ``batch["latents"] [B, C, T, H, V W]`` with the ego
    trajectory ``batch["trajectory"] [B, N, 3]`` as a condition, dropped per rig with probability
    `trajectory_dropout` (classifier-free guidance on the trajectory)."""

    def __init__(
        self,
        cfg: ObjectiveConfig | None = None,
        *,
        trajectory_dropout: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__(cfg, generator=generator)
        check(0 <= trajectory_dropout <= 1, "trajectory_dropout", trajectory_dropout, "must be in [0, 1]")
        self.trajectory_dropout = trajectory_dropout

    def condition(self, batch: dict[str, Any], B: int, device) -> dict[str, Any]:
        if batch.get("trajectory") is None:
            return {}
        keep = (torch.rand(B, generator=self.generator) >= self.trajectory_dropout).float()
        return {"trajectory": batch["trajectory"].to(device), "trajectory_keep": keep.to(device)}
