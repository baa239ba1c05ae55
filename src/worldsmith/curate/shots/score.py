"""Scoring detected shot boundaries against the truth (the usual shot-boundary benchmark rules).

A hard cut counts as found when a detection lies within `cut_tolerance` frames (2) of it; a gradual
transition (dissolve, fade) when a detection lies within half its length of its centre. Each true
boundary takes the nearest unused detection, so one detection never counts twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def boundaries_from_transitions(
    transitions: Iterable[dict[str, Any]], *, cut_tolerance: int = 2
) -> list[tuple[int, int, str]]:
    """``{"kind", "start", "end"}`` transitions -> (centre frame, tolerance, kind) triples.

    A cut's ``start`` is the first frame of the new shot; a gradual transition spans ``[start, end)``.
    """
    out = []
    for t in transitions:
        if t["kind"] == "cut":
            out.append((int(t["start"]), cut_tolerance, "cut"))
        else:
            length = int(t["end"]) - int(t["start"])
            out.append(((int(t["start"]) + int(t["end"])) // 2, max(cut_tolerance, length // 2), t["kind"]))
    return out


def match(pred: Sequence[int], truth: Sequence[tuple[int, int, str]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of detections `pred` against `truth`."""
    used: set[int] = set()
    tp = 0
    for centre, tol, _ in truth:
        options = [
            (abs(p - centre), i) for i, p in enumerate(pred) if i not in used and abs(p - centre) <= tol
        ]
        if options:
            used.add(min(options)[1])
            tp += 1
    return tp, len(pred) - len(used), len(truth) - tp


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 (1.0 where nothing was to be found and nothing was reported)."""
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


def score_cuts(pred: Sequence[int], transitions: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Precision/recall/F1 of detected cut frames against true transitions."""
    return prf(*match(list(pred), boundaries_from_transitions(transitions)))
