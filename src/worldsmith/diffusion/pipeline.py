"""Text2World and Video2World end to end: prompt (+ video) -> latents -> decoded, guarded video.

Order (Cosmos, arXiv 2501.03575, Sec. 7): the prompt pre-guard runs before any compute; the video
post-guard (and face blur) runs before anything is written (`worldsmith.guardrails`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldsmith import fs
from worldsmith.console import console
from worldsmith.data import encode_captions
from worldsmith.diffusion.generate import decode_relative, sample_latents
from worldsmith.diffusion.world import WorldModel
from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.guardrails.pipeline import default_pipeline, guard_record
from worldsmith.guardrails.policy import load_policy
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop, to_model, to_uint8


@dataclass
class Generation:
    frames: torch.Tensor  # [T, H, W, 3] uint8
    latents: torch.Tensor  # [1, C, T', h, w] raw tokenizer latents
    fps: float
    info: dict[str, Any]
    unrefined: torch.Tensor | None = None  # [T, H, W, 3] uint8: the decoded video before the refiner


def _tokenizer(world: WorldModel):
    if world.tokenizer is None:
        raise CheckpointError(
            "the world model has no tokenizer/ folder to decode latents; pass --tokenizer DIR (the "
            "continuous tokenizer its latents came from)"
        )
    if world.tokenizer.discrete:
        raise CheckpointError(
            "the world model's tokenizer is discrete; diffusion needs a continuous tokenizer"
        )
    return world.tokenizer


def encode_prompt(world: WorldModel, prompt: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``[1, L, D]`` embedding and mask of `prompt` with the world model's text encoder (None, None
    for an empty prompt: the null text)."""
    text, mask, _ = encode_captions([prompt], world.spec.text_encoder)
    return text, mask


@torch.no_grad()
def predict_latents(
    world: WorldModel,
    cond_latents: torch.Tensor | None = None,
    *,
    prompts: list[str] | None = None,
    batch: int = 1,
    total_frames: int | None = None,
    steps: int = 35,
    sampler: str = "euler",
    guidance: float = 1.0,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Generation in latent space, the core of `generate_world`: raw tokenizer latents
    ``[B, C, total_frames, h, w]`` (default: the trained length) whose first n frames are the given
    raw latents `cond_latents` ``[B, C, n, h, w]`` exactly (Video2World), or, with none, `batch`
    Text2World samples. `prompts`: one per sample (an empty one is the null text, as in training).
    The noise of the whole batch is drawn from one generator seeded with `seed`."""
    T, h, w = world.spec.latent_size
    T = total_frames or T
    n = 0 if cond_latents is None else cond_latents.shape[2]
    B = batch if cond_latents is None else cond_latents.shape[0]
    if cond_latents is not None:
        h, w = cond_latents.shape[3:]
    if prompts is not None and len(prompts) != B:
        raise WorldsmithError(f"got {len(prompts)} prompts for {B} videos; give one prompt per video")
    text, mask, _ = encode_captions(list(prompts or []), world.spec.text_encoder)
    x = sample_latents(
        world.dit, (B, world.dit.cfg.latent_channels, T, h, w), text=text, text_mask=mask,
        cond_latents=None if cond_latents is None else world.normalize(cond_latents.float()), n_cond=n,
        steps=steps, sampler=sampler, guidance=guidance, noise_cfg=world.spec.noise, fps=world.spec.model_fps,
        generator=torch.Generator().manual_seed(seed),
        callback=None if on_step is None else lambda i, x, d: on_step(i + 1, steps),
    )  # fmt: skip
    latents = world.denormalize(x)
    if cond_latents is not None:
        latents[:, :, :n] = cond_latents  # bit-exact (denormalize(normalize(z)) may round)
    return latents


@torch.no_grad()
def generate_world(
    world: WorldModel,
    prompt: str,
    *,
    video: torch.Tensor | None = None,
    cond_frames: int = 0,
    steps: int = 35,
    sampler: str = "euler",
    guidance: float = 1.0,
    seed: int = 0,
    guard=None,
    refiner=None,
    relative: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> Generation:
    """Text2World (``video=None``) or Video2World (the first `cond_frames` frames of uint8 `video`
    ``[T, H, W, 3]`` given). `guard` is a `GuardPipeline` (its pre-guard runs here first).
    `refiner`: a `refine.ContextRefiner` that finishes the decoded future from the given frames
    (Video2World only). `relative`: decode the future as the last given frame plus the decoded
    change (`generate.decode_relative`; Video2World only). `on_step(done, steps)` is called after
    each sampler step (progress)."""
    if (refiner is not None or relative) and video is None:
        raise WorldsmithError(
            "a refiner or --relative-decode finishes Video2World predictions from the given frames: "
            "pass --video too"
        )
    if guard is not None:
        guard.require_prompt(prompt)
    tok = _tokenizer(world)
    st, s = tok.config.temporal_compression, tok.config.spatial_compression
    T, h, w = world.spec.latent_size
    cond, n = None, 0
    if video is not None:
        if cond_frames < 1 or cond_frames > len(video):
            raise WorldsmithError(
                f"--cond-frames must be in 1..{len(video)} (frames in the video), got {cond_frames}"
            )
        if st > 1 and (cond_frames - 1) % st:
            raise WorldsmithError(f"--cond-frames must be 1 + k*{st} for this tokenizer, got {cond_frames}")
        frames = resize_center_crop(video[:cond_frames], (h * s, w * s))
        cond = tok.encode(to_model(frames)[None])  # [1, C, n, h, w]
        n = cond.shape[2]
        if n >= T:
            raise WorldsmithError(
                f"{cond_frames} frames give {n} latent frames, the model generates {T}: give fewer"
            )
    latents = predict_latents(
        world, cond, prompts=[prompt], steps=steps, sampler=sampler, guidance=guidance, seed=seed,
        on_step=on_step,
    )  # fmt: skip
    with torch.no_grad():
        if relative:  # the given frames exact, the future = last given frame + the decoded change
            decoded = decode_relative(tok, to_model(frames)[None], latents, n)[0]  # [3, T, H, W]
        else:
            decoded = tok.decode(latents)[0].clamp(-1, 1)  # [3, T, H, W]
    unrefined = None
    if refiner is not None:
        from worldsmith.refine import refine_clip

        unrefined = to_uint8(decoded)  # [T, H, W, 3]
        decoded = refine_clip(refiner, to_model(frames), decoded)  # frames: the given ones, resized
    frames = to_uint8(decoded)  # [T, H, W, 3]
    info = {
        "latent_frames": T,
        "given_latent_frames": n,
        "frames": len(frames),
        "steps": steps,
        "sampler": sampler,
        "refined": refiner is not None,
        "relative_decode": relative,
    }
    return Generation(frames=frames, latents=latents, fps=world.spec.fps, info=info, unrefined=unrefined)


def write_generation(gen: Generation, out: str | Path, *, guard=None) -> dict[str, Path]:
    """``out/video.mp4`` (through the post-guard when given) and ``out/latents.safetensors``."""
    from safetensors.torch import save_file

    out = Path(out)
    video = out / "video.mp4"
    if guard is not None:
        guard.write_video(video, gen.frames, gen.fps)
    else:
        io.write(video, gen.frames, fps=gen.fps)
    with fs.atomic_path(out / "latents.safetensors") as tmp:
        save_file({"latents": gen.latents.contiguous()}, tmp)
    return {"video": video, "latents": out / "latents.safetensors"}


GUARD_SETS = ("default", "blocklist", "none")


def build_guard(name: str, policy: str | Path | None = None):
    """`--guard`: ``default`` (blocklist + MiniLM prompt classifier; video safety + face blur),
    ``blocklist`` (blocklist on prompts; face blur on videos), or ``none`` (loudly off, and recorded
    in run.json as a relaxation with who set it). `policy`: a preset name or policy file
    (`worldsmith.guardrails.policy`; default: $WORLDSMITH_GUARD_POLICY, else the `default` preset)."""

    if name not in GUARD_SETS:
        raise WorldsmithError(f"unknown guard set '{name}'; choose one of {', '.join(GUARD_SETS)}")
    if name == "none":
        console.print(
            "[bold yellow]warning:[/] guardrails are OFF (--guard none): prompts and videos are unchecked"
        )
        return None

    rules = load_policy(policy) if policy is not None else None
    if name == "blocklist":
        return default_pipeline(classifier=False, video_safety=False, face_blur=True, policy=rules)
    return default_pipeline(policy=rules)


def run_generate(
    ckpt: str | Path,
    out: str | Path,
    *,
    prompt: str,
    video: str | Path | None = None,
    cond_frames: int = 0,
    steps: int = 35,
    sampler: str = "euler",
    guidance: float = 1.0,
    seed: int = 0,
    guard: str = "default",
    guard_policy: str | Path | None = None,
    tokenizer: str | Path | None = None,
    refiner: str | Path | None = None,
    relative: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """What `worldsmith generate text2world|video2world` does; returns the facts for run.json.
    `on_step(done, steps)` reports sampling progress (the Studio's progress bar)."""

    if video is not None:
        io.probe(video)  # a missing or broken video is reported before the guard models load
    guard_pipe = build_guard(guard, guard_policy)
    if guard_pipe is not None:
        guard_pipe.require_prompt(prompt)  # before loading anything
    world = WorldModel.from_pretrained(ckpt)
    if tokenizer is not None:
        from worldsmith.tokenizers.wan import load_tokenizer

        world.tokenizer = load_tokenizer(tokenizer)
    refine = None
    if refiner is not None:
        from worldsmith.refine import ContextRefiner

        refine = ContextRefiner.from_pretrained(refiner)
    frames = None if video is None else io.read(video).frames
    gen = generate_world(
        world, prompt, video=frames, cond_frames=cond_frames, steps=steps, sampler=sampler, guidance=guidance,
        seed=seed, guard=None, refiner=refine, relative=relative, on_step=on_step,
    )  # fmt: skip
    paths = write_generation(gen, out, guard=guard_pipe)
    record = guard_record(guard, guard_pipe)
    return {**gen.info, "guard": guard, "guard_policy": record, **{k: str(v) for k, v in paths.items()}}
