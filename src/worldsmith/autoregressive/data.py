"""A token cache for AR training: every clip of a video folder tokenized once by the DV tokenizer.

The discrete tokenizer is by far the most expensive part of an AR training step on small models,
and its output never changes, so clips are encoded once into ``tokens.safetensors``
(``[N, T', h, w]`` int64 FSQ indices) with an ``index.json`` whose key hashes the tokenizer, the
files and the clip geometry: a changed input rebuilds the cache, an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from worldsmith import fs
from worldsmith.console import console, progress
from worldsmith.data.files import caption, video_files
from worldsmith.data.prompted import PromptedDataset
from worldsmith.errors import WorldsmithError
from worldsmith.tokenizers.model import CausalTokenizer


class TokenDataset(PromptedDataset):
    """DV indices ``[T, h, w]`` (+ text embeddings ``[S, D]`` and mask ``[S]``) per item."""

    key = "tokens"


def build_token_cache(
    tokenizer: CausalTokenizer,
    tokenizer_dir: str | Path,
    data: str | Path,
    cache: str | Path,
    *,
    frames: int,
    size: tuple[int, int],
) -> tuple[torch.Tensor, list[str], float]:
    """Tokenize every `frames`-frame clip of every video under `data` with `tokenizer` (loaded from
    `tokenizer_dir`, which keys the cache) once; returns (tokens ``[N, T', h, w]``, captions, fps)."""
    from safetensors.torch import load_file, save_file

    from worldsmith.video import io
    from worldsmith.video.transforms import resize_center_crop, to_model

    tok_dir, files = Path(tokenizer_dir), video_files(Path(data))
    if not tokenizer.discrete:
        raise WorldsmithError(
            f"--tokenizer '{tok_dir}' is continuous; the AR model needs a discrete (DV) one"
        )
    weights = tok_dir / "model.safetensors"
    key_src = {
        "tokenizer": str(tok_dir.resolve()),
        "tokenizer_mtime": weights.stat().st_mtime if weights.exists() else 0,
        "files": [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime] for f in files],
        "frames": frames,
        "size": list(size),
    }
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(cache)
    index_path = cache / "index.json"
    if index_path.is_file() and (cache / "tokens.safetensors").is_file():
        index = json.loads(index_path.read_text())
        if index.get("key") == key:
            console.print(f"token cache hit: {cache} ({index['clips']} clips)")
            return load_file(str(cache / "tokens.safetensors"))["tokens"], index["captions"], index["fps"]
    tokenizer.check_input(torch.zeros(1, 3, frames, *size))  # a clear error for a bad --frames/--size
    tokens, captions, fps = [], [], None
    with progress() as bar, torch.no_grad():
        task = bar.add_task("tokenize clips", total=len(files))
        for f in files:
            video = io.read(f)
            fps = fps or video.fps
            frames_u8 = resize_center_crop(video.frames, size)
            cap = caption(f)
            for start in range(0, len(frames_u8) - frames + 1, frames):
                x = to_model(frames_u8[start : start + frames])[None]  # [1, 3, T, H, W]
                tokens.append(tokenizer.encode(x)[0])  # [T', h, w]
                captions.append(cap)
            bar.advance(task)
    if not tokens:
        raise WorldsmithError(f"no video under '{data}' has {frames} frames; lower --frames")
    stacked = torch.stack(tokens).long()  # [N, T', h, w]
    with fs.atomic_dir(cache) as tmp:
        save_file({"tokens": stacked.contiguous()}, str(tmp / "tokens.safetensors"))
        fs.write_json(
            tmp / "index.json", {"key": key, "clips": len(tokens), "captions": captions, "fps": fps}
        )
    return stacked, captions, float(fps or 24.0)
