"""Digital twins: MuJoCo scenes rendered to video with exact ground truth.

    from worldsmith.sim import make_episode
    ep = make_episode("dominoes", seed=3, frames=33, size=128)
    ep.frames      # [V, T, H, W, 3] uint8
    ep.states      # obj_pos/obj_quat/velocities [T, N, ...], K [V, T, 3, 3], world_to_cam [V, T, 4, 4]

`write_dataset` / `demo_dataset` write episode folders, `make_footage` long videos with true shot
boundaries. See docs/sim.md for the scenarios and the format on disk.
"""

from worldsmith.sim.catalogue import PHYSICS_ALIGNMENT, SCENARIOS, build_scene
from worldsmith.sim.dataset import DatasetConfig, demo_dataset, load_episode, write_dataset, write_episode
from worldsmith.sim.episode import Episode, make_episode
from worldsmith.sim.errors import SimError
from worldsmith.sim.footage import Footage, make_footage, write_footage

__all__ = [
    "PHYSICS_ALIGNMENT",
    "SCENARIOS",
    "DatasetConfig",
    "Episode",
    "Footage",
    "SimError",
    "build_scene",
    "demo_dataset",
    "load_episode",
    "make_episode",
    "make_footage",
    "write_dataset",
    "write_episode",
    "write_footage",
]
