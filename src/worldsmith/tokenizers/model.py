"""The Cosmos causal tokenizer: one model for continuous (CV/CI) and discrete (DV/DI) tokens.

Cosmos World Foundation Model Platform, arXiv 2501.03575, Sec. 3.1 and Fig. 4:

    x [B, 3, T, H, W] --haar patch--> encoder (ResBlocks, downsampling, mid attention)
      --> quant_conv --> z            continuous: z has `latent_channels` (16) channels
                     --> FSQ(z)       discrete: `len(fsq_levels)` (6) channels, indices in [0, 64000)
      --> post_quant_conv --> decoder (mid attention, ResBlocks, upsampling) --haar unpatch--> x_hat

Everything is causal in time and the first frame is encoded on its own, so a clip of
``1 + k s_t`` frames gives ``1 + k`` latent frames and an image is the one-frame case. Video
tokenizers compress time by ``s_t`` (4 or 8) and space by ``s`` (8 or 16); image tokenizers set
``temporal_compression = 1`` and patch space only.

The module layout follows diffusers' `AutoencoderKLCosmos` (see `convert.py` for the few renames)
so NVIDIA's released continuous video tokenizer weights load. `encode_chunk`/`decode_chunk` stream
long videos with an explicit `CausalCache`; the result equals whole-clip processing.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith import config as cfg
from worldsmith.checkpoint import Pretrained
from worldsmith.errors import CheckpointError
from worldsmith.nn.causal_conv3d import CacheStep, CausalCache, CausalConv3d
from worldsmith.nn.norm import FrameGroupNorm
from worldsmith.nn.wavelet import haar_patch, haar_unpatch
from worldsmith.tokenizers.blocks import ConvProjection, Downsample, Level, MidBlock, Upsample
from worldsmith.tokenizers.config import TokenizerConfig, TokenizerInputError
from worldsmith.tokenizers.convert import is_diffusers_dir, read_diffusers_dir
from worldsmith.tokenizers.fsq import FSQ


def causal_block_mean(x: torch.Tensor, st: int, s: int, *, first: bool = True) -> torch.Tensor:
    """``[B, C, T, H, W] -> [B, C, T', H/s, W/s]``: means of ``s_t x s x s`` blocks, where the first
    frame of a first chunk is a block of its own (the causal grouping of the tokenizer)."""
    if st > 1 and first:
        head = F.avg_pool3d(x[:, :, :1], (1, s, s))
        return torch.cat([head, F.avg_pool3d(x[:, :, 1:], (st, s, s))], dim=2) if x.shape[2] > 1 else head
    return F.avg_pool3d(x, (st, s, s))


def causal_block_upsample(z: torch.Tensor, st: int, s: int, *, first: bool = True) -> torch.Tensor:
    """Back from `causal_block_mean`'s grid: each latent frame repeated over its frames (the first
    of a first chunk once), bilinear in space."""
    B, C, T, h, w = z.shape
    frames = F.interpolate(
        z.transpose(1, 2).reshape(B * T, C, h, w), scale_factor=s, mode="bilinear", align_corners=False
    ).view(B, T, C, h * s, w * s)
    if st == 1:
        return frames.transpose(1, 2)
    if first:  # (fixed repeat counts, no data-dependent size: torch.compile keeps one graph)
        rest = frames[:, 1:].repeat_interleave(st, dim=1)
        return torch.cat([frames[:, :1], rest], dim=1).transpose(1, 2)
    return frames.repeat_interleave(st, dim=1).transpose(1, 2)


# Encoder and decoder run channels-last inside (``[B, T, H, W, C]`` in memory): every convolution is
# then a 2D oneDNN convolution over a view, 1.1-2.5x faster than a 3D one on [B, C, T, H, W] (see
# `CausalConv3d._forward_channels_last`); their inputs and outputs stay plainly contiguous.
LEGACY_FORMAT = "worldsmith.tokenizer/1"  # config.json layout before the one checkpoint format
_LAYOUT = torch.channels_last_3d


class Encoder(nn.Module):
    """``[B, 3, T, H, W] -> [B, latent_channels, 1 + (T-1)/s_t, H/s, W/s]``."""

    def __init__(self, c: TokenizerConfig):
        super().__init__()
        self.patch_size, self.video = c.patch_size, c.video
        ch = c.encoder_channels
        self.conv_in = ConvProjection(c.patch_channels, ch[0])
        levels = []
        for i, use_attn in enumerate(c.encoder_attention()):
            level = Level(ch[i], ch[i + 1], c.num_res_blocks, use_attn)
            if i < len(ch) - 2:
                level.resample = Downsample(ch[i + 1], *c.down_flags()[i])
            levels.append(level)
        self.down_blocks = nn.ModuleList(levels)
        self.mid_block = MidBlock(ch[-1])
        self.norm_out = FrameGroupNorm(ch[-1])
        self.conv_out = ConvProjection(ch[-1], c.latent_channels)

    def forward(self, x: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        first = step is None or step.first
        x = haar_patch(x, self.patch_size, temporal=self.video, first_chunk=first)  # [B, 3p^3, T', H/p, W/p]
        x = self.conv_in(x.contiguous(memory_format=_LAYOUT), step)
        for level in self.down_blocks:
            x = level(x, step)
        x = self.mid_block(x, step)
        return self.conv_out(self.norm_out(x, silu=True), step).contiguous()


class Decoder(nn.Module):
    """``[B, latent_channels, T', h, w] -> [B, 3, 1 + (T'-1) s_t, h s, w s]``."""

    def __init__(self, c: TokenizerConfig):
        super().__init__()
        self.patch_size, self.video = c.patch_size, c.video
        ch = list(reversed(c.decoder_channels))
        self.conv_in = ConvProjection(c.latent_channels, ch[0])
        self.mid_block = MidBlock(ch[0])
        levels = []
        for i, use_attn in enumerate(c.decoder_attention()):
            level = Level(ch[i], ch[i + 1], c.num_res_blocks + 1, use_attn)
            if i < len(ch) - 2:
                level.resample = Upsample(ch[i + 1], *c.up_flags()[i])
            levels.append(level)
        self.up_blocks = nn.ModuleList(levels)
        self.norm_out = FrameGroupNorm(ch[-1])
        self.conv_out = ConvProjection(ch[-1], c.patch_channels // c.in_channels * c.out_channels)

    def forward(self, z: torch.Tensor, step: CacheStep | None = None) -> torch.Tensor:
        first = step is None or step.first
        x = self.mid_block(self.conv_in(z.contiguous(memory_format=_LAYOUT), step), step)
        for level in self.up_blocks:
            x = level(x, step)
        x = self.conv_out(self.norm_out(x, silu=True), step)  # [B, 3p^3, T', H/p, W/p]
        return haar_unpatch(x.contiguous(), self.patch_size, temporal=self.video, first_chunk=first)


class CausalTokenizer(nn.Module, Pretrained):
    """Cosmos tokenizer (CV, DV, CI or DI by config): `encode`/`decode` and chunked streaming.

    Continuous: `encode` -> latents ``[B, 16, T', h, w]``, `decode(latents)`.
    Discrete: `encode` -> indices ``[B, T', h, w]`` (int64), `decode(indices or codes)`.
    `forward(x)` -> (reconstruction, bottleneck) with straight-through FSQ, for training.
    """

    model_type = "tokenizer"
    config_class = TokenizerConfig

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = CausalConv3d(config.latent_channels, config.code_channels, 1)
        self.post_quant_conv = CausalConv3d(config.code_channels, config.latent_channels, 1)
        self.fsq = FSQ(config.fsq_levels) if config.kind == "discrete" else None
        if config.lowpass_shortcut:  # start as the block-mean codec: the learned paths add nothing yet
            with torch.no_grad():
                self.quant_conv.weight[: config.in_channels].zero_()
                self.quant_conv.bias[: config.in_channels].zero_()
                self.decoder.conv_out.conv_t.weight.zero_()
                self.decoder.conv_out.conv_t.bias.zero_()
        for name, module in self.named_modules():  # each streaming layer's slot in a CausalCache
            if hasattr(module, "cache_key"):
                module.cache_key = name

    @property
    def discrete(self) -> bool:
        return self.fsq is not None

    def parallel_blocks(self) -> list[nn.Module]:
        """The units `worldsmith.distributed.parallelize` compiles / checkpoints / shards."""
        return [self.encoder, self.decoder]

    # ---- shapes -------------------------------------------------------------------------
    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T', h, w) of the tokens of a whole clip of this size."""
        c = self.config
        return (
            1 + (frames - 1) // c.temporal_compression,
            height // c.spatial_compression,
            width // c.spatial_compression,
        )

    def check_input(self, x: torch.Tensor, *, first_chunk: bool = True) -> None:
        c = self.config
        if x.ndim != 5 or x.shape[1] != c.in_channels:
            raise TokenizerInputError(
                f"tokenizer input must be [B, {c.in_channels}, T, H, W] in [-1, 1], "
                f"got shape {tuple(x.shape)}"
            )
        _, _, T, H, W = x.shape
        s, st = c.spatial_compression, c.temporal_compression
        if H % s or W % s:
            raise TokenizerInputError(
                f"frame size {H}x{W} must be a multiple of the spatial compression {s}; "
                f"resize or crop to {max(s, H // s * s)}x{max(s, W // s * s)}"
            )
        if st > 1 and first_chunk and (T - 1) % st:
            raise TokenizerInputError(
                f"a clip must hold 1 + k*{st} frames (causal: frame 0 on its own), got {T}; "
                f"use {1 + (T - 1) // st * st} frames"
            )
        if st > 1 and not first_chunk and T % st:
            raise TokenizerInputError(f"a later chunk must hold a multiple of {st} frames, got {T}")

    # ---- encode / decode ----------------------------------------------------------------
    def _encode(self, x: torch.Tensor, step: CacheStep | None) -> torch.Tensor:
        first = step is None or step.first
        self.check_input(x, first_chunk=first)
        z = self.quant_conv(self.encoder(x, step))  # [B, code_channels, T', h, w]
        if self.config.lowpass_shortcut:
            c = self.config
            mean = causal_block_mean(x, c.temporal_compression, c.spatial_compression, first=first)
            z = torch.cat([z[:, : c.in_channels] + mean.to(z.dtype), z[:, c.in_channels :]], dim=1)
        return z

    def _reconstruct(self, codes: torch.Tensor, step: CacheStep | None) -> torch.Tensor:
        """Codes (latents, or FSQ codes) -> video."""
        video = self.decoder(self.post_quant_conv(codes), step)
        if self.config.lowpass_shortcut:
            c = self.config
            mean = codes[:, : c.out_channels].to(video.dtype)
            video = video + causal_block_upsample(
                mean, c.temporal_compression, c.spatial_compression, first=step is None or step.first
            )
        return video

    def _bottleneck(self, z: torch.Tensor) -> torch.Tensor:
        """Continuous: the latents. Discrete: FSQ indices."""
        return self.fsq(z)[1] if self.fsq is not None else z

    def _decode(self, tokens: torch.Tensor, step: CacheStep | None) -> torch.Tensor:
        if self.fsq is not None and not tokens.dtype.is_floating_point:
            tokens = self.fsq.indices_to_codes(tokens).to(self.post_quant_conv.weight.dtype)
        if tokens.ndim != 5 or tokens.shape[1] != self.config.code_channels:
            want = "[B, T', h, w] indices or [B, 6, T', h, w] codes" if self.discrete else "[B, 16, T', h, w]"
            raise TokenizerInputError(f"decode expects {want}, got shape {tuple(tokens.shape)}")
        return self._reconstruct(tokens, step)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Whole clip ``[B, 3, T, H, W]`` -> latents (continuous) or indices (discrete)."""
        return self._bottleneck(self._encode(x, None))

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Latents, FSQ codes or FSQ indices -> video ``[B, 3, T, H, W]`` (unclamped)."""
        return self._decode(tokens, None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction, bottleneck); FSQ gradients pass straight through."""
        z = self._encode(x, None)
        if self.fsq is not None:
            z = self.fsq.quantize(z)
        return self._reconstruct(z, None), z

    # ---- streaming ----------------------------------------------------------------------
    def encode_chunk(
        self, x: torch.Tensor, cache: CausalCache | None = None
    ) -> tuple[torch.Tensor, CausalCache]:
        """Encode the next chunk of a stream: the first holds ``1 + k s_t`` frames, later ones ``m s_t``."""
        step = (cache or CausalCache()).step()
        return self._bottleneck(self._encode(x, step)), step.finish()

    def decode_chunk(
        self, tokens: torch.Tensor, cache: CausalCache | None = None
    ) -> tuple[torch.Tensor, CausalCache]:
        """Decode the next latent frames of a stream (any count per chunk)."""
        step = (cache or CausalCache()).step()
        return self._decode(tokens, step), step.finish()

    def encode_chunked(self, x: torch.Tensor, chunk_frames: int) -> torch.Tensor:
        """Whole-clip `encode` computed in chunks of about `chunk_frames` input frames (less memory)."""
        st = self.config.temporal_compression
        size = max(st, chunk_frames // st * st) if st > 1 else max(1, chunk_frames)
        first = 1 + (size - 1) // st * st if st > 1 else size
        out, cache, t = [], None, 0
        while t < x.shape[2]:
            n = first if t == 0 else size
            tokens, cache = self.encode_chunk(x[:, :, t : t + n], cache)
            out.append(tokens)
            t += n
        return torch.cat(
            out, dim=1 if self.discrete else 2
        )  # indices [B, T', h, w]; latents [B, C, T', h, w]

    def decode_chunked(self, tokens: torch.Tensor, chunk_latents: int) -> torch.Tensor:
        """Whole-clip `decode` computed `chunk_latents` latent frames at a time."""
        tdim = 1 if (self.discrete and not tokens.dtype.is_floating_point) else 2
        out, cache = [], None
        for t in range(0, tokens.shape[tdim], max(1, chunk_latents)):
            piece = tokens.narrow(tdim, t, min(chunk_latents, tokens.shape[tdim] - t))
            video, cache = self.decode_chunk(piece, cache)
            out.append(video)
        return torch.cat(out, dim=2)

    # ---- checkpoints: the one format (`worldsmith.checkpoint`) --------------------------
    @classmethod
    def upgrade_meta(cls, meta: dict, path: Path) -> dict:
        """Before format 1: ``{"format": "worldsmith.tokenizer/1", "config": {...}, ...extras}``."""
        if meta.get("format") != LEGACY_FORMAT or "config" not in meta:
            raise CheckpointError(
                f"'{path / 'config.json'}' is not a worldsmith tokenizer config; pass a folder written by "
                "`worldsmith tokenizer train` or a diffusers AutoencoderKLCosmos folder"
            )
        extras = {k: v for k, v in meta.items() if k != "format"}
        return {"model": cls.model_type, "format_version": 1, **extras}

    @classmethod
    def read_checkpoint(cls, path: Path, *, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
        """Ours, or a diffusers `AutoencoderKLCosmos` folder (NVIDIA's released CV weights)."""
        if (path / "config.json").is_file() and is_diffusers_dir(path):
            config, state, extras = read_diffusers_dir(path)
            return {
                "model": cls.model_type,
                "format_version": 1,
                "config": cfg.to_dict(config),
                **extras,
            }, state
        if (path / "config.json").is_file() and not (path / "model.safetensors").is_file():
            raise CheckpointError(f"tokenizer checkpoint '{path}' has no model.safetensors")
        return super().read_checkpoint(path, map_location=map_location)
