"""`make_episode`: simulate one scenario and render it from one or more synchronised cameras.

Everything an episode knows is returned in memory (`Episode`): frames per camera, metric depth,
instance masks, per-frame object states, per-camera-per-frame K and world-to-camera extrinsics,
actions and ego trajectory where the scenario has them, and the caption. All cameras render the
same physics state before the simulation advances, so multi-camera frames are synchronised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from worldsmith import __version__
from worldsmith.sim import camera as cam
from worldsmith.sim import mjcf
from worldsmith.sim.catalogue import build_scene
from worldsmith.sim.errors import SimError
from worldsmith.sim.physics import Simulation
from worldsmith.sim.render import Renderer, RenderQuality, import_mujoco
from worldsmith.sim.scenes import Controller, Scene

FORMAT_VERSION = 1


@dataclass
class Episode:
    """One rendered episode. Arrays are numpy; V cameras, T frames, N objects."""

    frames: np.ndarray  # [V, T, H, W, 3] uint8
    depth: np.ndarray | None  # [V, T, H, W] float32, metres along the optical axis
    masks: np.ndarray | None  # [V, T, H, W] uint8 instance ids (0 background)
    states: dict[str, np.ndarray]  # per-frame arrays, leading dim T (K, world_to_cam: [V, T, ...])
    meta: dict[str, Any]

    @property
    def cameras(self) -> list[str]:
        return self.meta["cameras"]

    @property
    def caption(self) -> str:
        return self.meta["caption"]


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if not (8 <= h <= 4096 and 8 <= w <= 4096):
        raise SimError(f"size must be within 8..4096 px, got {size}")
    return int(h), int(w)


def make_episode(
    scenario: str,
    seed: int,
    *,
    frames: int = 33,
    size: int | tuple[int, int] = 128,
    fps: float = 10.0,
    cameras: int = 1,
    camera_mode: str = "static",
    camera_speed: float = 1.0,
    masks: bool = True,
    depth: bool = True,
    quality: RenderQuality | None = None,
    controller: Callable[[Scene], Controller] | None = None,
    perturb: float = 0.0,
    plain: bool = False,
) -> Episode:
    """Simulate `scenario` with `seed` for `frames` frames at `fps` and render every camera.

    Args:
        scenario: a name from `worldsmith.sim.SCENARIOS`.
        seed: draws the scene (sizes, colours, masses, velocities, lighting) and the camera motion.
        size: output size, an int (square) or (height, width).
        cameras: number of synchronised cameras: a ring around the scene, or the first `cameras`
            of the rig for scenarios with one (drive: front, back, left, right, ...).
        camera_mode: free-camera motion, one of `camera.CAMERA_MODES` (not for rig scenarios).
        camera_speed: scales the free camera's move (1 = the default range; `camera.path`).
        masks, depth: also render instance masks / metric depth.
        controller: replaces the scene's controller, e.g. `explore.counterfactual(k)`: the same
            start state under another action sequence.
        perturb: displace the start state by N(0, perturb) per degree of freedom (metres/radians):
            a second take of the same episode, for the physical variance of `eval.physics_iq`.
        plain: flat floor and walls (`mjcf.plain_textures`: no checker, no dots); the same scene
            otherwise. The default look keeps the texture that feature matching needs.
    """
    if frames < 1:
        raise SimError(f"frames must be >= 1, got {frames}")
    if cameras < 1:
        raise SimError(f"cameras must be >= 1, got {cameras}")
    mujoco = import_mujoco()
    height, width = _size(size)
    scene = build_scene(scenario, seed)
    if controller is not None:
        scene = replace(scene, controller=controller(scene))
    if plain:
        scene = replace(scene, xml=mjcf.plain_textures(scene.xml))
    sim = Simulation(scene, fps, perturb=perturb, rng=np.random.default_rng([seed, 11]))
    views = _camera_views(scene, sim, mujoco, cameras, camera_mode, frames, seed, camera_speed)
    V = len(views)
    rgb = np.empty((V, frames, height, width, 3), np.uint8)
    dep = np.empty((V, frames, height, width), np.float32) if depth else None
    msk = np.empty((V, frames, height, width), np.uint8) if masks else None
    Ks = np.empty((V, frames, 3, 3))
    extr = np.empty((V, frames, 4, 4))
    geom_instance = np.concatenate([[0], sim.geom_instances()])  # index by geom id + 1 (-1 = none)
    per_frame: list[dict[str, np.ndarray]] = []
    actions = []
    with Renderer(sim.model, height, width, quality=quality) as renderer:
        for t in range(frames):
            per_frame.append(sim.state())
            follow = _follow_offset(scene, sim)
            for v, view in enumerate(views):
                camera = view[t]
                if isinstance(camera, cam.View):  # free camera, shifted with the followed body
                    camera = replace(camera, lookat=tuple(np.add(camera.lookat, follow))).mjv_camera(mujoco)
                renderer.update(sim.data, camera)
                rgb[v, t], z = renderer.render()
                if dep is not None:
                    dep[v, t] = z
                if msk is not None:
                    msk[v, t] = geom_instance[renderer.segment() + 1]
                gl = mujoco.mjv_averageCamera(renderer.scene.camera[0], renderer.scene.camera[1])
                Ks[v, t] = cam.intrinsics(gl, height, width)
                extr[v, t] = cam.world_to_camera(gl)
            action = sim.act()
            if action is not None:
                actions.append(action)
            if t < frames - 1:
                sim.advance()
    states = {key: np.stack([s[key] for s in per_frame]) for key in per_frame[0]}
    states["K"], states["world_to_cam"] = Ks, extr
    if actions:
        states["actions"] = np.stack(actions)  # [T, A]: action applied from frame t to t + 1
    use_rig = bool(scene.rig) and camera_mode in ("static", "rig")
    names = scene.rig[:cameras] if use_rig else [f"cam{k}" for k in range(V)]
    meta = {
        "format_version": FORMAT_VERSION,
        "worldsmith": __version__,
        "scenario": scenario,
        "seed": int(seed),
        "fps": float(fps),
        "num_frames": int(frames),
        "height": height,
        "width": width,
        "cameras": list(names),
        "camera_mode": "rig" if use_rig else camera_mode,
        "camera_speed": float(camera_speed),
        "caption": scene.caption if use_rig else f"{scene.caption} {cam.CAMERA_PHRASES[camera_mode]}",
        "instruction": scene.instruction,
        "params": scene.params,
        "objects": list(scene.objects),
        "instances": {str(k): v for k, v in sim.instance_names.items()},
        "timestep": float(sim.model.opt.timestep),
        "substeps": sim.substeps,
        "conventions": "world z up, metres; world_to_cam OpenCV axes (x right, y down, z forward); "
        "pixel centres at integers; quaternions w,x,y,z; velocities at body origins in world axes",
    }
    return Episode(frames=rgb, depth=dep, masks=msk, states=states, meta=meta)


def _follow_offset(scene, sim) -> np.ndarray:
    """How far the followed body (the ego car) has moved since frame 0: free cameras move with it."""
    if not scene.follow:
        return np.zeros(3)
    return sim.data.body(scene.follow).xpos - sim.initial_xpos(scene.follow)


def _camera_views(scene, sim, mujoco, cameras, mode, frames, seed, speed=1.0) -> list[list[Any]]:
    """Per camera, per frame, the `MjvCamera` (rig) or `camera.View` (free camera) to render with.

    Rig scenarios render from the rig in modes 'static' / 'rig', and from free cameras that follow
    the ego car in the moving modes."""
    if mode == "rig" and not scene.rig:
        raise SimError(
            f"scenario '{scene.scenario}' has no camera rig; use one of {', '.join(cam.CAMERA_MODES)}"
        )
    if scene.rig and mode in ("static", "rig"):
        if cameras > len(scene.rig):
            raise SimError(
                f"scenario '{scene.scenario}' has a rig of {len(scene.rig)} cameras "
                f"({', '.join(scene.rig)}); --cameras must be <= {len(scene.rig)}"
            )
        out = []
        for name in scene.rig[:cameras]:
            c = mujoco.MjvCamera()
            c.type = mujoco.mjtCamera.mjCAMERA_FIXED
            c.fixedcamid = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            out.append([c] * frames)
        return out
    # Every camera of the ring makes the same move (one generator seed), so the views stay a rigid rig.
    paths = [
        cam.path(base, mode, frames, np.random.default_rng([seed, 7]), speed=speed)
        for base in cam.ring(scene.view, cameras)
    ]
    return paths
