"""ControlNet branches on a frozen DiT: video from depth, segmentation, edges and blur (Cosmos-Transfer).

Cosmos-Transfer (arXiv 2503.14492, Sec. 3; Transfer 2.5 in diffusers as ``CosmosControlNetModel``)
follows ControlNet (Zhang et al. 2023, arXiv 2302.05543): for each control type a branch holds a
copy of the base's first ``N`` blocks (and of its embeddings). The branch's first block reads
``before_proj(patch_embed(control)) + patch_embed_base(x)``; after each branch block ``i`` a
zero-initialised ``after_proj`` gives a residual that is added to the output of base block
``i * every_n``. The ``after_proj`` layers start at zero, so step 0 of post-training is the base
model exactly; the base stays frozen and only the branches train. ``before_proj`` starts as a plain
linear layer (not at zero as in ControlNet's input zero convolution): with both ends at zero the
control's own embedding gets no gradient until two zero layers have moved, which on our CPU budgets
(hundreds of steps) left the branches blind to their control.

Several controls (multi-control, Cosmos-Transfer Sec. 3.2): every branch runs and its residuals are
weighted and summed. A weight is a scalar, a per-sample ``[B]`` value (training drops controls per
sample with it) or a spatiotemporal map ``[B|1, 1, T, h, w]`` at latent resolution (its patch means
weigh each token). Where the weights sum to more than 1 they are divided by their sum (Cosmos-Transfer
1's normalisation), so one control's weight 0.5 halves its effect and two controls of weight 1 share
it.

Weight names map one-to-one to diffusers' ``CosmosControlNetModel`` (`control_diffusers_parts`);
the control input is `controls.control_latents` (``CONTROL_CHANNELS * s * s`` channels) plus the
condition-mask and padding-mask channels diffusers appends.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsmith.config import check
from worldsmith.diffusion import convert
from worldsmith.diffusion.dit import DiT, DiTConfig, _rms_norm
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.nn.embed import sinusoidal_embedding
from worldsmith.nn.rope import rope_3d
from worldsmith.posttrain.controls import ControlError, check_weights, latent_channels, parse_controls


@dataclass(frozen=True, kw_only=True)
class ControlConfig:
    controls: tuple[str, ...]  # one branch per control type, in this order
    blocks: int = 1  # N: blocks per branch (copies of the base's first N blocks)
    every_n: int = 1  # branch block i feeds base block i * every_n (controlnet_block_every_n)
    cell: int = 8  # s: pixel cells per latent cell (the tokenizer's spatial compression)
    frames_per_latent: int = 1  # k: the tokenizer's temporal compression

    def __post_init__(self) -> None:
        object.__setattr__(self, "controls", parse_controls(tuple(self.controls)))
        for key in ("blocks", "every_n", "cell", "frames_per_latent"):
            check(getattr(self, key) >= 1, key, getattr(self, key), "must be >= 1")


class ControlBranch(nn.Module):
    """One control's branch: ``(control [B, Cc, T, H, W], x [B, C, T, H, W], c_noise, text)`` ->
    ``N`` residuals ``[B, L, D]`` (before weighting). Module names follow `DiT`'s, so the diffusers
    names of `convert` apply (``blocks`` -> ``control_blocks``)."""

    def __init__(self, base: DiT, control_channels: int, blocks: int):
        super().__init__()
        cfg, D = base.cfg, base.cfg.dim
        p = cfg.patch_size[0] * cfg.patch_size[1] * cfg.patch_size[2]
        self.cfg, self.control_channels = cfg, control_channels
        # control + condition mask + padding mask (diffusers' in_channels = Cc + 2)
        self.patch_embed = nn.Linear((control_channels + 2) * p, D, bias=False)
        nn.init.xavier_uniform_(self.patch_embed.weight)
        # Copies of the base's input embeddings and first blocks (the branch starts as the base does).
        self.base_embed = copy.deepcopy(base.patch_embed)
        self.pos_embed = copy.deepcopy(base.pos_embed)
        self.t_fc1, self.t_fc2, self.t_norm = (
            copy.deepcopy(m) for m in (base.t_fc1, base.t_fc2, base.t_norm)
        )
        self.text_proj, self.img_proj = copy.deepcopy(base.text_proj), copy.deepcopy(base.img_proj)
        self.blocks = nn.ModuleList(copy.deepcopy(base.blocks[i]) for i in range(blocks))
        self.before_proj = nn.Linear(D, D)
        self.after_proj = nn.ModuleList(nn.Linear(D, D) for _ in range(blocks))
        nn.init.xavier_uniform_(self.before_proj.weight)
        nn.init.zeros_(self.before_proj.bias)
        for proj in self.after_proj:  # ControlNet's zero convolutions: step 0 is the base
            nn.init.zeros_(proj.weight)
            nn.init.zeros_(proj.bias)
        self.requires_grad_(True)  # the copies of a frozen base train

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        pt, ph, pw = self.cfg.patch_size
        return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)

    def forward(
        self,
        control: torch.Tensor,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        text: torch.Tensor,
        *,
        text_mask: torch.Tensor | None = None,
        condition_mask: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        fps: float | None = None,
        img_context: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        cfg, (B, _, T, H, W) = self.cfg, x.shape
        grid = (T // cfg.patch_size[0], H // cfg.patch_size[1], W // cfg.patch_size[2])
        cond = x.new_zeros(B, 1, T, H, W) if condition_mask is None else condition_mask.to(x.dtype)
        pad = x.new_zeros(1, 1, H, W) if padding_mask is None else padding_mask.to(x.dtype)
        pad = F.interpolate(pad, size=(H, W), mode="nearest")[:, :, None].expand(B, 1, T, H, W)
        hint = torch.cat([control.to(x.dtype), cond, pad], dim=1)  # [B, Cc + 2, T, H, W]
        own = [x, *([cond] if cfg.video2world else []), *([pad] if cfg.concat_padding_mask else [])]
        base_tok = self.base_embed(self._patches(torch.cat(own, dim=1)))  # [B, L, D]
        h = self.before_proj(self.patch_embed(self._patches(hint))) + base_tok  # [B, L, D]

        rope = rope_3d(cfg.head_dim, grid, scale=cfg.rope_scale, fps=fps, device=x.device)
        pos = self.pos_embed(grid).to(x.dtype) if self.pos_embed is not None else None
        t_feat = sinusoidal_embedding(c_noise.reshape(-1), cfg.dim).to(x.dtype).view(B, -1, cfg.dim)
        shared = self.t_fc2(F.silu(self.t_fc1(t_feat)))  # [B, 1|T, 3D]
        emb = _rms_norm(t_feat, self.t_norm)  # [B, 1|T, D]
        if emb.shape[1] > 1:  # per latent frame -> per token
            shared, emb = (e.repeat_interleave(grid[1] * grid[2], dim=1) for e in (shared, emb))
        mask = None if text_mask is None else text_mask[:, None, None, :].bool()  # [B, 1, 1, S]
        text = F.gelu(self.text_proj(text)) if self.text_proj is not None else text
        img = None if img_context is None or self.img_proj is None else F.gelu(self.img_proj(img_context))
        out = []
        for block, proj in zip(self.blocks, self.after_proj, strict=True):
            h = block(h, emb, shared, text, rope=rope, pos=pos, text_mask=mask, img=img)
            out.append(proj(h))
        return out


def weight_tokens(w: Any, B: int, grid_shape: tuple[int, ...], patch: tuple[int, int, int], like) -> Any:
    """A control weight as a multiplier of ``[B, L, D]`` residuals: scalar -> scalar, ``[B]`` ->
    ``[B, 1, 1]``, a map ``[B|1, 1, T, H, W]`` -> its patch means ``[B, L, 1]``."""
    if not torch.is_tensor(w) or w.ndim == 0:
        return float(w)
    w = w.to(like.device, like.dtype)
    if w.ndim == 1:
        return w.view(-1, 1, 1)
    if w.ndim != 5 or tuple(w.shape[2:]) != tuple(grid_shape):
        raise ControlError(
            f"a control weight map must be [B, 1, {', '.join(map(str, grid_shape))}], got {tuple(w.shape)}"
        )
    w = F.avg_pool3d(w, patch, patch)  # [B|1, 1, T', H', W']
    return w.flatten(2).transpose(1, 2).expand(B, -1, -1)  # [B, L, 1]


_BRANCH_KWARGS = ("text_mask", "condition_mask", "padding_mask", "fps", "img_context")


class ControlDiT(nn.Module):
    """A frozen base `DiT` plus one `ControlBranch` per control: ``F(x, c_noise, text, *,
    controls={name: [B, Cc, T, H, W]}, control_weights={name: float | [B] | [B|1, 1, T, H, W]})``.
    Without controls it is the base network."""

    def __init__(self, base: DiT, cfg: ControlConfig):
        super().__init__()
        depth = base.cfg.depth
        check(cfg.blocks <= depth, "blocks", cfg.blocks, f"must be <= the base's {depth} blocks")
        check((cfg.blocks - 1) * cfg.every_n < depth, "every_n", cfg.every_n,
              f"puts branch block {cfg.blocks - 1} past the base's {depth} blocks")  # fmt: skip
        self.base, self.control_cfg = base, cfg
        base.requires_grad_(False)  # Cosmos-Transfer: the base is frozen, only the branches train
        self.control = nn.ModuleDict(
            {n: ControlBranch(base, latent_channels(n, cfg.cell), cfg.blocks) for n in cfg.controls}
        )

    @property
    def cfg(self) -> DiTConfig:
        return self.base.cfg

    def forward(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        text: torch.Tensor,
        *,
        controls: dict[str, torch.Tensor] | None = None,
        control_weights: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if not controls:
            return self.base(x, c_noise, text, **kwargs)
        for name in controls:
            if name not in self.control:
                raise ControlError(
                    f"no '{name}' branch: this model was post-trained for {', '.join(self.control)}"
                )
        weights = {n: 1.0 for n in controls} | dict(control_weights or {})
        check_weights(weights, tuple(controls), positive=False)  # all zero: the base (dropped in training)
        B, _, T, H, W = x.shape
        patch = self.cfg.patch_size
        w = {n: weight_tokens(v, B, (T, H, W), patch, x) for n, v in weights.items()}
        total = sum(w.values())
        scale = 1.0 / total.clamp_min(1.0) if torch.is_tensor(total) else 1.0 / max(float(total), 1.0)
        branch_kw = {k: v for k, v in kwargs.items() if k in _BRANCH_KWARGS}
        residuals: list[torch.Tensor] | None = None
        for name, latents in controls.items():
            if latents.shape[2:] != x.shape[2:]:
                raise ControlError(
                    f"{name} control latents {tuple(latents.shape)} do not match {tuple(x.shape)}"
                )
            outs = self.control[name](latents.to(x.device), x, c_noise, text, **branch_kw)
            outs = [o * (w[name] * scale) for o in outs]
            residuals = outs if residuals is None else [r + o for r, o in zip(residuals, outs, strict=True)]
        every = self.control_cfg.every_n
        block_residuals = {i * every: r for i, r in enumerate(residuals)}
        return self.base(x, c_noise, text, block_residuals=block_residuals, **kwargs)


class ControlObjective(DiffusionObjective):
    """The diffusion objective with ``batch["controls"] {name: [B, Cc, T, H, W]}`` as conditions;
    ``batch["control_present"] {name: [B]}`` marks the clips that have a control (real videos have no
    depth or seg). Each control is dropped per sample with probability `control_dropout` (weight 0:
    classifier-free guidance on the controls). `one_control`: each sample keeps one of its controls,
    drawn uniformly (as Cosmos-Transfer trains each control's branch on its own); else every subset
    trains, and an informative control (blur) leaves the others nothing to learn."""

    def __init__(self, cfg: ObjectiveConfig | None = None, *, control_dropout: float = 0.2,
                 one_control: bool = False, generator: torch.Generator | None = None):  # fmt: skip
        super().__init__(cfg, generator=generator)
        check(0 <= control_dropout <= 1, "control_dropout", control_dropout, "must be in [0, 1]")
        self.control_dropout, self.one_control = control_dropout, one_control

    def condition(self, batch: dict[str, Any], B: int, device) -> dict[str, Any]:
        if not batch.get("controls"):
            raise ControlError("the training batch has no 'controls'; post-train on clips with controls")
        names, given = list(batch["controls"]), batch.get("control_present") or {}
        present = torch.stack([given[n].float().cpu() if n in given else torch.ones(B) for n in names], 1)
        if self.one_control:  # [B, n] -> one-hot of one present control per sample
            pick = torch.multinomial(
                present + (present.sum(1, keepdim=True) == 0), 1, generator=self.generator
            )
            present = torch.zeros_like(present).scatter_(1, pick, 1.0) * present
        keep = (torch.rand(B, len(names), generator=self.generator) >= self.control_dropout).float() * present
        weights = {n: keep[:, i].to(device) for i, n in enumerate(names)}  # 0 = dropped or absent
        return {
            "controls": {n: c.to(device) for n, c in batch["controls"].items()},
            "control_weights": weights,
        }


# --- diffusers' CosmosControlNetModel ---------------------------------------------------------------


def control_diffusers_parts(key: str) -> list[str]:
    """Our `ControlBranch` key -> the ``CosmosControlNetModel`` keys of its tensor (fused: several)."""
    head, _, rest = key.partition(".")
    if head == "base_embed":
        return [f"patch_embed_base.proj.{rest}"]
    if head == "before_proj":
        return [f"control_blocks.0.before_proj.{rest}"]
    if head == "after_proj":
        i, _, rest = rest.partition(".")
        return [f"control_blocks.{i}.after_proj.{rest}"]
    return [p.replace("transformer_blocks.", "control_blocks.", 1) for p in convert.diffusers_parts(key)]


# CosmosControlNetModel arguments that equal the transformer's.
_SHARED_DIFFUSERS_KEYS = (
    "num_attention_heads", "attention_head_dim", "mlp_ratio", "adaln_lora_dim", "patch_size", "max_size",
    "rope_scale", "extra_pos_embed_type", "img_context_dim_in", "img_context_dim_out",
    "use_crossattn_projection", "crossattn_proj_in_channels", "encoder_hidden_states_channels",
)  # fmt: skip


def control_config_to_diffusers(base: DiTConfig, branch: ControlBranch) -> dict[str, Any]:
    """Keyword arguments of ``CosmosControlNetModel`` for a branch of `base`."""
    d = convert.config_to_diffusers(base)
    return {
        **{k: d[k] for k in _SHARED_DIFFUSERS_KEYS},
        "n_controlnet_blocks": len(branch.blocks),
        "in_channels": branch.control_channels + 2,
        "latent_channels": base.in_channels,
        "model_channels": base.dim,
        "text_embed_dim": base.text_dim,
    }


def branch_to_diffusers(branch: ControlBranch) -> dict[str, torch.Tensor]:
    return convert.to_diffusers_state_dict(branch, parts_of=control_diffusers_parts)


def branch_from_diffusers(branch: ControlBranch, sd: dict[str, torch.Tensor], where: str = "controlnet"):
    return convert.from_diffusers_state_dict(branch, sd, where=where, parts_of=control_diffusers_parts)
