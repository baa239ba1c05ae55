"""Clip rules (Cosmos recipe) on hand-made shot lists, cut lists, and the `shots` CLI schema."""

from __future__ import annotations

import json

import pytest

from worldsmith.cli import main
from worldsmith.curate.shots import ClipRules, ShotError, apply_clip_rules, cuts_to_shots, split_video
from worldsmith.errors import ConfigError

FPS = 25.0


def s(seconds: float) -> int:
    return round(seconds * FPS)


def test_short_shots_are_dropped_and_long_ones_split():
    shots = [(0, s(1.9)), (s(1.9), s(4.0)), (s(4.0), s(154.0))]  # 1.9 s, 2.1 s, 150 s
    clips = apply_clip_rules(shots, FPS)
    assert clips[0] == (s(1.9), s(4.0))
    long = clips[1:]
    assert len(long) == 3  # 150 s -> three clips of 50 s
    assert long[0][0] == s(4.0) and long[-1][1] == s(154.0)
    assert all(b - a == s(50) for a, b in long)
    assert all(b == a2 for (_, b), (a2, _) in zip(long[:-1], long[1:], strict=True))


def test_exactly_two_and_sixty_seconds_are_kept_whole():
    assert apply_clip_rules([(0, s(2.0)), (s(2.0), s(62.0))], FPS) == [(0, s(2.0)), (s(2.0), s(62.0))]
    assert len(apply_clip_rules([(0, s(60.04) + 1)], FPS)) == 2


def test_trim_removes_frames_at_each_boundary_then_drops():
    rules = ClipRules(trim_seconds=0.5)
    clips = apply_clip_rules([(0, s(10)), (s(10), s(12.5))], FPS, rules)
    assert clips == [(s(0.5), s(9.5))]  # the 2.5 s shot is 1.5 s after trimming: dropped


def test_min_frames_rule_and_fps_scaling():
    assert apply_clip_rules([(0, 60)], 30.0, ClipRules(min_frames=61)) == []
    assert apply_clip_rules([(0, 60)], 30.0) == [(0, 60)]  # 2 s at 30 fps
    assert apply_clip_rules([(0, 59)], 30.0) == []


def test_bad_rules_and_inputs_are_named():
    with pytest.raises(ConfigError, match="max_seconds"):
        ClipRules(min_seconds=10, max_seconds=5)
    with pytest.raises(ConfigError, match="trim_seconds"):
        ClipRules(trim_seconds=-1)
    with pytest.raises(ShotError, match="fps=0"):
        apply_clip_rules([(0, 10)], 0)
    with pytest.raises(ShotError, match=r"bad shot \[10, 5\)"):
        apply_clip_rules([(10, 5)], FPS)


def test_cuts_to_shots():
    assert cuts_to_shots([30, 10, 10, 0, 50, 99], 50) == [(0, 10), (10, 30), (30, 50)]
    assert cuts_to_shots([], 7) == [(0, 7)]
    assert cuts_to_shots([], 0) == []


def test_split_video_schema(bikes):
    result = split_video(bikes, "content")
    assert result["num_frames"] == 250 and result["fps"] == 25.0
    assert {30, 76, 137, 187, 242} <= set(result["cuts"])  # bikes' five hard cuts
    assert result["shots"][0][0] == 0 and result["shots"][-1][1] == 250
    assert [s[1] for s in result["shots"][:-1]] == [s[0] for s in result["shots"][1:]] == result["cuts"]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_json_schema(bikes, capsys):
    code, out, _ = run_cli(["shots", str(bikes), "--json"], capsys)
    assert code == 0
    data = json.loads(out)  # exactly one JSON object on stdout
    assert set(data) == {"video", "fps", "num_frames", "cuts", "shots", "clips"}
    assert data["video"] == str(bikes) and data["fps"] == 25.0 and data["num_frames"] == 250
    assert all(isinstance(c, int) for c in data["cuts"])
    assert all(len(x) == 2 and x[0] < x[1] for x in data["shots"] + data["clips"])
    for a, b in data["clips"]:
        assert any(sa <= a and b <= sb for sa, sb in data["shots"]) and b - a >= 50  # >= 2 s


def test_cli_table_and_errors(bikes, tmp_path, capsys):
    code, out, _ = run_cli(["shots", str(bikes), "--detector", "pyscenedetect"], capsys)
    assert code == 0 and "shots" in out and "dropped" in out
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    code, out, err = run_cli(["shots", str(bad), "--json"], capsys)
    assert code == 2 and out == "" and "broken.mp4" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["shots", str(bikes), "--detector", "nope"], capsys)
    assert code == 2 and "unknown shot detector" in err
