"""Read the output of `worldsmith curate`: webdataset shards chosen through the Parquet manifest.

    runs/curated/
      manifest.parquet        one row per clip: kept, bucket, shard, caption, score_<name>, ...
      shards/<bucket>/shard-NNNNN.tar   <clip_id>.mp4 + <clip_id>.json (+ .npy) per kept clip

A `Selection` picks kept clips by bucket (any of the named ones) and score bounds (all of them) from
the manifest; only the shards holding a picked clip are opened, with the `webdataset` library.
Clips come back in shard order, then tar order (sorted by clip id when curate wrote them).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldsmith.data.videos import Clip, DataError, fingerprint
from worldsmith.video.io import to_rgb

MANIFESTS = ("manifest.parquet", "manifest.jsonl")  # curate writes both; the Parquet one is read first


SELECT_HELP = "bucket=B (any of them), or NAME=LO:HI on score_NAME (either end may be left out)"


def _number(text: str, term: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise DataError(f"--select '{term}' must be {SELECT_HELP}, e.g. --select motion=0.02:")
    return value


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which kept clips of a curated folder to read: any of `buckets` (all when empty), and every
    score within its bounds (``score_<name>`` columns of the manifest)."""

    buckets: tuple[str, ...] = ()
    min_scores: tuple[tuple[str, float], ...] = ()
    max_scores: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, terms: Sequence[str] = ()) -> Selection:
        """From ``--select`` terms: ``bucket=B``, ``NAME=LO:HI``, ``NAME=LO:``, ``NAME=:HI``."""
        buckets, lows, highs = [], [], []
        for term in terms:
            name, _, value = term.partition("=")
            name = name.strip().removeprefix("score_")
            if name == "bucket" and value:
                buckets.append(value)
                continue
            lo, colon, hi = value.partition(":")
            low, high = _number(lo, term), _number(hi, term)
            if not name or not colon or (low is None and high is None):
                raise DataError(f"--select '{term}' must be {SELECT_HELP}, e.g. --select motion=0.02:")
            lows += [(name, low)] if low is not None else []
            highs += [(name, high)] if high is not None else []
        return cls(buckets=tuple(buckets), min_scores=tuple(lows), max_scores=tuple(highs))

    def __bool__(self) -> bool:
        return bool(self.buckets or self.min_scores or self.max_scores)

    def describe(self) -> str:
        flags = [f"--select bucket={b}" for b in self.buckets]
        flags += [f"--select {n}={v:g}:" for n, v in self.min_scores]
        flags += [f"--select {n}=:{v:g}" for n, v in self.max_scores]
        return " ".join(flags) or "(no filter)"

    def keeps(self, row: dict[str, Any]) -> bool:
        if self.buckets and row.get("bucket") not in self.buckets:
            return False
        for name, bound in self.min_scores:
            if row.get(f"score_{name}") is None or row[f"score_{name}"] < bound:
                return False
        for name, bound in self.max_scores:
            if row.get(f"score_{name}") is None or row[f"score_{name}"] > bound:
                return False
        return True


def manifest_of(path: str | os.PathLike) -> Path | None:
    """The manifest of the curate output that `path` is (or its ``shards/`` folder), else None.

    A folder of ``.tar`` shards with no manifest beside them is an error: without it neither the
    buckets nor the scores can be selected, nor the shards told complete.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    roots = (path, path.parent) if path.name == "shards" else (path,)  # the folder or its shards/
    for root in roots:
        for name in MANIFESTS:
            if (root / name).is_file():
                return root / name
    if next(path.rglob("*.tar"), None) is not None:
        raise DataError(
            f"--data '{path}' holds webdataset shards but no manifest.parquet; pass the folder that "
            "`worldsmith curate` wrote (shards/ + manifest.parquet), or rerun curate to write it"
        )
    return None


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The rows of a curate manifest (Parquet or JSON lines)."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as err:  # pyarrow's and json's errors are ValueErrors
        raise DataError(f"manifest '{path}' cannot be read ({err}); rerun `worldsmith curate`") from None


def _decode_mp4(data: bytes, max_frames: int | None, where: str) -> torch.Tensor:
    """mp4 bytes -> uint8 ``[T, H, W, 3]`` (the first `max_frames` frames), colours converted as
    `worldsmith.video.io.read` converts a file's."""
    import av

    frames = []
    try:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(container.streams.video[0]):
                frames.append(torch.from_numpy(to_rgb(frame)))
                if max_frames is not None and len(frames) == max_frames:
                    break
    except (av.error.FFmpegError, IndexError) as err:
        raise DataError(
            f"{where} cannot be decoded ({err}); rerun `worldsmith curate` to rewrite it"
        ) from None
    if not frames:
        raise DataError(f"{where} holds no frames; rerun `worldsmith curate` to rewrite it")
    return torch.stack(frames)  # [T, H, W, 3]


class CuratedClips:
    """The kept clips of a curate output folder that `selection` picks, read from their shards.

    `fingerprint` hashes the manifest and the selection: rerunning curate (new clips, new captions)
    or changing the filter changes it.
    """

    def __init__(self, manifest: str | os.PathLike, selection: Selection | None = None):
        self.manifest, self.selection = Path(manifest), selection or Selection()
        self.root = self.manifest.parent
        self.name = f"--data '{self.root}'"
        kept = [r for r in read_manifest(self.manifest) if r.get("kept") and r.get("shard")]
        picked = (r for r in kept if self.selection.keeps(r))
        self.rows = sorted(picked, key=lambda r: (r["shard"], r["clip_id"]))
        if not self.rows:
            raise DataError(self._nothing_selected(kept))
        self.shards = sorted({r["shard"] for r in self.rows})
        missing = [s for s in self.shards if not (self.root / s).is_file()]
        if missing:
            raise DataError(
                f"{self.name}: the manifest names {len(missing)} shard(s) that are missing, e.g. "
                f"'{self.root / missing[0]}'; rerun `worldsmith curate` with --out {self.root} "
                "(it resumes) or copy the shards/ folder along with the manifest"
            )
        self.captions = [r.get("caption") or "" for r in self.rows]
        stat = self.manifest.stat()
        self.fingerprint = fingerprint({
            "manifest": [str(self.manifest.resolve()), stat.st_size, stat.st_mtime_ns],
            "clips": [r["clip_id"] for r in self.rows], "captions": self.captions,
        })  # fmt: skip

    def _nothing_selected(self, kept: list[dict[str, Any]]) -> str:
        if not kept:
            return f"{self.name}: its manifest lists no kept clip; curate more (or other) videos into it"
        buckets = sorted({r.get("bucket", "") for r in kept})
        scores = sorted({k.removeprefix("score_") for r in kept for k in r if k.startswith("score_")})
        return (
            f"{self.name}: {self.selection.describe()} selects none of its {len(kept)} kept clips; "
            f"its buckets are {', '.join(buckets)} and its scores {', '.join(scores) or '(none)'}"
        )

    def __len__(self) -> int:
        return len(self.rows)

    def clips(self, max_frames: int | None = None) -> Iterator[Clip]:
        import webdataset as wds

        wanted = {r["clip_id"] for r in self.rows}
        urls = [str(self.root / s) for s in self.shards]
        for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
            if sample["__key__"] not in wanted or "mp4" not in sample:
                continue
            meta = json.loads(sample.get("json", b"{}"))
            where = f"clip '{sample['__key__']}' of shard '{sample['__url__']}'"
            frames = _decode_mp4(sample["mp4"], max_frames, where)
            yield Clip(sample["__key__"], frames, float(meta.get("fps") or 0.0), meta.get("caption") or "")
