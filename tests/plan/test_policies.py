"""Policy evaluation: Spearman's rank correlation against scipy (ties included), and the scripted
pusher doing its job in the twin where random actions do not."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.plan.policies import POLICIES, RandomPolicy, ScriptedPusher, run_in_twin, spearman
from worldsmith.plan.tasks import make_task
from worldsmith.plan.twin import Twin


@pytest.mark.parametrize(
    "x, y",
    [
        ([0.1, 0.5, 0.3, 0.9, 0.2], [1, 3, 2, 5, 4]),
        ([0.0, 0.25, 0.25, 0.5, 0.0], [0.1, 0.2, 0.6, 0.4, 0.0]),  # ties share their mean rank
        ([3, 1, 2], [1, 2, 3]),
    ],
)
def test_spearman_matches_scipy(x, y):
    stats = pytest.importorskip("scipy.stats")
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_of_a_constant_side_is_nan():
    assert np.isnan(spearman([0.0, 0.0, 0.0], [1, 2, 3]))


def test_scripted_pusher_pushes_and_random_does_not():
    task = make_task("push", 10_000)
    with Twin(task.seed, size=32) as twin:
        scripted = run_in_twin(ScriptedPusher("p", 4.0), task, twin, hold=4, seed=0)
    with Twin(task.seed, size=32) as twin:
        rnd = run_in_twin(RandomPolicy(), task, twin, hold=4, seed=0)
    assert scripted < task.radius < rnd
    assert len(POLICIES) >= 5 and len({p.name for p in POLICIES}) == len(POLICIES)
