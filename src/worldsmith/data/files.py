"""Folders of training videos and their sidecar captions (the `--data DIR` of training commands)."""

from __future__ import annotations

import json
from pathlib import Path

from worldsmith.errors import WorldsmithError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def video_files(data: Path) -> list[Path]:
    """Every video under `data`, recursively, sorted; an error naming `data` when there is none."""
    if not data.is_dir():
        raise WorldsmithError(f"--data '{data}' is not a directory of videos")
    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise WorldsmithError(f"--data '{data}' holds no video files ({', '.join(VIDEO_SUFFIXES)})")
    return files


def caption(video: Path) -> str:
    """The sidecar caption ``<stem>.txt`` (or ``"caption"`` of ``<stem>.json``), else empty."""
    txt, js = video.with_suffix(".txt"), video.with_suffix(".json")
    if txt.is_file():
        return txt.read_text().strip()
    if js.is_file():
        try:
            cap = json.loads(js.read_text()).get("caption", "")
        except (json.JSONDecodeError, AttributeError):
            return ""
        return cap if isinstance(cap, str) else ""
    return ""
