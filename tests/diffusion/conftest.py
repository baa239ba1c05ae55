"""Tiny models run fastest on one thread, and the test machine is shared: avoid oversubscription."""

from __future__ import annotations

import pytest

from worldsmith.runs import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield
