"""Raw footage: the saved shots and boundaries are the truth of the frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from worldsmith.sim import SimError, make_episode
from worldsmith.sim.footage import make_footage, shot_durations, write_footage
from worldsmith.video import io

SIZE = (32, 48)


@pytest.fixture(scope="module")
def footage():
    # seed 3 draws every kind of transition: a cut, fades and a dissolve
    return make_footage(
        3, durations=[1.5, 3.0, 2.4, 3.0, 2.0], size=SIZE, fps=10, scenarios=["pendulum", "ramp", "drive"]
    )


def test_pure_shot_frames_are_the_episodes_and_boundaries_follow_the_transitions(footage):
    f = footage
    assert f.frames.shape[1:] == (*SIZE, 3) and f.frames.dtype == np.uint8
    assert len(f.shots) == 5 and len(f.boundaries) == 4 and len(f.transitions) == 4
    assert f.shots[0]["start"] == 0 and f.shots[-1]["end"] == len(f.frames)
    assert {t["kind"] for t in f.transitions} == {"cut", "dissolve", "fade"}
    for shot in f.shots:
        ep = make_episode(
            shot["scenario"], shot["seed"], frames=shot["clip_frames"], size=SIZE, fps=10,
            camera_mode="static" if shot["camera_mode"] == "rig" else shot["camera_mode"],
            masks=False, depth=False,
        )  # fmt: skip
        n = shot["end"] - shot["start"]
        o = shot["clip_offset"]
        np.testing.assert_array_equal(f.frames[shot["start"] : shot["end"]], ep.frames[0, o : o + n])
    for prev, nxt, trans, b in zip(f.shots[:-1], f.shots[1:], f.transitions, f.boundaries, strict=True):
        assert prev["end"] == trans["start"] and trans["end"] == nxt["start"]
        assert trans["start"] <= b <= max(trans["end"], trans["start"])
        if trans["kind"] == "cut":
            assert b == nxt["start"]
        if trans["kind"] == "fade":
            assert (
                f.frames[trans["start"] : trans["end"]].reshape(-1, 3).mean() < f.frames.reshape(-1, 3).mean()
            )
            assert f.frames[b - 1 : b + 1].max() < 30  # black in the middle of a fade
        if (
            trans["kind"] == "dissolve"
        ):  # a mixed frame: neither the last frame of one shot nor the next's first
            mid = f.frames[b].astype(int)
            assert np.abs(mid - f.frames[prev["end"] - 1]).mean() > 1
            assert np.abs(mid - f.frames[nxt["start"]]).mean() > 1


def test_shot_durations_cover_short_and_long_clips():
    d = shot_durations(np.random.default_rng(0), 150)
    assert min(d) < 2 and max(d) > 60 and abs(sum(d) - 150) < 15


def test_write_footage_round_trips_and_skips_existing(tmp_path, monkeypatch):
    import worldsmith.sim.footage as footage_mod

    calls = []
    real = footage_mod.make_footage

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, durations=[1.2, 2.0], **{k: v for k, v in kw.items() if k != "total_seconds"})

    monkeypatch.setattr(footage_mod, "make_footage", counting)
    files = write_footage(tmp_path, videos=1, seed=2, size=SIZE, fps=10)
    truth = json.loads((tmp_path / "footage_000.json").read_text())
    assert truth["num_frames"] == io.probe(files[0]["video"]).num_frames
    assert len(truth["boundaries"]) == 1
    write_footage(tmp_path, videos=1, seed=2, size=SIZE, fps=10)
    assert len(calls) == 1


def test_bad_footage_arguments():
    with pytest.raises(SimError, match="durations"):
        make_footage(0, durations=[0.0])
    with pytest.raises(SimError, match="unknown scenario"):
        make_footage(0, durations=[1.0], scenarios=["juggling"])
