"""Shard: kept clips into webdataset tar shards, bucketed by resolution, aspect ratio and length,
plus the manifest (Parquet + JSONL) of every clip, kept or dropped, with its scores and reasons.

Each sample is ``<clip_id>.mp4``, ``<clip_id>.json`` (caption, scores, source, timestamps, bucket)
and ``<clip_id>.npy`` (the embedding, when there is one): the plain webdataset layout, so
``webdataset.WebDataset(url)`` reads the shards as they are. Every shard is written to a temporary
file and renamed.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldsmith import fs
from worldsmith.config import check
from worldsmith.curate.tasks import ClipTask

LENGTH_EDGES = (0.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # seconds


@dataclass(frozen=True, kw_only=True)
class ShardConfig:
    target_mb: float = 256.0  # a shard closes once it reaches this size
    embeddings: bool = True  # add <key>.npy

    def __post_init__(self) -> None:
        check(self.target_mb > 0, "shard.target_mb", self.target_mb, "must be > 0")


def bucket_of(clip: ClipTask) -> str:
    """``<h>x<w>_ar<w/h>_<lo>-<hi>s``, e.g. ``480x854_ar1.78_4-8s``."""
    seconds = clip.num_frames / clip.clip_fps if clip.clip_fps else clip.t1 - clip.t0
    lo = max(e for e in LENGTH_EDGES if e <= seconds)
    hi = next((e for e in LENGTH_EDGES if e > seconds), None)
    length = f"{lo:g}-{hi:g}s" if hi is not None else f"{lo:g}s+"
    return f"{clip.height}x{clip.width}_ar{clip.width / max(clip.height, 1):.2f}_{length}"


def sample_json(clip: ClipTask) -> dict:
    return {
        "clip_id": clip.clip_id,
        "caption": clip.caption,
        "caption_source": clip.caption_source,
        "source": clip.source,
        "start_frame": clip.start,
        "end_frame": clip.end,
        "t0": round(clip.t0, 4),
        "t1": round(clip.t1, 4),
        "fps": clip.clip_fps,
        "num_frames": clip.num_frames,
        "width": clip.width,
        "height": clip.height,
        "scores": clip.scores,
        "camera_motion": clip.camera_motion,
        "bucket": clip.bucket,
    }


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # fixed mtime: same input, same bytes
    tar.addfile(info, io.BytesIO(data))


def write_shards(clips: list[ClipTask], out: str | Path, config: ShardConfig | None = None) -> list[Path]:
    """Write kept clips into ``out/<bucket>/shard-NNNNN.tar``; sets `clip.bucket` and `clip.shard`."""
    c = config or ShardConfig()
    out = Path(out)
    by_bucket: dict[str, list[ClipTask]] = {}
    for clip in sorted((c for c in clips if c.kept), key=lambda c: c.clip_id):
        clip.bucket = bucket_of(clip)
        by_bucket.setdefault(clip.bucket, []).append(clip)
    written = []
    for bucket, members in sorted(by_bucket.items()):
        groups, size = [[]], 0
        for clip in members:
            clip_size = Path(clip.path).stat().st_size
            if groups[-1] and size + clip_size > c.target_mb * 2**20:
                groups.append([])
                size = 0
            groups[-1].append(clip)
            size += clip_size
        for k, group in enumerate(groups):
            path = out / bucket / f"shard-{k:05d}.tar"
            with fs.atomic_path(path) as tmp, tarfile.open(tmp, "w") as tar:
                for clip in group:
                    clip.shard = str(path.relative_to(out.parent))
                    _add(tar, f"{clip.clip_id}.mp4", Path(clip.path).read_bytes())
                    _add(tar, f"{clip.clip_id}.json", json.dumps(sample_json(clip), sort_keys=True).encode())
                    if c.embeddings and clip.embedding:
                        buf = io.BytesIO()
                        np.save(buf, np.asarray(clip.embedding, dtype=np.float32))
                        _add(tar, f"{clip.clip_id}.npy", buf.getvalue())
            written.append(path)
    return written


MANIFEST_COLUMNS = (
    "clip_id", "source", "start", "end", "t0", "t1", "clip_fps", "num_frames", "width", "height",
    "kept", "dropped_by", "drop_reason", "caption", "caption_source", "duplicate_of", "bucket", "shard",
)  # fmt: skip


def manifest_rows(clips: list[ClipTask]) -> list[dict]:
    """One flat row per clip (scores as ``score_<name>`` columns), sorted by clip id."""
    score_keys = sorted({k for clip in clips for k in clip.scores})
    rows = []
    for clip in sorted(clips, key=lambda c: c.clip_id):
        d = clip.to_dict()
        row = {k: d[k] for k in MANIFEST_COLUMNS if k in d}
        row["kept"] = clip.kept
        row["camera_motion_x"], row["camera_motion_y"] = (clip.camera_motion or [None, None])[:2]
        row.update({f"score_{k}": clip.scores.get(k) for k in score_keys})
        rows.append(row)
    return rows


def write_manifest(clips: list[ClipTask], out_dir: str | Path) -> dict[str, Path]:
    """``manifest.jsonl`` always; ``manifest.parquet`` too when pyarrow is installed."""
    out_dir = Path(out_dir)
    rows = manifest_rows(clips)
    paths = {"jsonl": fs.write_text(out_dir / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows))}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return paths
    with fs.atomic_path(out_dir / "manifest.parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    paths["parquet"] = out_dir / "manifest.parquet"
    return paths
