"""Robot episodes with exploratory actions, for action-conditioned world models.

A world model that should follow *any* action must see more than one policy: scripted pushes
alone teach it "the arm goes to an object and pushes it". These scenarios drive the table-top arm
of `robot.py` with

* `push_noisy`: the scripted pushes with an Ornstein-Uhlenbeck perturbation of the tip target;
* `explore_ou`: a random smooth tip velocity (an OU process, pulled towards a focus object that
  changes now and then, so that contacts happen), the pusher lowered and raised at random;
* `explore_waypoints`: straight moves at random speeds to random waypoints, most of them through
  an object;

and add a second robot with another action space, `pusher`: a puck on the table under 2-D velocity
control (actions ``[vx, vy]`` in m/s, where the arm's are joint targets ``[q1, q2, lift]``).

Every exploratory controller has `variant(k)`: the same controller kind with another random
stream. `make_episode(..., controller=counterfactual(k))` renders the same start state (the scene
of one seed) under the k-th action sequence: the ground truth of action sensitivity.
"""

from __future__ import annotations

import numpy as np

from worldsmith.sim import mjcf
from worldsmith.sim.camera import View
from worldsmith.sim.robot import LIFT_DOWN, LIFT_UP, SPEED, TABLE_Z, PushPolicy, _build, _table_objects
from worldsmith.sim.robot import inverse_kinematics as ik
from worldsmith.sim.scenes import Scene

WORKSPACE = (np.array([-0.42, -0.25]), np.array([0.42, 0.32]))  # tip x, y bounds on the table
OU_THETA, OU_SIGMA = 2.0, 0.6  # 1/s and m/s per sqrt(s): mean reversion and noise of the velocity


class ArmExplorer:
    """Random smooth tip motions of the 3-DoF arm ('ou' or 'waypoints'); actions are the joint
    targets ``[q1, q2, lift]``, as for `PushPolicy`."""

    def __init__(self, objects: list[str], mode: str, seed: list[int]):
        self.objects, self.mode, self.seed = objects, mode, list(seed)
        self.rng = np.random.default_rng(self.seed)
        self.target = np.array([0.0, 0.05, LIFT_UP])
        self.vel, self.focus, self.waypoint, self.speed = np.zeros(2), 0, None, SPEED

    def start(self) -> np.ndarray:
        return self.target.copy()

    def variant(self, k: int) -> ArmExplorer:
        return ArmExplorer(self.objects, self.mode, [*self.seed, 1000 + k])

    def _object_xy(self, data, k: int) -> np.ndarray:
        return data.body(self.objects[k]).xpos[:2].copy()

    def _ou(self, data, dt: float) -> None:
        rng = self.rng
        if rng.random() < dt / 2.0:  # a new focus object every ~2 s
            self.focus = int(rng.integers(len(self.objects)))
        pull = self._object_xy(data, self.focus) - self.target[:2]
        noise = OU_SIGMA * np.sqrt(dt) * rng.standard_normal(2)
        self.vel = self.vel + (-OU_THETA * self.vel + 3.0 * pull) * dt + noise
        self.vel *= min(1.0, 0.5 / max(float(np.linalg.norm(self.vel)), 1e-9))  # at most 0.5 m/s
        self.target[:2] += self.vel * dt
        if rng.random() < 0.08:  # lower or raise the pusher now and then
            self.target[2] = LIFT_UP if self.target[2] == LIFT_DOWN else LIFT_DOWN

    def _waypoints(self, data, dt: float) -> None:
        rng = self.rng
        if self.waypoint is None or np.linalg.norm(self.waypoint - self.target[:2]) < 1e-6:
            if rng.random() < 0.7:  # through an object, in a random direction
                angle = rng.uniform(0, 2 * np.pi)
                self.waypoint = self._object_xy(data, int(rng.integers(len(self.objects))))
                self.waypoint = self.waypoint + rng.uniform(0.05, 0.2) * np.array(
                    [np.cos(angle), np.sin(angle)]
                )
            else:
                self.waypoint = rng.uniform(*WORKSPACE)
            self.waypoint = np.clip(self.waypoint, *WORKSPACE)
            self.speed = SPEED * rng.uniform(0.5, 1.3)
            self.target[2] = LIFT_DOWN if rng.random() < 0.7 else LIFT_UP
        delta = self.waypoint - self.target[:2]
        dist = float(np.linalg.norm(delta))
        self.target[:2] += delta * min(1.0, self.speed * dt / max(dist, 1e-9))

    def act(self, model, data, frame: int, dt: float) -> np.ndarray:
        (self._ou if self.mode == "ou" else self._waypoints)(data, dt)
        self.target[:2] = np.clip(self.target[:2], *WORKSPACE)
        action = np.array([*ik(self.target[:2]), self.target[2]])
        data.ctrl[:] = action
        return action

    def record(self, model, data) -> dict[str, np.ndarray]:
        return {"tip_pos": data.site("tip").xpos.copy(), "tip_target": self.target.copy()}


class NoisyPushPolicy(PushPolicy):
    """Scripted pushes with an OU perturbation (sigma ~3 cm) of the commanded tip position."""

    def __init__(self, objects, pushes, seed: list[int]):
        super().__init__(objects, pushes)
        self.seed, self.rng, self.noise = list(seed), np.random.default_rng(seed), np.zeros(2)
        self._pushes = list(pushes)

    def variant(self, k: int) -> NoisyPushPolicy:
        return NoisyPushPolicy(self.objects, self._pushes, [*self.seed, 1000 + k])

    def act(self, model, data, frame: int, dt: float) -> np.ndarray:
        super().act(model, data, frame, dt)
        self.noise += -OU_THETA * self.noise * dt + 0.06 * np.sqrt(dt) * self.rng.standard_normal(2)
        xy = np.clip(self.target[:2] + self.noise, *WORKSPACE)
        action = np.array([*ik(xy), self.target[2]])
        data.ctrl[:] = action
        return action


def _random_pushes(rng, labels):
    pushes = []
    for _ in range(6):
        angle = rng.uniform(0, 2 * np.pi)
        pushes.append(
            (int(rng.integers(len(labels))), (np.cos(angle), np.sin(angle)), rng.uniform(0.08, 0.2))
        )
    return pushes, "A robot arm moves around a table, pushing objects.", None


def _explorer(rng, scenario: str, make, look: str = "default") -> Scene:
    seed = [int(rng.integers(2**31))]
    make_policy = lambda names, p: make(names, p, seed)  # noqa: E731
    return _build(rng, scenario, int(rng.integers(2, 5)), _random_pushes, make_policy, look=look)


def _noisy(names, pushes, seed):
    return NoisyPushPolicy(names, pushes, seed)


def _ou(names, _, seed):
    return ArmExplorer(names, "ou", seed)


def _waypoints(names, _, seed):
    return ArmExplorer(names, "waypoints", seed)


def push_noisy(rng: np.random.Generator) -> Scene:
    """The arm's scripted pushes with an Ornstein-Uhlenbeck perturbation of the tip (exploration)."""
    return _explorer(rng, "push_noisy", _noisy)


def explore_ou(rng: np.random.Generator) -> Scene:
    """The arm moves its tip with a random smooth (OU) velocity, lowering and raising it at random."""
    return _explorer(rng, "explore_ou", _ou)


def explore_waypoints(rng: np.random.Generator) -> Scene:
    """The arm moves to random waypoints at random speeds, most of them through an object."""
    return _explorer(rng, "explore_waypoints", _waypoints)


# --- the same arm, seen large (`robot.ARM_LOOKS["large"]`): what a small tokenizer can keep ------


def push_large(rng: np.random.Generator) -> Scene:
    """The arm's scripted pushes, seen large: closer, from above, thick links, a plain table."""
    return _build(rng, "push_large", int(rng.integers(2, 5)), _random_pushes, look="large")


def push_noisy_large(rng: np.random.Generator) -> Scene:
    """Noisy scripted pushes (OU perturbation of the tip), the arm seen large."""
    return _explorer(rng, "push_noisy_large", _noisy, look="large")


def explore_ou_large(rng: np.random.Generator) -> Scene:
    """Random smooth (OU) tip velocity, the arm seen large."""
    return _explorer(rng, "explore_ou_large", _ou, look="large")


def explore_waypoints_large(rng: np.random.Generator) -> Scene:
    """Random waypoints at random speeds, the arm seen large."""
    return _explorer(rng, "explore_waypoints_large", _waypoints, look="large")


# --- a second robot: a planar pusher under 2-D velocity control ------------------------------------

PUCK_START = (0.0, -0.2)
PUCK_RANGE = (np.array([-0.6, -0.25]), np.array([0.6, 0.6]))  # joint ranges around PUCK_START


class PuckExplorer:
    """OU velocity commands ``[vx, vy]`` (m/s) for the puck, pulled towards a focus object."""

    def __init__(self, objects: list[str], seed: list[int]):
        self.objects, self.seed = objects, list(seed)
        self.rng = np.random.default_rng(self.seed)
        self.vel, self.focus = np.zeros(2), 0

    def variant(self, k: int) -> PuckExplorer:
        return PuckExplorer(self.objects, [*self.seed, 1000 + k])

    def act(self, model, data, frame: int, dt: float) -> np.ndarray:
        if self.rng.random() < dt / 2.0:
            self.focus = int(self.rng.integers(len(self.objects)))
        pos = data.body("puck").xpos[:2]
        pull = data.body(self.objects[self.focus]).xpos[:2] - pos
        noise = OU_SIGMA * np.sqrt(dt) * self.rng.standard_normal(2)
        self.vel = self.vel + (-OU_THETA * self.vel + 3.0 * pull) * dt + noise
        self.vel *= min(1.0, 0.4 / max(float(np.linalg.norm(self.vel)), 1e-9))
        data.ctrl[:] = self.vel
        return self.vel.copy()

    def record(self, model, data) -> dict[str, np.ndarray]:
        return {"tip_pos": data.body("puck").xpos.copy()}


def pusher(rng: np.random.Generator) -> Scene:
    """A second robot: a puck on the table under 2-D velocity control pushes the objects around."""
    objects_xml, names, labels = _table_objects(rng, int(rng.integers(2, 5)))
    lo, hi = PUCK_RANGE
    puck = f"""
    <geom name="table" type="box" pos="0 0 {TABLE_Z / 2}" size="0.7 0.5 {TABLE_Z / 2}" material="wall"/>
    <body name="puck" pos="0 0 {TABLE_Z + 0.045}">
      <joint name="px" type="slide" axis="1 0 0" damping="1" range="{lo[0]} {hi[0]}" limited="true"/>
      <joint name="py" type="slide" axis="0 1 0" damping="1" range="{lo[1]} {hi[1]}" limited="true"/>
      <geom name="puck" type="cylinder" size="0.04 0.04" mass="0.5" rgba="0.15 0.15 0.15 1"/>
    </body>"""
    actuators = """
  <actuator>
    <velocity name="vx" joint="px" kv="20"/>
    <velocity name="vy" joint="py" kv="20"/>
  </actuator>"""
    world = mjcf.light(rng) + mjcf.floor() + mjcf.walls() + puck + objects_xml
    view = View(
        lookat=(0.0, 0.05, TABLE_Z),
        distance=float(rng.uniform(1.5, 1.7)),
        azimuth=90.0 + float(rng.uniform(-8, 8)),
        elevation=float(rng.uniform(-60, -45)),
    )
    return Scene(
        scenario="pusher",
        xml=mjcf.document(rng, world, model="pusher", actuators=actuators),
        objects=names,
        view=view,
        caption="A puck under velocity control pushes the objects on a table around.",
        params={"objects": labels, "action_space": "puck velocity [vx, vy] m/s"},
        init_qpos={"px": [PUCK_START[0]], "py": [PUCK_START[1]]},
        controller=PuckExplorer(names, [int(rng.integers(2**31))]),
        agent="puck",
    )


def counterfactual(k: int):
    """`make_episode(controller=...)` factory: the scene's own controller kind, k-th random stream."""

    def make(scene: Scene):
        if not hasattr(scene.controller, "variant"):
            raise ValueError(f"scenario '{scene.scenario}' has no exploratory controller for counterfactuals")
        return scene.controller.variant(k)

    return make


EXPLORATION = ["push", "push_noisy", "explore_ou", "explore_waypoints"]  # the arm's training mix
EXPLORATION_LARGE = [f"{name}_large" for name in EXPLORATION]  # the same mix, the arm seen large
