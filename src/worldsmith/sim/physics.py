"""Stepping a scene: MuJoCo physics (or scripted kinematics) frame by frame, with full state.

MuJoCo integrates with a fixed timestep; we pick the largest timestep <= `max_timestep` (4 ms)
that divides the frame interval exactly, so frame t is the state at time t / fps with no drift.
Scenes use the RK4 integrator: it is exact for ballistic motion (free fall, projectiles), where
semi-implicit Euler is off by g t dt / 2 (1% of the remaining height just before landing).
"""

from __future__ import annotations

import math

import numpy as np

from worldsmith.sim.errors import SimError
from worldsmith.sim.render import import_mujoco
from worldsmith.sim.scenes import Scene


class Simulation:
    """A built scene: `model`, `data`, `advance()` one frame interval, `state()` of the objects."""

    def __init__(
        self,
        scene: Scene,
        fps: float,
        *,
        max_timestep: float = 0.004,
        perturb: float = 0.0,
        rng: np.random.Generator | None = None,
    ):
        """`perturb`: displace every degree of freedom of the start state by N(0, perturb) (metres or
        radians, drawn from `rng`): a second take of the same experiment (`eval.physics_iq`)."""
        if not (fps > 0 and math.isfinite(fps)):
            raise SimError(f"fps must be a positive number, got {fps}")
        if not (perturb >= 0 and math.isfinite(perturb)):
            raise SimError(f"perturb must be a non-negative number, got {perturb}")
        mujoco = import_mujoco()
        self._mj = mujoco
        self.scene = scene
        self.fps = float(fps)
        self.model = mujoco.MjModel.from_xml_string(scene.xml)
        self.substeps = max(1, math.ceil(1.0 / (fps * max_timestep) - 1e-9))
        self.model.opt.timestep = 1.0 / (fps * self.substeps)
        self.data = mujoco.MjData(self.model)
        for joint, value in scene.init_qpos.items():
            self.data.joint(joint).qpos[:] = value
        for joint, value in scene.init_qvel.items():
            self.data.joint(joint).qvel[:] = value
        if perturb > 0:  # on the manifold: quaternions stay unit (mj_integratePos)
            dq = (rng or np.random.default_rng(0)).normal(0.0, perturb, self.model.nv)
            mujoco.mj_integratePos(self.model, self.data.qpos, dq, 1.0)
        if scene.kinematics is not None:
            scene.kinematics.pose(self.model, self.data, 0.0)
        mujoco.mj_forward(self.model, self.data)
        self._xpos0 = self.data.xpos.copy()
        obj = mujoco.mjtObj.mjOBJ_BODY
        self.body_ids = [mujoco.mj_name2id(self.model, obj, name) for name in scene.objects]
        self.agent_id = mujoco.mj_name2id(self.model, obj, scene.agent) if scene.agent else -1
        self.frame = 0

    @property
    def instance_names(self) -> dict[int, str]:
        """Instance id -> name: objects are 1..N, the agent (robot) N+1."""
        names = {i + 1: name for i, name in enumerate(self.scene.objects)}
        if self.agent_id >= 0:
            names[len(names) + 1] = self.scene.agent
        return names

    def geom_instances(self) -> np.ndarray:
        """Instance id per geom (0 for the static background), found by walking up the body tree."""
        roots = {b: i + 1 for i, b in enumerate(self.body_ids)}
        if self.agent_id >= 0:
            roots[self.agent_id] = len(self.body_ids) + 1
        lut = np.zeros(self.model.ngeom, np.uint8)
        for g in range(self.model.ngeom):
            b = int(self.model.geom_bodyid[g])
            while b > 0 and b not in roots:
                b = int(self.model.body_parentid[b])
            lut[g] = roots.get(b, 0)
        return lut

    def initial_xpos(self, body: str) -> np.ndarray:
        """Position of `body` at time 0."""
        return self._xpos0[self.model.body(body).id]

    def act(self) -> np.ndarray | None:
        """The agent's action for the coming frame interval (sets `data.ctrl`)."""
        if self.scene.controller is None:
            return None
        return np.asarray(
            self.scene.controller.act(self.model, self.data, self.frame, 1.0 / self.fps), np.float64
        )

    def advance(self) -> None:
        """Move on by one frame interval (1 / fps seconds)."""
        self.frame += 1
        if self.scene.kinematics is not None:
            t = self.frame / self.fps
            self.scene.kinematics.pose(self.model, self.data, t)
            self.data.time = t
            self._mj.mj_forward(self.model, self.data)
        else:
            self._mj.mj_step(self.model, self.data, nstep=self.substeps)

    def state(self) -> dict[str, np.ndarray]:
        """Poses and velocities of the objects (world frame, at each body's origin) and raw qpos/qvel."""
        mj, m, d = self._mj, self.model, self.data
        vel = np.zeros((len(self.body_ids), 6))
        for i, b in enumerate(self.body_ids):
            mj.mj_objectVelocity(m, d, mj.mjtObj.mjOBJ_BODY, b, vel[i], 0)  # [angular, linear]
        state = {
            "time": np.array(d.time),
            "obj_pos": d.xpos[self.body_ids].copy(),  # [N, 3]
            "obj_quat": d.xquat[self.body_ids].copy(),  # [N, 4] (w, x, y, z)
            "obj_linvel": vel[:, 3:].copy(),
            "obj_angvel": vel[:, :3].copy(),
            "qpos": d.qpos.copy(),
            "qvel": d.qvel.copy(),
        }
        for source in (self.scene.controller, self.scene.kinematics):
            if source is not None and hasattr(source, "record"):
                state.update(source.record(m, d))
        return state

    def contacts(self, body_a: str, body_b: str) -> bool:
        """Whether the two bodies touch now."""
        a = self._mj.mj_name2id(self.model, self._mj.mjtObj.mjOBJ_BODY, body_a)
        b = self._mj.mj_name2id(self.model, self._mj.mjtObj.mjOBJ_BODY, body_b)
        for c in self.data.contact[: self.data.ncon]:
            pair = {int(self.model.geom_bodyid[c.geom1]), int(self.model.geom_bodyid[c.geom2])}
            if pair == {a, b}:
                return True
        return False
