"""The MuJoCo twin an agent acts in: step it one action at a time, observe it, snapshot it, and
re-simulate batches of action sequences from a snapshot (the simulator-as-model upper bound).

The robot is the second robot of the twins, `pusher` (`sim.explore.pusher`): a puck on the table
under 2-D velocity control, actions ``[vx, vy]`` in m/s. Action t is applied from frame t to t + 1,
as in the rendered episodes the world model was post-trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from worldsmith.sim import camera as cam
from worldsmith.sim.catalogue import build_scene
from worldsmith.sim.physics import Simulation
from worldsmith.sim.render import Renderer, import_mujoco

ROBOT = "pusher"
ACTION_DIM = 2  # [vx, vy]
MAX_SPEED = 0.4  # m/s per axis: the exploration's bound (`PuckExplorer`)


class Commanded:
    """A controller that applies whatever action it was last given (the planner's)."""

    def __init__(self, action_dim: int):
        self.action = np.zeros(action_dim)

    def act(self, model, data, frame: int, dt: float) -> np.ndarray:
        data.ctrl[:] = self.action
        return self.action.copy()


@dataclass
class Observation:
    """What the planner sees: the rendered frame, the state estimate and a physics snapshot."""

    frame: np.ndarray  # [H, W, 3] uint8
    masks: np.ndarray  # [H, W] uint8 instance ids (objects 1..M, the robot M + 1)
    agent: np.ndarray  # [2] robot position on the table (m)
    objects: np.ndarray  # [M, 2] object positions (m)
    snapshot: np.ndarray  # MuJoCo full physics state (for the simulator-as-model only)


def unproject_to_plane(uv: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray, z: float) -> np.ndarray:
    """Pixels ``[..., 2]`` -> the points ``[..., 2]`` (x, y) where their rays meet the plane at height z.

    The ray of pixel ``(u, v)`` is ``C + s R^T K^-1 [u, v, 1]`` with the camera centre ``C = -R^T t``."""
    R, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    uv1 = np.concatenate([uv, np.ones((*uv.shape[:-1], 1))], axis=-1)  # [..., 3]
    d = uv1 @ np.linalg.inv(K).T @ R  # [..., 3] ray directions in world axes (R^T K^-1 x)
    centre = -R.T @ t
    s = (z - centre[2]) / d[..., 2]
    return (centre + s[..., None] * d)[..., :2]


class Twin:
    """One pusher scene (the scene of `seed`), stepped under commanded actions and rendered at `size`."""

    def __init__(self, seed: int, *, size: int = 64, fps: float = 10.0):
        self._mj = import_mujoco()
        scene = build_scene(ROBOT, seed)
        self.controller = Commanded(ACTION_DIM)
        self.scene = replace(scene, controller=self.controller)
        self.sim = Simulation(self.scene, fps)
        self.renderer = Renderer(self.sim.model, size, size)
        self.camera = self.scene.view.mjv_camera(self._mj)
        self.instances = np.concatenate([[0], self.sim.geom_instances()])
        self.agent_instance = len(self.scene.objects) + 1
        self.agent_body = self.sim.agent_id
        self.renderer.update(self.sim.data, self.camera)
        gl = self._mj.mjv_averageCamera(self.renderer.scene.camera[0], self.renderer.scene.camera[1])
        self.K, self.world_to_cam = cam.intrinsics(gl, size, size), cam.world_to_camera(gl)
        self._scratch = self._mj.MjData(self.sim.model)
        self._spec = self._mj.mjtState.mjSTATE_FULLPHYSICS

    @property
    def dt(self) -> float:
        return 1.0 / self.sim.fps

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> Twin:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def positions(self, data=None) -> tuple[np.ndarray, np.ndarray]:
        """(robot [2], objects [M, 2]) table positions in `data` (default: the twin's own state)."""
        data = self.sim.data if data is None else data
        return data.xpos[self.agent_body, :2].copy(), data.xpos[self.sim.body_ids, :2].copy()

    def snapshot(self) -> np.ndarray:
        m, d = self.sim.model, self.sim.data
        state = np.empty(self._mj.mj_stateSize(m, self._spec))
        self._mj.mj_getState(m, d, state, self._spec)
        return state

    def observe(self) -> Observation:
        self.renderer.update(self.sim.data, self.camera)
        frame, _ = self.renderer.render()
        masks = self.instances[self.renderer.segment() + 1]
        agent, objects = self.positions()
        return Observation(frame, masks.astype(np.uint8), agent, objects, self.snapshot())

    def render_goal(self, agent_xy) -> np.ndarray:
        """The frame ``[H, W, 3]`` of the current scene with the robot moved to `agent_xy` (a goal
        image for reach tasks); the twin's own state is restored."""
        saved = self.snapshot()
        d = self.sim.data
        d.joint("px").qpos[0], d.joint("py").qpos[0] = agent_xy
        self._mj.mj_forward(self.sim.model, d)
        self.renderer.update(d, self.camera)
        frame, _ = self.renderer.render()
        self._mj.mj_setState(self.sim.model, d, saved, self._spec)
        self._mj.mj_forward(self.sim.model, d)
        return frame

    def step(self, action: np.ndarray) -> None:
        """Apply one action for one frame interval."""
        self.controller.action = np.clip(np.asarray(action, np.float64), -MAX_SPEED, MAX_SPEED)
        self.sim.act()
        self.sim.advance()

    @property
    def substeps(self) -> int:
        return self.sim.substeps

    def simulate(self, snapshot: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Re-simulate each of ``actions [N, H, A]`` from `snapshot`: (robot ``[N, H, 2]``, objects
        ``[N, H, M, 2]``) after each action. The twin's own state is left untouched."""
        mj, m, d = self._mj, self.sim.model, self._scratch
        N, H, _ = actions.shape
        agent = np.empty((N, H, 2))
        objects = np.empty((N, H, len(self.sim.body_ids), 2))
        acts = np.clip(actions, -MAX_SPEED, MAX_SPEED)
        for i in range(N):
            mj.mj_setState(m, d, snapshot, self._spec)
            mj.mj_forward(m, d)
            for t in range(H):
                d.ctrl[:] = acts[i, t]
                mj.mj_step(m, d, nstep=self.substeps)
                agent[i, t], objects[i, t] = self.positions(d)
        return agent, objects
