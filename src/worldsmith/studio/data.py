"""What the Data page shows: a curated manifest's clips, filtered, with drop reasons and duplicate groups.

A curation output folder (`worldsmith.curate.pipeline`) holds ``manifest.parquet`` (or
``manifest.jsonl``; one row per clip, scores as ``score_<name>`` columns), ``clips/<clip_id>.mp4``
for kept and dropped clips, and ``duplicates.json`` (groups of clip ids, the kept clip first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worldsmith.data.curated import MANIFESTS, read_manifest
from worldsmith.errors import WorldsmithError
from worldsmith.studio.paths import StudioPathError, relative, resolve_inside
from worldsmith.studio.runs import walk

MAX_LIMIT = 500


def find_manifests(root: Path, *, max_depth: int = 4) -> list[str]:
    """Folders under `root` holding a curation manifest (relative paths)."""
    return [relative(root, f) for f, _, files in walk(root, max_depth) if any(m in files for m in MANIFESTS)]


_cache: dict[Path, tuple[int, list[dict[str, Any]]]] = {}


def load_manifest(folder: Path) -> list[dict[str, Any]]:
    """The manifest's rows (Parquet preferred), cached by the file's modification time."""
    path = next((folder / m for m in MANIFESTS if (folder / m).is_file()), None)
    if path is None:
        raise StudioPathError(f"no manifest.parquet or manifest.jsonl in '{folder.name}'", status=404)
    stamp = path.stat().st_mtime_ns
    hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    rows = read_manifest(path)  # the training path's reader: what the page shows is what training reads
    _cache[path] = (stamp, rows)
    return rows


def duplicate_groups(folder: Path) -> list[list[str]]:
    try:
        groups = json.loads((folder / "duplicates.json").read_text())
    except (OSError, ValueError):
        return []
    return [g for g in groups if isinstance(g, list)] if isinstance(groups, list) else []


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise WorldsmithError(f"filter {name}={value!r} must be a number") from None


def query_clips(root: Path, manifest: str, params: dict[str, str]) -> dict[str, Any]:
    """Rows of the manifest at `manifest` matching `params`:

    ``bucket`` (exact), ``kept`` (``kept`` | ``dropped``), ``dropped_by``, ``q`` (words that must all
    appear in the caption, any case), ``min_<score>`` / ``max_<score>`` on any ``score_*`` column,
    ``offset`` and ``limit`` (<= 500). Each row gets ``url`` (its clip file, when present) and
    ``group`` (index into the returned duplicate ``groups``, whose members are all returned)."""
    folder = resolve_inside(root, manifest, kind="dir")
    rows = load_manifest(folder)
    scores = sorted({k for r in rows for k in r if k.startswith("score_")})
    known = {"bucket", "kept", "dropped_by", "q", "offset", "limit"}
    known |= {f"{b}_{s}" for s in scores for b in ("min", "max")}
    unknown = sorted(set(params) - known)
    if unknown:
        raise WorldsmithError(f"unknown filter {unknown[0]!r}; filters: {', '.join(sorted(known))}")
    kept = params.get("kept", "")
    if kept not in ("", "kept", "dropped"):
        raise WorldsmithError(f"filter kept={kept!r} must be 'kept' or 'dropped'")
    words = params.get("q", "").lower().split()
    bounds = [(k[4:], k[:3], _number(v, k)) for k, v in params.items() if k[:4] in ("min_", "max_")]

    def match(r: dict[str, Any]) -> bool:
        if params.get("bucket") and r.get("bucket") != params["bucket"]:
            return False
        if kept and bool(r.get("kept")) != (kept == "kept"):
            return False
        if params.get("dropped_by") and r.get("dropped_by") != params["dropped_by"]:
            return False
        caption = (r.get("caption") or "").lower()
        if any(w not in caption for w in words):
            return False
        for col, side, bound in bounds:
            v = r.get(col)
            if v is None or (v < bound if side == "min" else v > bound):
                return False
        return True

    hits = [r for r in rows if match(r)]
    offset = int(_number(params.get("offset", "0"), "offset"))
    limit = int(_number(params.get("limit", "100"), "limit"))
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise WorldsmithError(f"offset must be >= 0 and limit in 1..{MAX_LIMIT}")
    page = hits[offset : offset + limit]
    groups = duplicate_groups(folder)
    group_of = {cid: i for i, g in enumerate(groups) for cid in g}
    shown = sorted({group_of[r["clip_id"]] for r in page if r.get("clip_id") in group_of})
    by_id = {r.get("clip_id"): r for r in rows}

    def decorate(r: dict[str, Any]) -> dict[str, Any]:
        clip = folder / "clips" / f"{r.get('clip_id')}.mp4"
        url = "/files/" + relative(root, clip) if clip.is_file() else ""
        return {**r, "url": url, "group": group_of.get(r.get("clip_id"))}

    return {
        "manifest": manifest,
        "total": len(rows),
        "matched": len(hits),
        "rows": [decorate(r) for r in page],
        "groups": [
            {"index": i, "clips": [decorate(by_id[c]) for c in groups[i] if c in by_id]} for i in shown
        ],
        "facets": {
            "buckets": sorted({r["bucket"] for r in rows if r.get("bucket")}),
            "dropped_by": sorted({r["dropped_by"] for r in rows if r.get("dropped_by")}),
            "scores": {
                s: [min(v), max(v)] if (v := [r[s] for r in rows if r.get(s) is not None]) else [None, None]
                for s in scores
            },
        },
    }
