"""Digital twins: MuJoCo scenes rendered to video with exact ground truth.

    from worldsmith.sim import make_episode
    ep = make_episode("dominoes", seed=3, frames=33, size=128)
    ep.frames      # [V, T, H, W, 3] uint8
    ep.states      # obj_pos/obj_quat/velocities [T, N, ...], K [V, T, 3, 3], world_to_cam [V, T, 4, 4]

See docs/sim.md for the scenarios and the episode format on disk.
"""

from worldsmith.sim.catalogue import PHYSICS_ALIGNMENT, SCENARIOS, build_scene
from worldsmith.sim.episode import Episode, make_episode
from worldsmith.sim.errors import SimError

__all__ = ["PHYSICS_ALIGNMENT", "SCENARIOS", "Episode", "SimError", "build_scene", "make_episode"]
