"""Captions: read the ones that came with a video, and encode a run's captions into text embeddings.

A caption travels with a video as (first match wins):
- ``<stem>.txt`` next to it;
- ``<stem>.json`` with a ``"caption"``, or a sim footage truth file whose ``"shots"`` carry captions
  (a clip takes the caption of the shot it overlaps most);
- a sim episode's ``meta.json`` (``"caption"``) in the video's folder (``episode_NNNNNN/cam0.mp4``).
Curated shards carry the caption in each sample's JSON (`worldsmith.data.curated`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from worldsmith.text.encoders import load_text_encoder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def sidecar_caption(
    video: str | Path, start: int | None = None, end: int | None = None
) -> tuple[str, str] | None:
    """``(caption, source)`` of `video` (frames ``[start, end)`` for footage shots), or None."""
    video = Path(video)
    txt = video.with_suffix(".txt")
    if txt.is_file() and (cap := _text(txt.read_text())):
        return cap, f"sidecar:{txt.name}"
    side = _read_json(video.with_suffix(".json")) if video.with_suffix(".json").is_file() else {}
    if cap := _text(side.get("caption")):
        return cap, f"sidecar:{video.stem}.json"
    shots = side.get("shots") if isinstance(side.get("shots"), list) else []
    lo, hi = start or 0, end if end is not None else max((s.get("end", 0) for s in shots), default=0)
    best, overlap = "", 0
    for shot in shots:
        o = min(hi, shot.get("end", 0)) - max(lo, shot.get("start", 0))
        if o > overlap and (cap := _text(shot.get("caption"))):
            best, overlap = cap, o
    if best:
        return best, f"sidecar:{video.stem}.json#shots"
    meta = video.parent / "meta.json"
    if meta.is_file() and (cap := _text(_read_json(meta).get("caption"))):
        return cap, "sidecar:meta.json"
    return None


def encode_captions(
    captions: list[str], encoder: str, *, empty_is_null: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor | None, str]:
    """Text embeddings ``[N, L, D]`` and mask ``[N, L]`` of `captions` with the text encoder `encoder`
    (``worldsmith.text.encoders.load_text_encoder``), or ``(None, None, "none")`` when `encoder` is
    ``"none"`` or no caption has text.

    Each distinct caption is encoded once (clips of one video share theirs). With `empty_is_null`,
    an empty caption becomes the null text (zeros), as the diffusion model sees it at generation.
    """
    if encoder == "none" or not any(c.strip() for c in captions):
        return None, None, "none"

    distinct = {c: i for i, c in enumerate(sorted(set(captions)))}
    text, mask = load_text_encoder(encoder).encode(list(distinct))  # [U, L, D], [U, L]
    index = torch.tensor([distinct[c] for c in captions])
    text, mask = text[index], mask[index]  # [N, L, D], [N, L]
    if empty_is_null:
        text[torch.tensor([not c.strip() for c in captions])] = 0.0
    return text, mask, encoder
