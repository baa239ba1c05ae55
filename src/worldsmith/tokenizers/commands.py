"""What the `worldsmith tokenizer ...` commands do, as plain functions (the CLI stays thin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from worldsmith import fs
from worldsmith.checkpoint import load_strict
from worldsmith.data import Selection, open_data
from worldsmith.errors import CheckpointError
from worldsmith.tokenizers.evaluate import evaluate, trim_for
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.video import io
from worldsmith.video.transforms import resize_short_side, to_model, to_uint8


def _load_video(model: CausalTokenizer, path: Path, size: int | None, max_frames: int | None) -> io.Video:
    video = io.read(path, end=max_frames)
    frames = resize_short_side(video.frames, size) if size else video.frames
    return io.Video(trim_for(model, frames), video.fps)


def encode_file(ckpt: Path, video: Path, out: Path, *, size: int | None, max_frames: int | None,
                chunk_frames: int | None) -> dict[str, Any]:  # fmt: skip
    """Encode a video to ``out/tokens.safetensors`` (latents or FSQ indices, plus fps)."""
    model = CausalTokenizer.from_pretrained(ckpt)
    v = _load_video(model, video, size, max_frames)
    x = to_model(v.frames).unsqueeze(0)  # [1, 3, T, H, W]
    with torch.no_grad():
        tokens = model.encode_chunked(x, chunk_frames) if chunk_frames else model.encode(x)
    with fs.atomic_path(out / "tokens.safetensors") as tmp:
        save_file({"tokens": tokens.contiguous(), "fps": torch.tensor([v.fps])}, str(tmp))
    return {
        "tokens": str(out / "tokens.safetensors"),
        "shape": list(tokens.shape),
        "dtype": str(tokens.dtype),
        "frames": int(v.frames.shape[0]),
        "compression_ratio": model.config.compression_ratio,
    }


def decode_file(ckpt: Path, tokens: Path, out: Path, *, chunk_latents: int | None) -> dict[str, Any]:
    """Decode ``tokens.safetensors`` to ``out/decoded.mp4``."""
    model = CausalTokenizer.from_pretrained(ckpt)
    try:
        data = load_file(str(tokens))
    except Exception as err:  # safetensors raises its own error types for missing/corrupt files
        raise CheckpointError(f"tokens file '{tokens}' cannot be read: {err}") from None
    if "tokens" not in data:
        raise CheckpointError(
            f"'{tokens}' holds no 'tokens' tensor; write it with `worldsmith tokenizer encode`"
        )
    with torch.no_grad():
        t = data["tokens"]
        x = model.decode_chunked(t, chunk_latents) if chunk_latents else model.decode(t)
    fps = float(data["fps"][0]) if "fps" in data else 24.0
    path = io.write(out / "decoded.mp4", to_uint8(x[0]), fps=fps)
    return {"video": str(path), "frames": int(x.shape[2])}


def reconstruct_file(ckpt: Path, video: Path, out: Path, *, size: int | None, max_frames: int | None,
                     chunk_frames: int | None) -> dict[str, Any]:  # fmt: skip
    """Write ``out/reconstruction.mp4``: the original (left) and its reconstruction (right), and
    score it (the clip is encoded and decoded once)."""
    model = CausalTokenizer.from_pretrained(ckpt)
    v = _load_video(model, video, size, max_frames)
    path = out / "reconstruction.mp4"

    def side_by_side(_: int, recon: torch.Tensor) -> None:
        io.write(path, torch.cat([v.frames, recon], dim=2), fps=v.fps)

    metrics = evaluate(model, [v.frames], chunk_frames=chunk_frames, on_reconstruction=side_by_side)
    return {"video": str(path), **metrics}


def eval_dir(ckpt: Path, data: Any, *, size: int | None, max_frames: int | None,
             selection: Selection | None = None) -> dict[str, Any]:  # fmt: skip
    """Metrics over every clip of `data` (`worldsmith.data.open_data`: a curate output folder, whose
    clips `selection` picks, a folder of videos or a video; see `evaluate`)."""
    source = open_data(data, selection)  # bad data fails before the model loads
    model = CausalTokenizer.from_pretrained(ckpt)
    videos = [trim_for(model, resize_short_side(c.frames, size) if size else c.frames)
              for c in source.clips(max_frames)]  # fmt: skip
    return {"videos": len(videos), **evaluate(model, videos)}


def convert_dir(src: Path, out: Path) -> dict[str, Any]:
    """A diffusers `AutoencoderKLCosmos` folder (or ours) -> our ``config.json + model.safetensors``."""
    meta, state = CausalTokenizer.read_checkpoint(Path(src))
    model = load_strict(CausalTokenizer.from_sections(meta), state, src)
    extras = {k: v for k, v in meta.items() if k not in ("model", "format_version", "config")}
    model.save_pretrained(out, extras=extras)
    return {"params": sum(p.numel() for p in model.parameters()), "extras": sorted(extras)}
