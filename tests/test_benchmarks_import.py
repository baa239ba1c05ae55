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


def _load(name: str, monkeypatch):
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_world_model_sampler_rule(monkeypatch):
    """The sampler is the highest Physics-IQ score among those that beat copy-last on pooled MSE, on
    validation episodes that are neither training footage nor the held-out ones."""
    wm = _load("world_model", monkeypatch)
    table = {
        "euler 3": {"physics_iq": 6.0, "skill_copy": 0.05},
        "euler 10": {"physics_iq": 9.4, "skill_copy": 0.04},
        "heun 5": {"physics_iq": 15.4, "skill_copy": -0.18},  # best score, but loses to copy-last
    }
    assert wm.choose_sampler(table) == "euler 10"
    assert wm.choose_sampler({k: v | {"skill_copy": -1.0} for k, v in table.items()}) == "euler 3"
    val, held = set(wm.VALIDATION.episodes()), set(wm.RULE.episodes())
    assert not val & held and min(s for _, s in val) > 2**31
