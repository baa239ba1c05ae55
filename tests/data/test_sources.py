"""The data module's sources: the video finder, sidecar captions, curated shards, the clip dataset."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from worldsmith.data import ClipDataset, DataError, Selection, find_videos, open_data, sidecar_caption
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop, to_model


def test_find_videos_recursive_sorted_and_errors(videos, tmp_path):
    found = [p.relative_to(videos).as_posix() for p in find_videos(videos)]
    assert found == ["episode_000000/cam0.mp4", "js.mp4", "sub/none.mov", "txt.mp4"]
    assert find_videos([videos / "js.mp4", videos / "sub"]) == [
        videos / "js.mp4",
        videos / "sub" / "none.mov",
    ]
    with pytest.raises(DataError, match=r"--data '.*nope' does not exist"):
        find_videos(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no video files"):
        find_videos(tmp_path / "empty")
    assert find_videos(tmp_path / "empty", required=False) == []


def test_sidecar_captions_every_kind(videos, tmp_path):
    assert sidecar_caption(videos / "txt.mp4") == ("from the txt", "sidecar:txt.txt")
    assert sidecar_caption(videos / "js.mp4") == ("from the json", "sidecar:js.json")
    assert sidecar_caption(videos / "episode_000000" / "cam0.mp4") == ("from meta.json", "sidecar:meta.json")
    assert sidecar_caption(videos / "sub" / "none.mov") is None
    # sim footage truth: the clip takes the caption of the shot it overlaps most
    shots = [{"start": 0, "end": 30, "caption": "first"}, {"start": 30, "end": 90, "caption": "second"}]
    (tmp_path / "footage_000.json").write_text(json.dumps({"video": "footage_000.mp4", "shots": shots}))
    footage = tmp_path / "footage_000.mp4"
    assert sidecar_caption(footage, 0, 40) == ("first", "sidecar:footage_000.json#shots")
    assert sidecar_caption(footage, 20, 60)[0] == "second"
    assert sidecar_caption(footage)[0] == "second"  # the whole video: the longest shot


def test_clip_dataset_from_videos_windows_and_captions(videos):
    clips = ClipDataset(videos, frames=8, size=(16, 24), stride=4)
    # 16-frame videos give windows at 0, 4, 8; the 20-frame episode at 0, 4, 8, 12
    assert len(clips) == 3 + 3 + 3 + 4 and clips.fps == 10.0
    episode = [i for i, k in enumerate(clips.keys) if k.endswith("cam0.mp4")]
    assert len(episode) == 4 and {clips.captions[i] for i in episode} == {"from meta.json"}
    assert clips.captions[clips.keys.index(str(videos / "txt.mp4"))] == "from the txt"
    decoded = io.read(videos / "episode_000000" / "cam0.mp4").frames
    expected = to_model(resize_center_crop(decoded, (16, 24))[4:12])  # [3, 8, 16, 24]
    torch.testing.assert_close(clips[episode[1]], expected, rtol=0, atol=0)
    with pytest.raises(DataError, match="no clip of --data .* has 40 frames; lower --frames"):
        ClipDataset(videos, frames=40)


def test_curated_reads_the_kept_clips_through_the_manifest(curated):
    root, tasks = curated
    for data in (root, root / "shards"):  # the curate folder, or its shards/ beside the manifest
        clips = ClipDataset(data, frames=16)
        assert sorted(clips.keys) == ["a", "b", "c"]  # d was dropped
    assert dict(zip(clips.keys, clips.captions, strict=True)) == {
        "a": "a red cube slides",
        "b": "",
        "c": "a ball falls",
    }
    expected = to_model(io.read(tasks["c"].path).frames)  # the shard holds the clip's mp4 bytes
    torch.testing.assert_close(clips[clips.keys.index("c")], expected, rtol=0, atol=0)
    assert clips.fps == 10.0


@pytest.mark.parametrize(
    ("terms", "keys"),
    [
        (["bucket=32x48_ar1.50_0-4s"], ["a", "b"]),
        (["motion=0.4:"], ["b", "c"]),
        (["score_motion=0.4:0.6"], ["b"]),
        (["bucket=24x48_ar2.00_0-4s", "bucket=32x48_ar1.50_0-4s", "motion=:0.2"], ["a"]),
    ],
)
def test_selection_by_bucket_and_score(curated, terms, keys):
    source = open_data(curated[0], Selection.parse(terms))
    assert sorted(c.key for c in source.clips()) == keys and len(source) == len(keys)


def test_fingerprint_follows_manifest_and_selection(curated):
    root, _ = curated
    a, b = open_data(root), open_data(root, Selection.parse(["motion=0.4:"]))
    assert a.fingerprint == open_data(root).fingerprint != b.fingerprint


def test_bad_curated_input_names_the_input_and_the_fix(curated, tmp_path):
    root, _ = curated
    with pytest.raises(DataError, match=r"selects none of its 3 kept clips; its buckets are 24x48.*, 32x48"):
        open_data(root, Selection.parse(["motion=0.95:"]))
    for bad in ("motion", "motion=0.1", "motion=x:", "motion=:", "=0.1:"):
        with pytest.raises(DataError, match=f"--select '{bad}' must be bucket=B .* or NAME=LO:HI"):
            Selection.parse([bad])
    lone = tmp_path / "lone"
    shutil.copytree(root / "shards", lone / "shards")
    with pytest.raises(DataError, match=r"holds webdataset shards but no manifest.parquet; pass the folder"):
        open_data(lone / "shards")
    with pytest.raises(DataError, match=r"holds webdataset shards but no manifest"):
        open_data(lone)
    shutil.rmtree(root / "shards" / "24x48_ar2.00_0-4s")
    with pytest.raises(
        DataError, match=r"names 1 shard\(s\) that are missing, e.g. .*24x48.*rerun `worldsmith curate`"
    ):
        open_data(root)
    open_data(root, Selection.parse(["bucket=32x48_ar1.50_0-4s"]))  # the shards it picks are there
    with pytest.raises(DataError, match="is not the output folder of `worldsmith curate`"):
        open_data(
            tmp_path / "lone" / "shards" / "32x48_ar1.50_0-4s" / "shard-00000.tar",
            Selection.parse(["bucket=x"]),
        )
