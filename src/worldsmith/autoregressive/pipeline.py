"""AR Video2World end to end: prompt + video -> DV tokens -> continued tokens -> guarded video.

The prompt pre-guard runs before anything is loaded; the given frames are tokenized by the bundle's
DV tokenizer; each generated latent frame is decoded as soon as it exists by the tokenizer's causal
streaming decoder (`decode_chunk`), which equals whole-clip decoding; the video post-guard runs
before anything is written (Cosmos, arXiv 2501.03575, Sec. 7). With a diffusion decoder
(`diffusion_decoder.py`) the whole token clip is instead mapped to CV latents by the DiT and decoded by
the continuous tokenizer once generation ends (Cosmos Sec. 5.2.3).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from worldsmith import fs
from worldsmith.autoregressive.bundle import ARWorld
from worldsmith.autoregressive.diffusion_decoder import DiffusionDecoder, decode_video, load_decoder
from worldsmith.autoregressive.generate import video2world
from worldsmith.autoregressive.medusa import MedusaHeads
from worldsmith.autoregressive.sampling import SamplingConfig
from worldsmith.diffusion.pipeline import build_guard
from worldsmith.errors import WorldsmithError
from worldsmith.guardrails.pipeline import guard_record
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop, to_model, to_uint8


@torch.no_grad()
def generate_ar(
    world: ARWorld,
    frames_u8: torch.Tensor,
    prompt: str,
    *,
    cond_frames: int = 1,
    latent_frames: int | None = None,
    sampling: SamplingConfig | None = None,
    medusa: MedusaHeads | None = None,
    decoder: tuple[DiffusionDecoder, torch.nn.Module] | None = None,
    decoder_steps: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """(video uint8 ``[T, H, W, 3]``, tokens ``[1, T', h, w]``, facts) continuing `frames_u8`.

    `decoder`: (diffusion decoder, CV tokenizer) to decode the tokens with instead of the DV decoder.
    """
    tok, spec, gpt = world.tokenizer, world.spec, world.gpt
    if decoder is not None:
        check_decoder(decoder[0], tok)
    st = tok.config.temporal_compression
    if not 1 <= cond_frames <= len(frames_u8) or (st > 1 and (cond_frames - 1) % st):
        raise WorldsmithError(
            f"--cond-frames must be 1 + k*{st} and <= the {len(frames_u8)} frames of the video, "
            f"got {cond_frames}"
        )
    given = tok.encode(to_model(resize_center_crop(frames_u8[:cond_frames], spec.size))[None])  # [1, n, h, w]
    n_given = given.shape[1]
    total = gpt.cfg.latent_shape[0]
    n_new = total - n_given if latent_frames is None else latent_frames
    if n_new < 1 or n_given + n_new > total:
        raise WorldsmithError(
            f"{cond_frames} given frames make {n_given} latent frames; the model holds {total}, "
            f"so generate 1..{total - n_given} latent frames"
        )
    text = mask = None
    if gpt.cfg.text_dim is not None:
        from worldsmith.text.encoders import load_text_encoder

        text, mask = load_text_encoder(spec.text_encoder).encode([prompt])
    pieces: list[torch.Tensor] = []
    on_frame = None
    if decoder is None:
        video, cache = tok.decode_chunk(given)  # [1, 3, T, H, W] of the given latent frames
        pieces.append(video)

        def on_frame(t: int, frame_tokens: torch.Tensor) -> None:  # stream: decode each new latent frame
            nonlocal cache
            piece, cache = tok.decode_chunk(frame_tokens[:, None], cache)  # [1, 3, s_t, H, W]
            pieces.append(piece)

    stats: dict = {}
    t0 = time.perf_counter()
    tokens = video2world(
        gpt, given, n_new, text=text, text_mask=mask, sampling=sampling, medusa=medusa,
        generator=torch.Generator().manual_seed(seed), on_frame=on_frame, stats=stats,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    if decoder is not None:  # the whole clip at once: the DiT attends over every latent frame
        t1 = time.perf_counter()
        g = torch.Generator().manual_seed(seed)
        pieces = [decode_video(*decoder, tokens, steps=decoder_steps, generator=g, dv=tok)]
        decoder_seconds = round(time.perf_counter() - t1, 3)
    frames = to_uint8(torch.cat(pieces, dim=2)[0])  # [T, H, W, 3]
    new_tokens = n_new * gpt.cfg.tokens_per_frame
    info = {
        "given_latent_frames": n_given, "latent_frames": n_given + n_new, "frames": len(frames),
        "tokens_generated": new_tokens, "decode_seconds": round(seconds, 3),
        "tokens_per_s": round(new_tokens / seconds, 1), "medusa": medusa is not None,
        "diffusion_decoder": decoder is not None, **stats,
    }  # fmt: skip
    if decoder is not None:
        info["diffusion_decoder_seconds"] = decoder_seconds
    return frames, tokens, info


def check_decoder(decoder: DiffusionDecoder, dv: torch.nn.Module) -> None:
    """The diffusion decoder must have been trained on this DV tokenizer's codes."""
    if tuple(decoder.cfg.fsq_levels) != tuple(dv.config.fsq_levels):
        raise WorldsmithError(
            f"the diffusion decoder reads FSQ levels {decoder.cfg.fsq_levels}, the AR model's tokenizer "
            f"makes {tuple(dv.config.fsq_levels)}: train a decoder for this tokenizer "
            f"(worldsmith train diffusion-decoder --dv)"
        )


def run_ar_generate(
    ckpt: str | Path,
    out: str | Path,
    *,
    video: str | Path,
    prompt: str = "",
    cond_frames: int = 1,
    latent_frames: int | None = None,
    medusa: str | Path | None = None,
    diffusion_decoder: str | Path | None = None,
    decoder_steps: int | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 0.8,
    seed: int = 0,
    guard: str = "default",
    guard_policy: str | Path | None = None,
) -> dict[str, Any]:
    """What `worldsmith generate ar-video2world` does; returns the facts for run.json."""
    from safetensors.torch import save_file

    io.probe(video)  # a missing or broken video is reported before the guard models load
    guard_pipe = build_guard(guard, guard_policy)
    if guard_pipe is not None:
        guard_pipe.require_prompt(prompt)  # before loading anything
    world = ARWorld.from_pretrained(ckpt)
    heads = MedusaHeads.from_pretrained(medusa).eval() if medusa is not None else None
    decoder = load_decoder(diffusion_decoder) if diffusion_decoder is not None else None
    sampling = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    frames, tokens, info = generate_ar(
        world, io.read(video).frames, prompt, cond_frames=cond_frames, latent_frames=latent_frames,
        sampling=sampling, medusa=heads, decoder=decoder, decoder_steps=decoder_steps, seed=seed,
    )  # fmt: skip
    out = Path(out)
    path = out / "video.mp4"
    if guard_pipe is not None:
        guard_pipe.write_video(path, frames, world.spec.fps)
    else:
        io.write(path, frames, fps=world.spec.fps)
    with fs.atomic_path(out / "tokens.safetensors") as tmp:
        save_file({"tokens": tokens.contiguous()}, str(tmp))
    info |= {"guard": guard, "guard_policy": guard_record(guard, guard_pipe)}
    return {**info, "video": str(path), "tokens": str(out / "tokens.safetensors")}
