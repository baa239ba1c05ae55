"""On the command line: twin episodes filmed by moving cameras -> `posttrain camera` (LoRA) ->
`generate camera2world` from a path.json, and the bad paths of the issue (exit 2, one line naming
the file and the fix)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from posttrain_helpers import run_cli, save_tiny_base  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.posttrain.camera_path import write_path_json
from worldsmith.posttrain.camera_recipes import load_camera_world, resize_intrinsics
from worldsmith.sim.dataset import DatasetConfig, load_episode, write_dataset
from worldsmith.video import io


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("posttrain_camera")
    save_tiny_base(root / "base", perturb=0.05)  # a "pretrained" base: its zero layers moved
    cfg = DatasetConfig(
        scenarios=("collision",), episodes=2, frames=9, size=32, depth=False, masks=False, camera_mode="truck"
    )
    write_dataset(cfg, root / "cams")
    ep = load_episode(root / "cams" / "episode_000000")
    write_path_json(root / "path.json", ep.states["K"][0], ep.states["world_to_cam"][0], (32, 32))
    return root


def test_posttrain_camera_then_generate_camera2world(root, capsys):
    args = ["posttrain", "camera", "--init", root / "base", "--data", root / "cams", "--out", root / "cam"]
    code, _, err = run_cli(
        [*args, "--lora-rank", 4, "--set", "train.steps=3", "--set", "train.lr=1e-2"], capsys
    )
    assert code == 0, err
    run = json.loads((root / "cam" / "run.json").read_text())["results"]
    assert run["clips"] == 2 and run["trainable_params"] < run["total_params"]
    world, net = load_camera_world(root / "cam" / "model")
    assert net.camera.weight.abs().sum() > 0  # the camera layer trained away from its zero start
    assert (root / "cam" / "model" / "adapter").is_dir()

    video = root / "cams" / "episode_000000" / "cam0.mp4"
    gen = ["generate", "camera2world", "--video", video, "--ckpt", root / "cam" / "model", "--steps", 2]
    code, _, err = run_cli(
        [*gen, "--camera", root / "path.json", "--guard", "none", "--out", root / "c2w"], capsys
    )
    assert code == 0, err
    assert io.probe(root / "c2w" / "video.mp4").num_frames == 9


def _bad_paths(root):
    ep = load_episode(root / "cams" / "episode_000000")
    K, E = ep.states["K"][0], ep.states["world_to_cam"][0]
    skew = E.copy()
    skew[4, :3, :3] *= 1.2
    big = resize_intrinsics(torch.from_numpy(K), (32, 32), (64, 64)).numpy()
    return {
        "few": (K[:5], E[:5], (32, 32), "5 poses for a clip of 9 frames"),
        "skew": (K, skew, (32, 32), "rotation of frame 4 is not orthonormal"),
        "size": (big, E, (64, 64), "intrinsics are for 64x64 images but --video"),
        "K": (big, E, (32, 32), "do not fit a 32x32 video; give K for the video's size"),
    }


@pytest.mark.parametrize("case", ["few", "skew", "size", "K"])
def test_bad_paths_exit_2_naming_the_file(root, capsys, case):
    if not (root / "cam" / "model").is_dir():
        pytest.skip("needs the model of test_posttrain_camera_then_generate_camera2world")
    K, E, size, message = _bad_paths(root)[case]
    bad = write_path_json(root / f"bad_{case}.json", K, E, size)
    video = root / "cams" / "episode_000000" / "cam0.mp4"
    args = ["generate", "camera2world", "--video", video, "--ckpt", root / "cam" / "model", "--guard", "none"]
    code, _, err = run_cli([*args, "--camera", bad, "--out", root / f"bad_{case}"], capsys)
    assert code == 2 and message in err and f"bad_{case}.json" in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, err
    assert not (root / f"bad_{case}" / "video.mp4").exists()


def test_camera_clips_carry_the_episode_cameras(root):
    from worldsmith.posttrain.camera_recipes import read_camera_clips

    clips = read_camera_clips(root / "cams", frames=9, size=(32, 32))
    ep = load_episode(root / "cams" / "episode_000001")
    assert len(clips) == 2 and clips.frames.shape == (2, 9, 32, 32, 3)
    assert np.allclose(clips.w2c[1].numpy(), ep.states["world_to_cam"][0])
    assert np.allclose(clips.K[1].numpy(), ep.states["K"][0])
