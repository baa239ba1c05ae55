"""The guard tests share the benchmark's test-data generators (benchmarks/guard_evasion.py): the
evasion variants and look-alike prompts are data for tests and the benchmark, not platform code."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
