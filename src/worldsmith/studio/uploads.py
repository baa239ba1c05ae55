"""Uploaded clips: limited in size and type, decoded with the CLI's checks, kept apart from every run.

An upload is the raw body of ``POST /api/uploads?name=clip.mp4``, streamed to disk with a byte
limit (the server never holds it in memory and stops reading past the limit), then probed and
decoded by `worldsmith.video.io` exactly as ``worldsmith generate video2world --video`` would.
What passes lands in ``<runs>/.studio/uploads/<sha256>.mp4``; anything else is deleted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from worldsmith.config import check
from worldsmith.errors import WorldsmithError
from worldsmith.studio.paths import relative
from worldsmith.video import io

UPLOAD_EXT = (".mp4", ".webm", ".mov", ".mkv", ".avi")
UPLOAD_DIR = ".studio/uploads"


class UploadError(WorldsmithError):
    """An upload is refused; `status` is the HTTP status that says why (413 too large, 415 type)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class UploadLimits:
    max_bytes: int = 64 * 2**20
    max_frames: int = 1000  # generation decodes the whole clip: bound its memory
    max_pixels: int = 1920 * 1080  # per frame

    def __post_init__(self) -> None:
        for key in ("max_bytes", "max_frames", "max_pixels"):
            check(getattr(self, key) > 0, key, getattr(self, key), "must be positive")


def check_name(name: str) -> str:
    """The file's extension, lower case, when it is a video type the CLI reads."""
    ext = Path(name or "").suffix.lower()
    if ext not in UPLOAD_EXT:
        raise UploadError(
            f"upload '{name}' is not a video file; send one of {', '.join(UPLOAD_EXT)}", status=415
        )
    return ext


async def save_upload(
    root: Path, name: str, chunks: AsyncIterator[bytes], limits: UploadLimits, *, length: int | None = None
) -> str:
    """Stream `chunks` to a temporary file, check and decode it; return its path under `root`."""
    ext = check_name(name)
    too_big = f"upload '{name}' is larger than the limit of {limits.max_bytes / 2**20:.0f} MiB"
    if length is not None and length > limits.max_bytes:
        raise UploadError(too_big, status=413)  # refused before reading a byte
    folder = root / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".incoming-{os.getpid()}-{id(chunks)}{ext}"
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > limits.max_bytes:
                    raise UploadError(too_big, status=413)
                digest.update(chunk)
                f.write(chunk)
        if size == 0:
            raise UploadError(f"upload '{name}' is empty")
        await run_in_threadpool(check_video, tmp, name, limits)  # decoding takes seconds: off the event loop
        final = folder / f"{digest.hexdigest()[:32]}{ext}"
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return relative(root, final)


def check_video(path: Path, name: str, limits: UploadLimits) -> None:
    """Probe (size limits), then decode every frame with `worldsmith.video.io` (the CLI's reader)."""

    try:
        info = io.probe(path)
        if info.width * info.height > limits.max_pixels:
            raise UploadError(
                f"upload '{name}' is {info.width}x{info.height}; the limit is {limits.max_pixels} pixels "
                "per frame: resize it first"
            )
        if info.num_frames > limits.max_frames:
            raise UploadError(
                f"upload '{name}' has {info.num_frames} frames; the limit is {limits.max_frames}: trim it"
            )
        io.read(path)
    except io.VideoError as err:  # the message names the temporary file: name the upload instead
        raise UploadError(str(err).replace(str(path), name)) from None
