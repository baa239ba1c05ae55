"""`worldsmith eval ...` on sim episodes written to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from worldsmith.cli import main
from worldsmith.video import io

sim_dataset = pytest.importorskip("worldsmith.sim.dataset")


@pytest.fixture(scope="module")
def episode_dir(tmp_path_factory):
    from worldsmith.sim.episode import make_episode

    ep = make_episode("collision", 5, frames=12, size=64, cameras=2, camera_mode="orbit")
    return sim_dataset.write_episode(ep, tmp_path_factory.mktemp("ep") / "episode_000000", crf=10)


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_physics_truth_beats_copy_last(episode_dir, tmp_path, capsys):
    truth = io.read(episode_dir / "cam0.mp4").frames.numpy()
    pred = io.write(tmp_path / "pred.mp4", truth[4:], fps=10, crf=10)
    code, out, _ = run(["eval", "physics", str(pred), "--episode", str(episode_dir), "--cond", "4"], capsys)
    assert code == 0
    scores = json.loads(out)["scores"]
    assert scores["prediction"]["psnr"] > scores["copy last frame"]["psnr"]
    assert scores["prediction"]["iou"] >= scores["copy last frame"]["iou"]


def test_physics_wrong_length_is_one_line_error(episode_dir, tmp_path, capsys):
    pred = io.write(tmp_path / "short.mp4", np.zeros((3, 64, 64, 3), np.uint8), fps=10)
    code, _, err = run(["eval", "physics", str(pred), "--episode", str(episode_dir), "--cond", "4"], capsys)
    assert code == 2 and "short.mp4" in err and "--cond 4" in err


def test_geometry_and_multiview_json(episode_dir, capsys):
    code, out, _ = run(["eval", "geometry", str(episode_dir), "--gap", "3"], capsys)
    assert code == 0 and set(json.loads(out)) >= {"sampson_px", "pose_success", "pairs"}
    args = ["eval", "geometry", str(episode_dir), "--gap", "3", "--upscale", "2"]
    args += ["--contrast-threshold", "0.01"]
    code, out2, _ = run(args, capsys)
    assert code == 0 and json.loads(out2)["mean_inliers"] > json.loads(out)["mean_inliers"]
    code, _, err = run(["eval", "geometry", str(episode_dir), "--contrast-threshold", "0"], capsys)
    assert code == 2 and "--contrast-threshold" in err
    code, out, _ = run(["eval", "multiview", str(episode_dir)], capsys)
    assert code == 0 and {"tse_px", "cse_px"} <= set(json.loads(out))


def test_not_an_episode(tmp_path, capsys):
    code, _, err = run(["eval", "multiview", str(tmp_path)], capsys)
    assert code == 2 and "not a sim episode folder" in err


def test_physics_with_lpips_backbone(episode_dir, tmp_path, capsys):
    import importlib.util

    import torch

    from worldsmith.eval.lpips import LPIPS

    if importlib.util.find_spec("lpips") is None:
        pytest.skip("the lpips wheel (LPIPS calibration weights) is not installed")
    torch.manual_seed(0)
    backbone = tmp_path / "alexnet.pth"  # random weights in torchvision's layout: wiring, not quality
    torch.save({f"features.{k}": v for k, v in LPIPS("alex").features.state_dict().items()}, backbone)
    truth = io.read(episode_dir / "cam0.mp4").frames.numpy()
    pred = io.write(tmp_path / "pred.mp4", truth[4:], fps=10, crf=10)
    args = ["eval", "physics", str(pred), "--episode", str(episode_dir), "--cond", "4"]
    code, out, _ = run([*args, "--lpips-backbone", str(backbone)], capsys)
    assert code == 0
    scores = json.loads(out)["scores"]
    assert 0 <= scores["prediction"]["lpips"] < scores["copy last frame"]["lpips"]


def _strict(text: str) -> dict:
    def nan(name):
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=nan)


def test_scores_that_cannot_be_computed_are_null_with_a_reason(episode_dir, tmp_path, capsys):
    flat = io.write(tmp_path / "flat.mp4", np.full((8, 64, 64, 3), 120, np.uint8), fps=10)
    code, out, err = run(["eval", "geometry", str(flat), "--gap", "2"], capsys)
    result = _strict(out)
    assert code == 0 and result["sampson_px"] is None and result["pose_success"] is None
    assert "--upscale 3" in result["why"]["sampson_px"] and "sim episode" in result["why"]["pose_success"]
    assert "sampson_px is null:" in err
    code, out, _ = run(["eval", "geometry", str(flat), "--gap", "20"], capsys)
    assert "no pair 20 apart" in _strict(out)["why"]["sampson_px"]


def test_multiview_takes_the_small_frame_options(episode_dir, capsys):
    code, plain, _ = run(["eval", "multiview", str(episode_dir)], capsys)
    assert code == 0
    args = ["eval", "multiview", str(episode_dir), "--upscale", "2", "--contrast-threshold", "0.01"]
    code, out, _ = run(args, capsys)
    assert code == 0
    scores, before = _strict(out), _strict(plain)
    assert scores["tse_px"] is not None  # found on enlarged frames
    assert scores["tse_px"] != before["tse_px"]
    code, _, err = run(["eval", "multiview", str(episode_dir), "--upscale", "0"], capsys)
    assert code == 2 and "--upscale" in err
