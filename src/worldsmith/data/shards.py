"""Read `worldsmith curate` shards (plain webdataset tars) into clips and bucketed batches.

A sample is the files sharing a key in a tar: ``<key>.mp4``, ``<key>.json`` and ``<key>.npy``. We
read the tars with `tarfile` (no extra dependency; the `webdataset` library reads the same shards).
Each clip is decoded from memory, `frames` frames are taken every `stride` from a start (random with
a generator, else the first), then resized to cover `size` and centre-cropped.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from worldsmith.errors import WorldsmithError
from worldsmith.video.transforms import resize_center_crop, to_model


class DataError(WorldsmithError):
    """Shards cannot be found or read; the message names the file."""


def find_shards(root: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The tar shards under a folder (recursively), or the given list of tar paths, sorted."""
    if isinstance(root, (list, tuple)):
        return sorted(Path(p) for p in root)
    root = Path(root)
    if root.is_file():
        return [root]
    shards = sorted(root.rglob("*.tar")) if root.is_dir() else []
    if not shards:
        raise DataError(
            f"no .tar shards under '{root}'; run `worldsmith curate INPUT --out DIR` and pass DIR/shards"
        )
    return shards


def iter_samples(shards: Sequence[str | os.PathLike]) -> Iterator[dict[str, Any]]:
    """Yield ``{"__key__", "mp4": bytes, "json": dict, "npy": array?}`` per sample, in tar order."""
    for shard in shards:
        try:
            with tarfile.open(shard) as tar:
                sample: dict[str, Any] = {}
                for member in tar:
                    if not member.isfile():
                        continue
                    key, _, ext = member.name.rpartition(".")
                    if sample and key != sample["__key__"]:
                        yield sample
                        sample = {}
                    sample["__key__"] = key
                    data = tar.extractfile(member).read()
                    if ext == "json":
                        sample["json"] = json.loads(data)
                    elif ext == "npy":
                        sample["npy"] = np.load(io.BytesIO(data))
                    else:
                        sample[ext] = data
                if sample:
                    yield sample
        except (tarfile.TarError, OSError) as err:
            raise DataError(f"shard '{shard}' cannot be read: {err}") from None


def decode_mp4(data: bytes) -> np.ndarray:
    """H.264 mp4 bytes -> uint8 [T, H, W, 3]."""
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
    return np.stack(frames)


class ClipDataset(torch.utils.data.IterableDataset):
    """Clips from shards as ``{"video": float [C, T, H, W] in [-1, 1], "caption", "bucket", "meta"}``.

    Clips shorter than ``frames * stride`` are skipped (counted in `skipped`).
    """

    def __init__(
        self,
        shards: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        frames: int = 17,
        size: tuple[int, int] = (64, 96),
        stride: int = 1,
        generator: torch.Generator | None = None,
    ):
        self.shards = find_shards(shards)
        self.frames, self.size, self.stride, self.generator = frames, tuple(size), stride, generator
        self.skipped = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        shards = self.shards if info is None else self.shards[info.id :: info.num_workers]
        span = (self.frames - 1) * self.stride + 1
        for sample in iter_samples(shards):
            if "mp4" not in sample:
                continue
            video = decode_mp4(sample["mp4"])  # [T, H, W, 3]
            if len(video) < span:
                self.skipped += 1
                continue
            start = 0
            if self.generator is not None:
                start = int(torch.randint(0, len(video) - span + 1, (1,), generator=self.generator))
            clip = torch.from_numpy(video[start : start + span : self.stride])  # [T, H, W, 3]
            meta = sample.get("json", {})
            yield {
                "video": to_model(resize_center_crop(clip, self.size)),  # [C, T, H, W]
                "caption": meta.get("caption", ""),
                "bucket": meta.get("bucket", ""),
                "meta": meta,
            }


def bucketed_batches(dataset, batch_size: int, *, drop_last: bool = False) -> Iterator[dict[str, Any]]:
    """Batches whose clips share a bucket (resolution, aspect ratio, length), collated:
    ``{"video": [B, C, T, H, W], "caption": [B], "bucket": str, "meta": [B]}``."""
    pending: dict[str, list[dict[str, Any]]] = {}

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "video": torch.stack([i["video"] for i in items]),  # [B, C, T, H, W]
            "caption": [i["caption"] for i in items],
            "bucket": items[0]["bucket"],
            "meta": [i["meta"] for i in items],
        }

    for item in dataset:
        group = pending.setdefault(item["bucket"], [])
        group.append(item)
        if len(group) == batch_size:
            yield collate(group)
            pending[item["bucket"]] = []
    if not drop_last:
        for group in pending.values():
            if group:
                yield collate(group)
