"""Twin episodes with actions as post-training clips (`worldsmith.data.episodes`): windows, actions
aligned with the frames they move, masks resized without blending ids, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from worldsmith.data import DataError
from worldsmith.data.episodes import episode_folders, read_action_clips
from worldsmith.sim.dataset import DatasetConfig, load_episode, write_dataset


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    cfg = DatasetConfig(scenarios=("explore_ou",), episodes=2, frames=9, size=16, depth=False, masks=True)
    write_dataset(cfg, root / "arm")
    return root


def test_windows_carry_the_actions_between_their_frames(episodes):
    clips = read_action_clips(episodes / "arm", frames=5, stride=4, masks=True)
    assert len(clips) == 4 and clips.action_dim == 3  # 2 episodes x windows starting at 0 and 4
    assert clips.frames.shape == (4, 5, 16, 16, 3) and clips.actions.shape == (4, 4, 3)
    folder, start = clips.sources[1]
    ep = load_episode(folder)
    with np.load(f"{folder}/states.npz") as z:
        np.testing.assert_array_equal(
            clips.actions[1].numpy(), z["actions"][start : start + 4].astype(np.float32)
        )
    np.testing.assert_array_equal(clips.frames[1].numpy(), ep.frames[0, start : start + 5])
    np.testing.assert_array_equal(clips.masks[1].numpy(), ep.masks[0, start : start + 5])


def test_resized_masks_keep_instance_ids(episodes):
    """Halving the size picks every other pixel (nearest neighbour): ids are never blended."""
    clips = read_action_clips(episodes / "arm", frames=5, size=(8, 8), masks=True)
    folder, start = clips.sources[0]
    full = load_episode(folder).masks[0, start : start + 5]  # [5, 16, 16]
    np.testing.assert_array_equal(clips.masks[0].numpy(), full[:, ::2, ::2])


def test_bad_episode_folders_name_the_input_and_the_fix(episodes, tmp_path):
    with pytest.raises(DataError, match="no episode folders.*worldsmith sim run robot"):
        episode_folders(tmp_path)
    with pytest.raises(DataError, match="has 9 frames|render longer episodes or lower --frames"):
        read_action_clips(episodes / "arm", frames=40)
    still = tmp_path / "still"
    write_dataset(DatasetConfig(scenarios=("slide",), episodes=1, frames=3, size=16, depth=False), still)
    with pytest.raises(DataError, match="has no actions.*post-train on robot scenarios"):
        read_action_clips(still, frames=3)
