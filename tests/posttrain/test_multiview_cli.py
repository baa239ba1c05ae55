"""On the command line: drive-twin rigs -> `posttrain multiview` -> `generate multiview` from a start
rig and a trajectory file (one video per camera + a tiled preview), and the bad inputs of the issue
(exit 2, one line naming the input and the fix, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from posttrain_helpers import run_cli, save_tiny_base  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.posttrain.multiview_recipes import load_multiview_world
from worldsmith.posttrain.rig_data import write_trajectory
from worldsmith.sim.dataset import write_episode
from worldsmith.sim.episode import make_episode
from worldsmith.video import io


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("posttrain_multiview")
    save_tiny_base(root / "base", perturb=0.05)
    for seed in range(2):
        ep = make_episode("drive", seed, frames=10, size=32, cameras=3, masks=False, depth=False)
        write_episode(ep, root / "rigs" / f"episode_{seed:06d}")
    write_trajectory(root / "traj.json", np.stack([np.arange(1, 9) * 1.0, np.zeros(8), np.zeros(8)], -1))
    return root


def test_posttrain_multiview_then_generate(root, capsys):
    args = ["posttrain", "multiview", "--init", root / "base", "--data", root / "rigs", "--out", root / "mv"]
    code, _, err = run_cli([*args, "--cameras", "front,left", "--set", "train.steps=2"], capsys)
    assert code == 0, err
    run = json.loads((root / "mv" / "run.json").read_text())["results"]
    assert run["cameras"] == ["front", "left"] and run["rigs"] == 2 and run["trajectory_points"] == 8
    _, net = load_multiview_world(root / "mv" / "model")
    assert net.multiview.view_proj.weight.abs().sum() > 0  # the view embedding trained off zero

    gen = ["generate", "multiview", "--ckpt", root / "mv" / "model", "--steps", 2, "--guard", "none"]
    rig = root / "rigs" / "episode_000001"
    code, _, err = run_cli(
        [*gen, "--rig", rig, "--trajectory", root / "traj.json", "--out", root / "g"], capsys
    )
    assert code == 0, err
    assert io.probe(root / "g" / "front.mp4").num_frames == 9 and (root / "g" / "left.mp4").is_file()
    assert io.read(root / "g" / "preview.mp4").frames.shape[1:3] == (32, 96)  # one row of 3 cells


def _png_rig(root, cameras) -> object:
    folder = root / f"png_{'_'.join(cameras)}"
    folder.mkdir(exist_ok=True)
    for name in cameras:
        Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(folder / f"{name}.png")
    return folder


@pytest.mark.parametrize("case", ["views", "short", "missing"])
def test_bad_inputs_exit_2_naming_what_and_the_fix(root, capsys, case):
    if not (root / "mv" / "model").is_dir():
        pytest.skip("needs the model of test_posttrain_multiview_then_generate")
    traj = root / "traj.json"
    if case == "views":  # a rig for another number of views than the checkpoint's
        rig, message = _png_rig(root, ["front"]), "trained for 2 views (front, left)"
    elif case == "short":
        traj, rig, message = (
            root / "short.json",
            _png_rig(root, ["front", "left"]),
            "shorter than the model's",
        )
        write_trajectory(traj, np.zeros((3, 3)))
    else:  # an episode rig without the camera
        rig, message = root / "rigs" / "episode_000000", "give a rig with them"
        meta = json.loads((rig / "meta.json").read_text())
        bad = root / "no_left"
        bad.mkdir()
        meta["cameras"] = ["front", "back"]
        (bad / "meta.json").write_text(json.dumps(meta))
        rig = bad
    args = ["generate", "multiview", "--ckpt", root / "mv" / "model", "--guard", "none", "--rig", rig]
    code, _, err = run_cli([*args, "--trajectory", traj, "--out", root / f"bad_{case}"], capsys)
    assert code == 2 and message in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, err
    assert not (root / f"bad_{case}" / "front.mp4").exists()
