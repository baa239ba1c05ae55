"""Filter scores, sidecar captions and SemDeDup on inputs with known answers (no video files
except where a caption needs a source path)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from worldsmith.curate.stages.caption import SidecarCaptioner
from worldsmith.curate.stages.dedup import DedupConfig, semdedup
from worldsmith.curate.stages.embed import PerceptualEmbedder
from worldsmith.curate.stages.filters import FilterConfig, motion_scores, quality_scores, verdict
from worldsmith.curate.stages.shard import bucket_of
from worldsmith.curate.tasks import ClipTask


def _texture(seed=0, h=64, w=96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8), (w * 2, h))


def _pan(dx: int, n=8, seed=0) -> np.ndarray:
    tex = _texture(seed)
    return np.stack([np.roll(tex, i * dx, axis=1)[:, :96] for i in range(n)])  # [N, 64, 96, 3]


def test_motion_static_vs_pan_and_direction():
    static = motion_scores(_pan(0), seconds_per_pair=0.25)
    right = motion_scores(_pan(3), seconds_per_pair=0.25)
    assert static["motion"] < 1e-3 and right["motion"] > 0.05
    # content moves right 3 px per pair of 0.25 s on a 96 px frame = 0.125 widths/s
    assert right["camera_motion"][0] == pytest.approx(3 / 96 / 0.25, rel=0.2)
    assert abs(right["camera_motion"][1]) < 0.01
    config = FilterConfig()
    assert verdict({"motion": static["motion"], "jitter": 0.0}, config)[0] == "motion"
    assert verdict({"motion": right["motion"], "jitter": right["jitter"]}, config) is None


def test_jitter_flags_shaky_camera():
    steady = motion_scores(_pan(4, n=10), 0.25)
    tex = _texture()
    shifts = [0, 8, -4, 10, -6, 9, -8, 6, -3, 9]  # erratic back-and-forth
    shaky = motion_scores(np.stack([np.roll(tex, s, axis=1)[:, :96] for s in shifts]), 0.25)
    assert shaky["jitter"] > 5 * max(steady["jitter"], 0.01)


def test_quality_scores_blur_exposure_entropy_frozen():
    sharp = _pan(2)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 3) for f in sharp])
    dark = (sharp * 0.03).astype(np.uint8)
    flat = np.full_like(sharp, 120)
    frozen = np.repeat(sharp[:1], len(sharp), axis=0)
    q = {name: quality_scores(x) for name, x in [("sharp", sharp), ("blur", blurred), ("dark", dark),
                                                  ("flat", flat), ("frozen", frozen)]}  # fmt: skip
    assert q["blur"]["sharpness"] < q["sharp"]["sharpness"] / 5
    assert q["dark"]["brightness"] < 10 < q["sharp"]["brightness"]
    assert q["flat"]["entropy"] == 0.0 and q["sharp"]["entropy"] > 5
    assert q["frozen"]["frozen"] == 1.0 and q["sharp"]["frozen"] == 0.0
    config = FilterConfig(min_sharpness=q["sharp"]["sharpness"] / 3)
    ok = {"motion": 0.1, "jitter": 0.0}
    assert verdict({**ok, **q["sharp"]}, config) is None
    assert verdict({**ok, **q["blur"]}, config)[0] == "blur"
    assert verdict({**ok, **q["dark"]}, config)[0] == "exposure"
    assert verdict({**ok, **q["flat"]}, config)[0] in ("blur", "entropy")
    assert verdict({**ok, **q["frozen"]}, config)[0] == "frozen"
    # a disabled filter never drops
    assert verdict({**ok, **q["frozen"]}, FilterConfig(enabled=("motion",))) is None


def _clip(cid, emb, frames=30, caption=False):
    clip = ClipTask(clip_id=cid, source="x.mp4", start=0, end=frames, fps=10.0, num_frames=frames)
    clip.width, clip.height, clip.clip_fps = 128, 72, 10.0
    clip.embedding = list(np.asarray(emb, dtype=np.float32))
    clip.caption_source = "sidecar" if caption else ""
    return clip


def test_semdedup_groups_keep_longer_and_captioned():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 32))
    clips = [
        _clip("a0", base[0], frames=30),
        _clip("a1", base[0] + 0.01 * rng.normal(size=32), frames=50),  # longer duplicate of a0
        _clip("b0", base[1]),
        _clip("b1", base[1] + 0.01 * rng.normal(size=32), caption=True),  # captioned duplicate
        _clip("c0", base[2]),
    ]
    groups = semdedup(clips, DedupConfig(threshold=0.98, clusters=2))
    assert sorted(groups) == [["a1", "a0"], ["b1", "b0"]]
    assert [c.clip_id for c in clips if c.kept] == ["a1", "b1", "c0"]
    assert clips[0].duplicate_of == "a1" and clips[0].dropped_by == "dedup"


def test_perceptual_embedding_near_duplicates_vs_different():
    emb = PerceptualEmbedder()
    a = _pan(2, n=4)
    a_noisy = np.clip(a.astype(int) + np.random.default_rng(1).integers(-6, 7, a.shape), 0, 255).astype(
        np.uint8
    )
    a_small = np.stack([cv2.resize(cv2.resize(f, (48, 32)), (96, 64)) for f in a])
    b = _pan(2, n=4, seed=5)
    ea = emb.embed(a)
    assert float(ea @ emb.embed(a_noisy)) > 0.98 and float(ea @ emb.embed(a_small)) > 0.98
    assert float(ea @ emb.embed(b)) < 0.9


def test_sidecar_captions(tmp_path):
    cap = SidecarCaptioner()
    episode = tmp_path / "episode_000000"
    episode.mkdir()
    (episode / "meta.json").write_text(json.dumps({"caption": "a red ball rolls down a ramp"}))
    clip = ClipTask(clip_id="e_0", source=str(episode / "cam0.mp4"), start=0, end=20, fps=10.0)
    assert cap.caption(clip) == ("a red ball rolls down a ramp", "sidecar:meta.json")
    truth = {
        "shots": [{"start": 0, "end": 40, "caption": "first"}, {"start": 40, "end": 90, "caption": "second"}]
    }
    (tmp_path / "footage_000.json").write_text(json.dumps(truth))
    clip = ClipTask(clip_id="f_1", source=str(tmp_path / "footage_000.mp4"), start=35, end=90, fps=10.0)
    assert cap.caption(clip) == ("second", "sidecar:footage_000.json#shots")
    clip = ClipTask(clip_id="n_0", source=str(tmp_path / "nothing.mp4"), start=0, end=20, fps=10.0)
    assert cap.caption(clip) is None  # no source: no caption, never an invented one


def test_buckets_by_resolution_aspect_and_length():
    clip = _clip("a", np.ones(4), frames=50)
    assert bucket_of(clip) == "72x128_ar1.78_4-8s"
    clip.num_frames = 700
    assert bucket_of(clip) == "72x128_ar1.78_64s+"


def test_text_overlay_area_from_a_real_detector():
    pytest.importorskip("rapidocr_onnxruntime")
    from worldsmith.curate.stages.text_overlay import TextDetector

    frames = _pan(2, n=2) // 3  # dim texture
    captioned = frames.copy()
    for f in captioned:
        cv2.putText(f, "BREAKING NEWS", (4, 56), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
    det = TextDetector(frames=2)
    area = det.text_area(captioned)
    assert 0.05 < area < 0.6 and det.text_area(frames) < 0.01
    assert (
        verdict({"motion": 0.1, "jitter": 0.0, "text_area": area}, FilterConfig(enabled=("text",)))[0]
        == "text"
    )
