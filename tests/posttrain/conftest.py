"""Tiny models run fastest on one thread, and the test machine is shared: avoid oversubscription."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from worldsmith.runs import torch_threads

sys.path.insert(0, str(Path(__file__).parent))  # posttrain_helpers


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield
