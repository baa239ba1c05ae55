from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from ar_tiny import tiny_config  # noqa: E402

from worldsmith.autoregressive.gpt import GPT  # noqa: E402
from worldsmith.runs import torch_threads


@pytest.fixture
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(tiny_config()).eval()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are overhead-bound: one thread avoids oversubscribing the shared 2-core CPU."""
    with torch_threads(1):
        yield
