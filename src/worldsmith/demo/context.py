"""What every demo stage shares: the run's context, its one seed scheme, and readers of earlier
stages' outputs.

Seeds: the run has one seed (``worldsmith demo --seed``). Every use of randomness asks the context
for its own with `Context.seed_for(use)`, a 31-bit hash of the run seed and the use's name
(``"tokenizer"``, ``"world_model"``, ``"refiner"``, ``"predict/<episode>"``, ...). No stage derives a
seed another way, uses never share a stream, and renaming or adding one leaves the others' seeds as
they were. Held-out episodes take ``2**31 +`` theirs (`episode_seed`): the raw footage draws its
episodes' seeds below ``2**31``, so no held-out episode is ever in the training footage. The physics
test's episodes are not drawn from the run seed: they follow the fixed rule of `eval.dynamics.HeldOut`
(`held_out_rule`), so every run and the world-model benchmark score the same episodes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith.demo.config import DemoConfig
from worldsmith.eval.dynamics import HeldOut


def derive_seed(seed: int, use: str) -> int:
    """The seed of one use of randomness: the first 31 bits of sha256(f"{seed}/{use}")."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{use}".encode()).digest()[:4], "big") >> 1


@dataclass
class Context:
    out: Path
    cfg: DemoConfig
    seed: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    # cores a stage that scales past one thread may use: the demo's two while no parallel stage
    # runs, else one (`run.run_demo` sets it before each stage)
    cores: int = 1

    def dir(self, stage: str) -> Path:
        path = self.out / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def seed_for(self, use: str) -> int:
        """The seed of `use` (module docstring)."""
        return derive_seed(self.seed, use)

    def episode_seed(self, split: str, index: int) -> int:
        """The simulator seed of held-out episode `index` of `split`: above every footage seed."""
        return 2**31 + self.seed_for(f"sim/{split}/{index}")


def held_out_rule(cfg: DemoConfig) -> HeldOut:
    """The physics test's episodes and protocol: `eval.dynamics.HeldOut` (as benchmarks/world_model.py
    scores) at the demo's scenarios, count, clip length, size and given frames; its seeds are fixed
    (``2**31 + 100000 + k``), chosen before any model was scored, and never drawn by the footage."""
    s, n = cfg.sim, cfg.sampling.cond_frames
    bins = tuple((a, min(a + 3, s.frames - n)) for a in range(1, s.frames - n + 1, 4))  # 4 future frames each
    return HeldOut(scenarios=s.scenarios, per_scenario=s.test_per_scenario, frames=s.frames, given=n,
                   size=s.size, fps=s.fps, bins=bins)  # fmt: skip


def load_split(out: Path, name: str) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """(arrays, per-episode metadata) of a held-out split written by `stage_sim`."""
    folder = out / "sim"
    with np.load(folder / f"{name}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads((folder / f"{name}.json").read_text())


def episode_name(m: dict[str, Any]) -> str:
    """A held-out episode's name (guard decisions, per-episode seeds, video file names)."""
    return f"{m['scenario']}_{m.get('camera', 'static')}_{m['seed']}"
