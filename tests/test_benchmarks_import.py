"""Every benchmark script imports against the current library (a renamed or removed function breaks
a benchmark that no other test runs; `posttrain_camera.py` once asked for a removed `encode_clips`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("*.py"))


def test_benchmarks_are_found():
    assert len(BENCHMARKS) >= 20


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_imports(path, monkeypatch):
    monkeypatch.syspath_prepend(str(path.parent))  # benchmarks import their siblings by name
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # top-level code only: every script guards its entry point
    if "__main__" in path.read_text():  # a script, not a helper module beside them
        assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
