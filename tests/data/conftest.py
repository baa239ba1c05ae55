"""Small data folders with known content: videos with sidecar captions, a curate output folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldsmith.curate.stages.shard import write_manifest, write_shards
from worldsmith.curate.tasks import ClipTask
from worldsmith.video import io


def frames(seed: int, t: int = 16, h: int = 32, w: int = 48) -> np.ndarray:
    """uint8 [t, h, w, 3]: a gradient that moves a pixel a frame, its level set by `seed`."""
    x = np.arange(w)[None, None, :, None] + np.arange(t)[:, None, None, None]
    level = (x * 4 + 40 * seed) % 256 + np.zeros((t, h, w, 3))
    return level.astype(np.uint8)


def make_curated(root: Path) -> dict[str, ClipTask]:
    """A curate output folder: clips a (motion 0.1), b (0.5) in bucket 32x48, c (0.9) in 24x48, and
    d dropped (in the manifest, not in the shards)."""
    specs = {"a": (0.1, 32, "a red cube slides"), "b": (0.5, 32, ""), "c": (0.9, 24, "a ball falls"),
             "d": (0.2, 32, "dropped")}  # fmt: skip
    clips = {}
    for k, (name, (motion, h, caption)) in enumerate(specs.items()):
        path = io.write(root / "clips" / f"{name}.mp4", frames(k, h=h), 10.0, crf=18, preset="veryfast")
        clips[name] = ClipTask(clip_id=name, source=f"raw/{name}.mp4", start=0, end=16, fps=10.0,
                               path=str(path), width=48, height=h, num_frames=16, clip_fps=10.0,
                               scores={"motion": motion}, caption=caption)  # fmt: skip
    clips["d"].drop("filter:motion", "too still")
    write_shards(list(clips.values()), root / "shards")
    write_manifest(list(clips.values()), root)
    return clips


@pytest.fixture
def curated(tmp_path) -> tuple[Path, dict[str, ClipTask]]:
    root = tmp_path / "curated"
    return root, make_curated(root)


@pytest.fixture
def videos(tmp_path) -> Path:
    """A folder of videos with each kind of caption: a .txt, a .json, a sim episode's meta.json, none."""
    root = tmp_path / "videos"
    io.write(root / "txt.mp4", frames(0), 10.0, crf=18, preset="veryfast")
    (root / "txt.txt").write_text("  from the txt  \n")
    io.write(root / "js.mp4", frames(1), 10.0, crf=18, preset="veryfast")
    (root / "js.json").write_text('{"caption": "from the json"}')
    io.write(root / "episode_000000" / "cam0.mp4", frames(2, t=20), 10.0, crf=18, preset="veryfast")
    (root / "episode_000000" / "meta.json").write_text('{"caption": "from meta.json", "fps": 10.0}')
    io.write(root / "sub" / "none.mov", frames(3), 10.0, crf=18, preset="veryfast")
    (root / "notes.md").write_text("not a video")
    return root
