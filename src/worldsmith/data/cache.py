"""The latent / token cache: every clip window of the training data encoded once by a tokenizer.

The tokenizer is the most expensive part of a world-model training step on small models and its
output never changes, so `encode_clips` encodes the windows once into ``<cache>/<name>.safetensors``
(``[N, ...]``: CV latents ``[N, C, T', h, w]`` or DV indices ``[N, T', h, w]``) with an
``index.json`` holding the captions, the fps and the key: a hash of the tokenizer's fingerprint (its
files' bytes), the data's fingerprint (`ClipSource.fingerprint`) and the window geometry. A changed
tokenizer, video, caption, manifest or filter rebuilds the cache; an unchanged one is reused.

Under torchrun (``--nproc N``) local rank 0 builds the cache and the other ranks of its node wait
for it and read it: N ranks writing one folder at once would race, and would encode N times.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldsmith import fs
from worldsmith.console import console
from worldsmith.data.clips import iter_windows, open_data
from worldsmith.data.curated import Selection
from worldsmith.data.videos import DataError, fingerprint
from worldsmith.video.transforms import to_model

WAIT_S = 24 * 3600.0  # how long a rank other than local rank 0 waits for the cache


def fingerprint_dir(folder: str | os.PathLike) -> str:
    """A hash of the names and bytes of the files under `folder` (config + weights, also in
    sub-folders such as a diffusers ``vae/``), read in 1 MiB blocks."""
    h = hashlib.sha256()
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()[:16]


def _local_rank() -> int:
    """This process's rank on its node under torchrun; 0 otherwise."""
    return int(os.environ.get("LOCAL_RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


@dataclass
class Encoded:
    """A cache's content: one encoded window per row, with its caption; the clips' fps."""

    values: torch.Tensor  # [N, ...]
    captions: list[str]
    fps: float


def encode_clips(
    tokenizer: Any,
    tokenizer_dir: str | os.PathLike,
    data: Any,
    cache: str | os.PathLike,
    *,
    frames: int,
    size: tuple[int, int],
    name: str = "latents",
    selection: Selection | None = None,
    batch: int = 8,
    wait_s: float = WAIT_S,
    reuse: Sequence[str | os.PathLike] = (),
) -> Encoded:
    """Encode every `frames`-frame window (no overlap) of `data` (see `open_data`) resized to `size`
    with `tokenizer` (loaded from `tokenizer_dir`, whose files key the cache) once; later calls with
    the same tokenizer, data and geometry read ``cache`` instead. `reuse`: other runs' caches, read
    (never written) when their key matches, e.g. the AR base model's token cache for Medusa heads."""
    from safetensors.torch import save_file

    source = open_data(data, selection)
    geometry = {"frames": frames, "size": list(size), "stride": frames}
    key = fingerprint({"tokenizer": fingerprint_dir(tokenizer_dir), "data": source.fingerprint, **geometry})
    cache = Path(cache)
    for folder in map(Path, reuse):
        if (hit := _read(folder, name, key)) is not None:
            return hit
    hit = _read(cache, name, key)
    deadline = time.monotonic() + wait_s
    while hit is None and _local_rank() != 0:  # local rank 0 is writing it
        if time.monotonic() > deadline:
            raise DataError(
                f"waited {wait_s:g} s for local rank 0 to write the {name} cache '{cache}'; "
                "see rank 0's error, or build the cache with one process first"
            )
        time.sleep(0.5)
        hit = _read(cache, name, key)
    if hit is not None:
        return hit
    tokenizer.check_input(torch.zeros(1, 3, frames, *size))  # a clear error for a bad --frames/--size
    parts, pending, captions, fps = [], [], [], 0.0  # one clip decoded at a time: memory holds latents

    def encode_pending() -> None:
        parts.append(tokenizer.encode(torch.stack(pending)))  # [b, 3, T, H, W] -> [b, ...]
        pending.clear()

    with torch.no_grad():
        for clip, window in iter_windows(source, frames=frames, size=size, label=f"encode {source.name}"):
            pending.append(to_model(window))  # [3, T, H, W]
            captions.append(clip.caption)
            fps = fps or clip.fps
            if len(pending) == batch:
                encode_pending()
        if pending:
            encode_pending()
    values, fps = torch.cat(parts), fps or 24.0  # [N, ...]
    if not values.is_floating_point():
        values = values.long()
    with fs.atomic_dir(cache) as tmp:
        save_file({name: values.contiguous()}, str(tmp / f"{name}.safetensors"))
        fs.write_json(tmp / "index.json", {"key": key, "clips": len(values), "captions": captions, "fps": fps,
                                           "data": source.name, **geometry})  # fmt: skip
    return Encoded(values, captions, fps)


def _read(cache: Path, name: str, key: str) -> Encoded | None:
    """The cache's content when its key is `key`, else None."""
    from safetensors.torch import load_file

    index_path, values_path = cache / "index.json", cache / f"{name}.safetensors"
    if not (index_path.is_file() and values_path.is_file()):
        return None
    index = json.loads(index_path.read_text())
    if index.get("key") != key:
        return None
    console.print(f"{name.removesuffix('s')} cache hit: {cache} ({index['clips']} clips)")
    return Encoded(load_file(str(values_path))[name], index["captions"], float(index["fps"]))
