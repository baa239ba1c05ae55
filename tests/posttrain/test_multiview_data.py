"""Rig data and the multi-view recipe: the ego trajectory against its formula, drive-twin rigs read
into clips, bad rigs / trajectories / checkpoints named with their fix, and post-train -> save ->
load -> generate (one video per camera + a tiled preview) end to end on a tiny base."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from posttrain_helpers import save_tiny_base  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.posttrain.multiview import RigError
from worldsmith.posttrain.multiview_recipes import (
    MultiViewPosttrainConfig,
    generate_multiview,
    load_multiview_world,
    posttrain_multiview,
    predict_independent,
    predict_rig,
    tiled_preview,
)
from worldsmith.posttrain.rig_data import (
    ego_trajectory,
    read_rig_clips,
    read_start_rig,
    read_trajectory,
    write_trajectory,
)
from worldsmith.sim.dataset import write_episode
from worldsmith.sim.episode import make_episode
from worldsmith.video import io

CAMS = ("front", "back", "left")


def test_ego_trajectory_is_the_future_path_in_the_first_ego_frame():
    fps, yaw = 10.0, math.radians(30)
    t = np.arange(12) / fps
    heading = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    pos = 8.0 * t[:, None] * heading + np.array([5.0, -2.0, 0.0])  # straight at 8 m/s along yaw
    traj = ego_trajectory(pos, np.full(12, yaw), fps, start=2, points=4, dt=0.15)
    expect = np.stack([8.0 * 0.15 * np.arange(1, 5), np.zeros(4), np.zeros(4)], -1)  # x forward only
    np.testing.assert_allclose(traj, expect, atol=1e-9)
    side = ego_trajectory(pos, np.full(12, yaw - math.pi / 2), fps, 0, 2, 0.1)  # moving to its left
    np.testing.assert_allclose(side, [[0, 0.8, 0], [0, 1.6, 0]], atol=1e-9)
    assert ego_trajectory(pos, np.full(12, yaw), fps, start=8, points=4, dt=0.1) is None  # runs past the end


@pytest.fixture(scope="module")
def rigs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rigs")
    for seed in range(2):
        ep = make_episode("drive", seed, frames=14, size=32, cameras=3, masks=False, depth=False)
        write_episode(ep, root / "train" / f"episode_{seed:06d}")
    return root


def test_rigs_are_read_with_their_trajectory(rigs):
    clips = read_rig_clips(rigs / "train", frames=9, size=(32, 32), points=4, stride=4)
    assert clips.cameras == CAMS and clips.frames.shape == (4, 3, 9, 32, 32, 3)
    assert clips.trajectory.shape == (4, 4, 3)
    speed = clips.trajectory[:, 0, 0] / 0.1  # the drive twin's ego drives at 8-13 m/s
    assert ((speed > 7) & (speed < 14)).all(), speed
    assert (clips.trajectory[:, :, 0].diff(dim=1) > 0).all()  # always forward
    sub = read_rig_clips(rigs / "train", frames=9, size=(32, 32), points=4, cameras=("left", "front"))
    assert sub.cameras == ("left", "front")


def test_bad_rigs_name_what_and_the_fix(rigs, tmp_path):
    with pytest.raises(RigError, match="no camera 'right'.*sim run drive --cameras 6"):
        read_rig_clips(rigs / "train", frames=9, size=(32, 32), points=4, cameras=("front", "right"))
    bad = tmp_path / "bad" / "episode_000000"
    shutil.copytree(rigs / "train" / "episode_000000", bad)
    io.write(bad / "cam1.mp4", io.read(bad / "cam1.mp4").frames[:10], fps=10.0)  # a camera lost frames
    with pytest.raises(RigError, match="not synchronised"):
        read_rig_clips(tmp_path / "bad", frames=9, size=(32, 32), points=4)
    with pytest.raises(RigError, match="render longer episodes"):
        read_rig_clips(rigs / "train", frames=9, size=(32, 32), points=40)
    with pytest.raises(RigError, match="trained for 4 views"):
        read_start_rig(rigs / "train" / "episode_000001", (*CAMS, "right"), (32, 32))
    write_trajectory(tmp_path / "short.json", np.zeros((3, 3)))
    with pytest.raises(RigError, match="shorter than the model's horizon of 4 points"):
        read_trajectory(tmp_path / "short.json", 4, 0.1)
    write_trajectory(tmp_path / "dt.json", np.zeros((8, 3)), dt=0.2)
    with pytest.raises(RigError, match="resample"):
        read_trajectory(tmp_path / "dt.json", 4, 0.1)


def test_tiled_preview_places_each_view_in_its_cell():
    rig = torch.arange(5, dtype=torch.uint8).view(5, 1, 1, 1, 1).expand(5, 2, 3, 4, 3)
    grid = tiled_preview(rig, columns=3)
    assert grid.shape == (2, 6, 12, 3)
    assert grid[0, 0, 0, 0] == 0 and grid[0, 0, 4, 0] == 1 and grid[0, 3, 4, 0] == 4 and grid[0, 3, 8, 0] == 0


def test_posttrain_then_generate_one_video_per_camera(rigs, tmp_path):
    save_tiny_base(tmp_path / "base", perturb=0.05)
    cfg = MultiViewPosttrainConfig(trajectory_dropout=0.5)
    metrics = posttrain_multiview(
        tmp_path / "base", rigs / "train", tmp_path / "mv", config=cfg, train={"steps": 3, "log_every": 1}
    )
    assert metrics["cameras"] == list(CAMS) and metrics["trajectory_points"] == 8  # 0.8 s at 10 fps
    world, net = load_multiview_world(tmp_path / "mv" / "model")
    assert net.mv_cfg.cameras == CAMS
    start = rigs / "train" / "episode_000000"
    given = read_start_rig(start, CAMS, (32, 32))[None]  # [1, 3, 1, 32, 32, 3]
    traj = read_rig_clips(rigs / "train", frames=9, size=(32, 32), points=8).trajectory[:1]
    clips = predict_rig(world, net, given, traj, steps=2)
    assert clips.shape == (1, 3, 9, 32, 32, 3) and torch.equal(clips[:, :, :1], given)
    assert not torch.equal(clips, predict_rig(world, net, given, None, steps=2))  # the trajectory matters
    assert predict_independent(world, given, steps=2).shape == clips.shape
    write_trajectory(tmp_path / "traj.json", traj[0])
    res = generate_multiview(tmp_path / "mv" / "model", start, tmp_path / "traj.json", tmp_path / "gen",
                             steps=2, guard="none")  # fmt: skip
    assert sorted(res["videos"]) == sorted(CAMS)
    assert io.read(tmp_path / "gen" / "preview.mp4").frames.shape == (9, 32, 96, 3)
    assert io.read(tmp_path / "gen" / "left.mp4").frames.shape == (9, 32, 32, 3)
    json.dumps(res)
