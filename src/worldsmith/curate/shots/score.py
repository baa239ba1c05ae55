"""Scoring detected shot boundaries against known transitions (precision, recall, F1).

The usual shot-boundary benchmark convention (as in TRECVID's SBD task and the TransNetV2 paper's
evaluation): a hard cut counts as found by a detection within +-2 frames of its first new frame;
a gradual transition spanning ``[start, end)`` (dissolve, fade) by a detection within half its
length plus the same 2 frames of its middle. Each transition takes at most one detection, the
nearest unused one; every other detection is a false positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CUT_TOLERANCE = 2  # frames


def boundary(transition: Mapping[str, Any]) -> tuple[float, float]:
    """(centre, tolerance) of a transition ``{"kind", "start", "end"}`` (a cut has start == end)."""
    start, end = int(transition["start"]), int(transition["end"])
    length = end - start
    if length <= 0:
        return float(start), float(CUT_TOLERANCE)
    return float(start + length // 2), length / 2 + CUT_TOLERANCE


def match(cuts: Sequence[int], truth: Iterable[tuple[float, float]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of `cuts` against (centre, tolerance) pairs."""
    used: set[int] = set()
    tp = fn = 0
    for centre, tol in truth:
        options = [
            (abs(c - centre), i) for i, c in enumerate(cuts) if i not in used and abs(c - centre) <= tol
        ]
        if options:
            used.add(min(options)[1])
            tp += 1
        else:
            fn += 1
    return tp, len(cuts) - len(used), fn


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 (1.0 when there is nothing to find and nothing was found)."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def score_cuts(cuts: Sequence[int], transitions: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Precision/recall/F1 of detected `cuts` against `transitions` (``{"kind", "start", "end"}``,
    as in `worldsmith.sim` footage ground truth)."""
    return prf(*match(list(cuts), [boundary(t) for t in transitions]))
