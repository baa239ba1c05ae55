"""Synthetic inputs for the curation pipeline tests: videos with known shots and known bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import cv2
import numpy as np

from worldsmith.video.io import write

FPS = 10
SIZE = (72, 128)


def shot(seed: int, seconds: float, speed: float, size=SIZE, fps=FPS) -> np.ndarray:
    """A tinted random texture panning `speed` px/frame to the left (0 = static), uint8 [T, H, W, 3]."""
    rng = np.random.default_rng(seed)
    h, w = size
    tex = cv2.resize(rng.integers(0, 256, (h // 4, w // 2, 3), dtype=np.uint8), (w * 2, h))
    tint = rng.uniform(0.3, 1.0, 3)
    tex = (tex * tint).astype(np.uint8)
    return np.stack([np.roll(tex, -round(i * speed), axis=1)[:, :w] for i in range(round(seconds * fps))])


def make_video(path: Path, shots: list[tuple[int, float, float]], crf: int = 18) -> Path:
    """Shots ``(seed, seconds, speed)`` joined with hard cuts."""
    frames = np.concatenate([shot(seed, sec, speed) for seed, sec, speed in shots])
    return write(path, frames, FPS, crf=crf, preset="ultrafast")


def write_audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def make_corpus(root: Path, *, bad: bool = True) -> dict:
    """A folder of raw videos with known outcomes.

    - `a.mp4`: two moving shots (3 s, 4 s) -> 2 clips kept, captioned from `a.txt`;
    - `sub/b.mp4`: static 3 s, moving 1 s (too short: no clip), moving 3 s -> 1 clip dropped by
      the motion filter, 1 kept without caption;
    - `sub/a_copy.mp4`: `a.mp4` re-encoded at another crf -> its 2 clips are duplicates of a's;
    - bad files (zero-byte, text, truncated, audio-only, oversized) -> failures.jsonl.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    a = [(1, 3.0, 2.0), (2, 4.0, 3.0)]
    make_video(root / "a.mp4", a)
    (root / "a.txt").write_text("a tinted texture pans left\n")
    make_video(root / "sub" / "b.mp4", [(3, 3.0, 0.0), (4, 1.0, 2.0), (5, 3.0, 1.5)])
    make_video(root / "sub" / "a_copy.mp4", a, crf=30)
    bad_files = {}
    if bad:
        (root / "zero.mp4").write_bytes(b"")
        (root / "notes.mp4").write_text("this is not a video\n")
        data = (root / "a.mp4").read_bytes()
        (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
        write_audio_only(root / "audio_only.mp4")
        big = np.zeros((1, 2304, 4096, 3), dtype=np.uint8)
        write(root / "huge.mp4", big, FPS, preset="ultrafast")
        bad_files = {
            n: root / n for n in ("zero.mp4", "notes.mp4", "truncated.mp4", "audio_only.mp4", "huge.mp4")
        }
    return {"root": root, "bad": bad_files}


def copy_corpus(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
