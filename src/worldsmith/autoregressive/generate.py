"""Autoregressive decoding of video tokens: Video2World continuation, frame by frame.

The tokens of the given latent frames are a prefix; the model generates the rest one token at a
time (Cosmos, arXiv 2501.03575, Sec. 5.2). With ``use_cache=True`` (the default) a `KVCache` holds
the keys/values of every earlier token, so each step runs the network on one token; with
``use_cache=False`` each step recomputes the whole sequence (the reference the cache must equal,
and the baseline of `benchmarks/autoregressive.py`). The model is never mutated. A callback
receives each latent frame ``[B, H, W]`` as soon as its last token exists (streaming).

`cond` holds the extra keyword arguments of a post-trained model's ``hidden`` (an
`worldsmith.posttrain.ar_action.ActionGPT` takes ``actions``), passed on every forward pass.
"""

from __future__ import annotations

import torch

from worldsmith.autoregressive.gpt import GPT, ARInputError
from worldsmith.autoregressive.medusa import MedusaHeads, medusa_generate
from worldsmith.autoregressive.sampling import SamplingConfig, sample
from worldsmith.autoregressive.stream import FrameCallback, FrameStream


@torch.no_grad()
def generate(
    model: GPT,
    prefix: torch.Tensor,
    num_tokens: int,
    *,
    text: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    sampling: SamplingConfig | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    on_frame: FrameCallback | None = None,
    stats: dict | None = None,
    cond: dict | None = None,
) -> torch.Tensor:
    """Continue `prefix` ``[B, P]`` by `num_tokens` tokens; returns ``[B, P + num_tokens]``.

    `stats`, when given, receives ``forward_passes`` (network calls, the prefill included).
    """
    sampling = sampling or SamplingConfig()
    if prefix.ndim != 2 or prefix.shape[1] < 1:
        raise ARInputError(f"the prefix must be [B, P] tokens with P >= 1, got {tuple(prefix.shape)}")
    if num_tokens < 0:
        raise ARInputError(f"num_tokens must be >= 0, got {num_tokens}")
    P = prefix.shape[1]
    seq = torch.cat([prefix, prefix.new_zeros(prefix.shape[0], num_tokens)], dim=1)  # filled in place
    stream = FrameStream(model, on_frame, P)
    stream.update(prefix)
    cache = model.new_cache(prefix.shape[0], P + num_tokens) if use_cache else None
    head = model.output_head()  # logits of the last position only, every method alike
    passes, new, cond = 0, prefix, cond or {}
    for i in range(num_tokens):
        if cache is not None:  # only the new tokens; cross-attention text is cached on the first call
            first = cache.length == 0
            h = model.hidden(new, text=text if first else None, text_mask=text_mask, cache=cache, **cond)
        else:
            h = model.hidden(seq[:, : P + i], text=text, text_mask=text_mask, **cond)
        passes += 1
        new = sample(head(h[:, -1]), sampling, generator)[:, None]  # [B, 1]
        seq[:, P + i] = new[:, 0]
        stream.update(seq[:, : P + i + 1])
    if stats is not None:
        stats["forward_passes"] = passes
    return seq


def video2world(
    model: GPT,
    given: torch.Tensor,
    num_frames: int,
    *,
    text: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    sampling: SamplingConfig | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    medusa: MedusaHeads | None = None,
    on_frame: FrameCallback | None = None,
    stats: dict | None = None,
    cond: dict | None = None,
) -> torch.Tensor:
    """Given latent frames ``[B, Tg, H, W]`` of DV indices -> ``[B, Tg + num_frames, H, W]``.

    With `medusa` heads, decoding proposes several tokens per step and verifies them in one forward
    pass (`worldsmith.autoregressive.medusa.medusa_generate`; batch 1).
    """
    T, H, W = model.cfg.latent_shape
    if given.ndim != 4 or given.shape[2:] != (H, W) or given.shape[1] < 1:
        raise ARInputError(
            f"given tokens must be [B, Tg >= 1, {H}, {W}] (the model's grid), got {tuple(given.shape)}; "
            f"encode the clip at the size the model was trained on"
        )
    if given.shape[1] + num_frames > T:
        raise ARInputError(
            f"{given.shape[1]} given + {num_frames} new latent frames exceed the model's {T}; ask fewer"
        )
    prefix = given.reshape(given.shape[0], -1)  # [B, Tg*H*W]
    n = num_frames * H * W
    kw = dict(
        text=text, text_mask=text_mask, sampling=sampling, generator=generator, on_frame=on_frame,
        stats=stats, cond=cond,
    )  # fmt: skip
    if medusa is not None:
        seq = medusa_generate(model, medusa, prefix, n, **kw)
    else:
        seq = generate(model, prefix, n, use_cache=use_cache, **kw)
    return seq.reshape(given.shape[0], -1, H, W)  # [B, Tg + num_frames, H, W]
