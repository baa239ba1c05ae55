"""What the Runs page shows, read from run directories (`worldsmith.runs.RunDir`) and never written.

A run is a folder holding ``run.json``. Its page gathers, from files under it:
- the facts of ``run.json`` (command, status, wall time, seed, args, results);
- tables: the scalar results, every dict-of-dicts result (``methods``), and small JSON files that
  hold a list of rows (``physics_rows.json``, ``guard.json``);
- training curves: every ``metrics.jsonl`` the Trainer wrote (numeric keys against ``step``);
- videos, grouped to play side by side with one scrubber: the run folder's own videos form one group
  (a Studio generation: ``input.mp4 | video.mp4``), and files of one name in different folders form
  one group (``truth/ep3.mp4 | pred/ep3.mp4``);
- images and an HTML report, served as files.

This module imports no torch (the server stays small until a generation starts).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from worldsmith.studio.paths import StudioPathError, relative, resolve_inside

SKIP_DIRS = {"__pycache__", "tensorboard", "latent_cache", "state", "shards", "optimizer"}
VIDEO_EXT = {".mp4", ".webm", ".mov", ".mkv"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif"}
MAX_FILES = 2000  # files looked at per run page: a run with more shows the first ones
MAX_TABLE_BYTES = 512 * 1024  # a JSON file larger than this is not turned into a table
MAX_POINTS = 2000  # points per training curve sent to the page (evenly thinned)
PLAYERS = 12  # video groups the run page plays (their fps is read); the others are listed as links
MAX_GROUPS = 200


def walk(top: Path, max_depth: int):
    """(folder, subfolders, files) under `top`, skipping hidden and bulky folders, not following links."""
    base = len(top.parts)
    for folder, dirs, files in os.walk(top):
        depth = len(Path(folder).parts) - base
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        if depth >= max_depth:
            dirs[:] = []
        yield Path(folder), dirs, sorted(f for f in files if not f.startswith("."))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


_summaries: dict[Path, tuple[int, dict[str, Any]]] = {}


def summary(root: Path, folder: Path) -> dict[str, Any]:
    """One row of the runs list, cached by run.json's modification time."""
    path = folder / "run.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1
    hit = _summaries.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    info = _read_json(path)
    if not isinstance(info, dict):
        info = {"status": "unreadable", "error": "run.json is not valid JSON"}
    row = {
        "id": relative(root, folder),
        "command": info.get("command", "?"),
        "status": info.get("status", "?"),
        "wall_time_s": info.get("wall_time_s"),
        "seed": info.get("seed"),
        "started": info.get("started", ""),
        "error": info.get("error", ""),
    }
    _summaries[path] = (stamp, row)
    return row


def list_runs(root: Path, *, max_depth: int = 4) -> list[dict[str, Any]]:
    """Every run under `root` (folders with run.json, up to `max_depth` deep), newest first."""
    rows = [summary(root, folder) for folder, _, files in walk(root, max_depth) if "run.json" in files]
    return sorted(rows, key=lambda r: (r["started"], r["id"]), reverse=True)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def result_tables(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The scalar results as one key/value table, each dict of dicts (and list of dicts) as its own."""
    tables = []
    scalars = [{"key": k, "value": v} for k, v in results.items() if _scalar(v)]
    if scalars:
        tables.append({"name": "results", "rows": scalars})
    for key, value in results.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [{"name": k, **{c: x for c, x in v.items() if _scalar(x)}} for k, v in value.items()]
            tables.append({"name": f"results.{key}", "rows": rows})
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append({"name": f"results.{key}", "rows": value})
    return tables


def _file_table(root: Path, path: Path) -> dict[str, Any] | None:
    """A JSON file holding rows (a list of flat dicts) as a table; anything else is None."""
    if path.name == "run.json" or path.stat().st_size > MAX_TABLE_BYTES:
        return None
    data = _read_json(path)
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        rows = [{k: v for k, v in r.items() if _scalar(v)} for r in data]
        if any(rows):
            return {"name": relative(root, path), "rows": rows}
    return None


def read_curves(path: Path) -> dict[str, list[list[float]]]:
    """Numeric series of a metrics.jsonl against ``step``: ``{"loss": [[step, value], ...]}``.

    A run still training may end in half a line; lines that do not parse are skipped."""
    series: dict[str, list[list[float]]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return series
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or not _is_number(rec.get("step")):
            continue
        for key, value in rec.items():
            if key != "step" and _is_number(value):
                series.setdefault(key, []).append([rec["step"], value])
    for key, points in series.items():
        if len(points) > MAX_POINTS:  # thin evenly, keeping the last point
            stride = -(-len(points) // MAX_POINTS)
            series[key] = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return series


_fps_cache: dict[tuple[Path, int], float | None] = {}


def video_fps(path: Path) -> float | None:
    """Frame rate of a video file (for frame stepping), or None when it cannot be read."""
    key = (path, path.stat().st_mtime_ns)
    if key not in _fps_cache:
        import av  # PyAV: only container headers are read

        try:
            with av.open(str(path), metadata_errors="ignore") as container:
                rate = container.streams.video[0].average_rate if container.streams.video else None
            _fps_cache[key] = float(rate) if rate else None
        except (av.error.FFmpegError, OSError):
            _fps_cache[key] = None
    return _fps_cache[key]


def _rank(label: str) -> int:
    """Side by side, truth | prediction | baselines: truth and input clips first, baselines last."""
    low = label.lower()
    if any(word in low for word in ("truth", "input", "given")):
        return 0
    return 2 if any(word in low for word in ("baseline", "copy")) else 1


def video_groups(root: Path, folder: Path, videos: list[Path]) -> list[dict[str, Any]]:
    """The run folder's own videos as one group, then one group per file name elsewhere."""
    groups: dict[str, list[Path]] = {}
    for v in videos:
        groups.setdefault("" if v.parent == folder else v.stem, []).append(v)
    out = []
    for i, name in enumerate(sorted(groups)[:MAX_GROUPS]):
        ordered = sorted(groups[name], key=lambda v: (_rank(relative(folder, v)), relative(folder, v)))
        items = [  # a named group's videos differ by folder: the folder is the label
            {"label": relative(folder, v.parent if name else v), "url": "/files/" + relative(root, v),
             "fps": video_fps(v) if i < PLAYERS else None}
            for v in ordered
        ]  # fmt: skip
        out.append({"name": name or "this run", "videos": items})
    return out


def run_detail(root: Path, run_id: str) -> dict[str, Any]:
    """Everything the run page shows for the run at `run_id` (a path under the runs root)."""
    folder = resolve_inside(root, run_id, kind="dir")
    root = root.resolve()
    if not (folder / "run.json").is_file():
        raise StudioPathError(f"'{run_id}' is not a run (no run.json)", status=404)
    info = _read_json(folder / "run.json")
    info = info if isinstance(info, dict) else {}
    tables = result_tables(info.get("results") or {})
    curves, videos, images, reports, seen = [], [], [], [], 0
    for sub, _, files in walk(folder, 4):
        for name in files:
            seen += 1
            if seen > MAX_FILES:
                break
            path = sub / name
            ext = path.suffix.lower()
            if name == "metrics.jsonl":
                curves.append({"name": relative(folder, sub) or ".", "series": read_curves(path)})
            elif ext == ".json" and (table := _file_table(folder, path)):
                tables.append(table)
            elif ext in VIDEO_EXT:
                videos.append(path)
            elif ext in IMAGE_EXT:
                images.append({"label": relative(folder, path), "url": "/files/" + relative(root, path)})
            elif ext == ".html":
                reports.append({"label": relative(folder, path), "url": "/files/" + relative(root, path)})
    return {
        **summary(root, folder),
        "args": info.get("args", {}),
        "versions": info.get("versions", {}),
        "tables": tables,
        "curves": curves,
        "videos": video_groups(root, folder, videos),
        "players": PLAYERS,
        "images": images,
        "reports": reports,
        "truncated": seen > MAX_FILES,
    }
