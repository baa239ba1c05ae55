"""Fixtures of the Studio tests: one runs folder per module (see studio_helpers)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from studio_helpers import (  # noqa: E402
    FPS,
    make_action_world_model,
    make_manifest,
    make_train_run,
    make_world_model,
    ramp,
)

from worldsmith.video import io  # noqa: E402


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_train_run(root)
    make_manifest(root)
    make_world_model(root / "wm" / "model")
    make_action_world_model(root / "robot" / "model")
    io.write(root / "clips" / "input.mp4", ramp(T=12), fps=FPS)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("not for the studio")
    os.symlink(outside, root / "escape")  # a folder link leading out of the root
    os.symlink(outside / "secret.txt", root / "train-a" / "secret.txt")  # a file link leading out
    return root
