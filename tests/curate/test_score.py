from __future__ import annotations

import pytest

from worldsmith.curate.shots.score import boundaries_from_transitions, match, prf, score_cuts

TRANSITIONS = [
    {"kind": "cut", "start": 30, "end": 30},
    {"kind": "dissolve", "start": 60, "end": 70},
    {"kind": "fade", "start": 100, "end": 108},
]


def test_boundaries():
    assert boundaries_from_transitions(TRANSITIONS) == [(30, 2, "cut"), (65, 5, "dissolve"), (104, 4, "fade")]


def test_perfect_and_tolerances():
    assert score_cuts([31, 61, 107], TRANSITIONS)["f1"] == 1.0
    s = score_cuts([33, 65, 104], TRANSITIONS)  # the cut is 3 frames off: a miss and a false alarm
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)


def test_one_detection_counts_once():
    truth = [(10, 2, "cut"), (12, 2, "cut")]
    assert match([11], truth) == (1, 0, 1)


def test_empty_cases():
    assert prf(0, 0, 0)["f1"] == 1.0
    assert score_cuts([], TRANSITIONS)["recall"] == 0.0
    assert score_cuts([5], [])["precision"] == 0.0
