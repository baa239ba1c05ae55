"""On the command line: robot episodes -> `posttrain action` (LoRA, two robots) -> `generate
action2world` -> `posttrain merge`, and the bad inputs of the issue (exit 2, one line naming the fix)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from posttrain_helpers import run_cli, save_tiny_base  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.sim.dataset import DatasetConfig, write_dataset
from worldsmith.video import io


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("posttrain")
    save_tiny_base(root / "base")
    for name, scenario in (("arm", "explore_ou"), ("puck", "pusher")):
        cfg = DatasetConfig(scenarios=(scenario,), episodes=2, frames=9, size=32, depth=False, masks=False)
        write_dataset(cfg, root / name)
    return root


def test_posttrain_generate_merge(root, capsys):
    args = ["posttrain", "action", "--init", root / "base", "--data", root / "arm", "--out", root / "act"]
    code, _, err = run_cli([*args, "--lora-rank", 4, "--set", "train.steps=2"], capsys)
    assert code == 0, err
    run = json.loads((root / "act" / "run.json").read_text())["results"]
    assert run["action_dim"] == 3 and run["clips"] == 2 and run["trainable_fraction"] < 1
    assert (root / "act" / "model" / "adapter" / "adapter.safetensors").is_file()

    np.save(root / "acts.npy", np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32))
    video = root / "arm" / "episode_000000" / "cam0.mp4"
    gen = ["generate", "action2world", "--video", video, "--ckpt", root / "act" / "model", "--steps", 2]
    code, _, err = run_cli(
        [*gen, "--actions", root / "acts.npy", "--guard", "none", "--out", root / "a2w"], capsys
    )
    assert code == 0, err
    assert io.probe(root / "a2w" / "video.mp4").num_frames == 9

    code, _, err = run_cli(
        ["posttrain", "merge", "--ckpt", root / "act" / "model", "--out", root / "merged"], capsys
    )
    assert code == 0, err
    assert not (root / "merged" / "model" / "adapter").exists()

    # The second robot: its action dimension (2) comes from its episodes.
    puck = [
        "posttrain",
        "action",
        "--init",
        root / "base",
        "--data",
        root / "puck",
        "--out",
        root / "puck_run",
    ]
    # ... post-trained with per-token injection and the motion-weighted loss (the benchmark's choice)
    opts = ["--inject", "both", "--motion-weight", 2, "--action-hidden", 0.5]
    code, _, err = run_cli([*puck, "--lora-rank", 0, *opts, "--set", "train.steps=1"], capsys)
    assert code == 0, err
    results = json.loads((root / "puck_run" / "run.json").read_text())["results"]
    assert results["action_dim"] == 2 and results["inject"] == "both" and results["motion_weight"] == 2
    meta = json.loads((root / "puck_run" / "model" / "action" / "config.json").read_text())
    assert meta["config"]["inject"] == "both" and meta["config"]["hidden_mult"] == 0.5


@pytest.mark.parametrize(
    "actions, message",
    [
        (np.zeros((8, 2), np.float32), "dimension 2, the model was post-trained with 3"),
        (np.zeros((5, 3), np.float32), "5 actions for a clip that needs 8"),
        (np.full((8, 3), np.nan, np.float32), "NaN"),
    ],
    ids=["dimension", "too-few", "nan"],
)
def test_bad_actions_exit_2_naming_the_file(root, capsys, actions, message):
    if not (root / "act" / "model").is_dir():
        pytest.skip("needs the model of test_posttrain_generate_merge")
    np.save(root / "bad.npy", actions)
    video = root / "arm" / "episode_000000" / "cam0.mp4"
    args = ["generate", "action2world", "--video", video, "--ckpt", root / "act" / "model", "--guard", "none"]
    code, _, err = run_cli([*args, "--actions", root / "bad.npy", "--out", root / "bad"], capsys)
    assert code == 2 and message in err and "bad.npy" in err, err


def test_bad_bases_and_data_exit_2(root, capsys):
    tok = root / "base" / "tokenizer"
    code, _, err = run_cli(
        ["posttrain", "action", "--init", tok, "--data", root / "arm", "--out", root / "x"], capsys
    )
    assert code == 2 and "not a diffusion world model" in err, err
    args = ["posttrain", "action", "--init", root / "base", "--data", root / "arm", "--out", root / "z"]
    code, _, err = run_cli([*args, "--inject", "film"], capsys)
    assert code == 2 and "inject" in err and "adaln, tokens, both" in err, err
    code, _, err = run_cli([*args, "--action-hidden", 0], capsys)
    assert code == 2 and "hidden_mult" in err and "--action-hidden" in err, err
    both = root / "both"
    for name in ("arm", "puck"):
        shutil.copytree(root / name, both / name)
    args = ["posttrain", "action", "--init", root / "base", "--data", both, "--out", root / "y"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "disagree on the action dimension" in err, err
