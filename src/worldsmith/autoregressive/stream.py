"""Per-latent-frame callbacks while tokens are generated (plain and Medusa decoding share them)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from worldsmith.autoregressive.gpt import GPT

FrameCallback = Callable[[int, torch.Tensor], None]  # (latent frame index, tokens [B, H, W])


class FrameStream:
    """Calls `on_frame(t, tokens [B, H, W])` once per latent frame completed by new tokens."""

    def __init__(self, model: GPT, on_frame: FrameCallback | None, done: int):
        _, self.H, self.W = model.cfg.latent_shape
        self.on_frame, self.next_frame = on_frame, done // (self.H * self.W)

    def update(self, seq: torch.Tensor) -> None:
        hw = self.H * self.W
        while self.on_frame is not None and seq.shape[1] >= (self.next_frame + 1) * hw:
            t = self.next_frame
            self.on_frame(t, seq[:, t * hw : (t + 1) * hw].reshape(-1, self.H, self.W))  # [B, H, W]
            self.next_frame += 1
