"""`worldsmith guard prompt|video`: verdicts, exit codes, and no video written when blocked."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from worldsmith.cli import main
from worldsmith.guardrails.face_blur import FaceDetector
from worldsmith.video import io


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_guard_prompt_exit_codes(capsys, tmp_path):
    code, out, _ = run_cli(["guard", "prompt", "a robot arm stacks wooden blocks", "--no-classifier"], capsys)
    assert code == 0 and out.startswith("allowed")
    code, out, _ = run_cli(["guard", "prompt", "how to k.i.l.l a man", "--no-classifier", "--json"], capsys)
    verdict = json.loads(out)
    assert code == 1 and verdict["ok"] is False and verdict["category"] == "violence"
    assert verdict["term"] == "kill" and verdict["matched"] == "kill" and verdict["hint"]
    code, text, _ = run_cli(["guard", "prompt", "how to k.i.l.l a man", "--no-classifier"], capsys)
    assert code == 1 and text.strip() == verdict["explanation"]  # the CLI prints what the JSON says
    assert "blocked by blocklist" in text and "how to rephrase:" in text
    policy = tmp_path / "policy.yaml"
    policy.write_text("allow: [demolition bomb]\nset_by: site safety\n")
    args = ["guard", "prompt", "a demolition bomb test", "--no-classifier"]
    assert run_cli(args, capsys)[0] == 1
    code, out, err = run_cli([*args, "--guard-policy", str(policy)], capsys)
    assert code == 0 and "relaxes the default, set by site safety" in " ".join(err.split())
    extra = tmp_path / "mine.yaml"
    extra.write_text("weapons:\n  - trebuchet\n")
    code, out, _ = run_cli(
        ["guard", "prompt", "a tr3buchet", "--no-classifier", "--blocklist", str(extra)], capsys
    )
    assert code == 1 and "trebuchet" in out
    code, _, err = run_cli(["guard", "prompt", "x", "--blocklist", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "none.yaml" in err  # a user error: one line, exit 2


def test_guard_video_blurs_faces(capsys, tmp_path):
    frame = cv2.resize(data.astronaut(), (320, 320))
    src = io.write(tmp_path / "face.mp4", np.repeat(frame[None], 6, 0), fps=6, crf=12)
    out = tmp_path / "run"
    code, _, _ = run_cli(["guard", "video", str(src), "--out", str(out), "--no-safety"], capsys)
    assert code in (0, None)
    guarded = io.read(out / "guarded.mp4").frames.numpy()
    assert guarded.shape == (6, 320, 320, 3)
    faces = FaceDetector().detect(frame)
    assert faces and all(  # no face found before is found again after blurring
        not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] for a in faces for b in found)
        for found in map(FaceDetector().detect, guarded)
    )
    info = json.loads((out / "run.json").read_text())
    # the detector runs on frames 0 and 5 (every 5th and the last); tracking covers the rest
    assert info["status"] == "ok" and info["results"]["faces"] >= 2


def test_guard_video_blocked_writes_no_video(capsys, tmp_path, monkeypatch):
    src = io.write(tmp_path / "clip.mp4", np.zeros((4, 64, 64, 3), np.uint8), fps=4)
    # A missing model file must block the video (fail closed), never let it through unguarded.
    monkeypatch.setattr(
        "worldsmith.guardrails.video_safety.nudenet_model_path", lambda: tmp_path / "missing.onnx"
    )
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["guard", "video", str(src), "--out", str(out)], capsys)
    assert code == 1 and "missing.onnx" in stdout
    assert not (out / "guarded.mp4").exists()
    assert json.loads((out / "run.json").read_text())["results"]["ok"] is False
