"""Physics is right: closed-form laws of motion against the simulated states (no rendering)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worldsmith.sim import build_scene
from worldsmith.sim.physics import Simulation

G = 9.81


def _touching(sim: Simulation, body: int) -> bool:
    m, d = sim.model, sim.data
    return any(body in (m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]) for c in d.contact[: d.ncon])


@pytest.mark.parametrize("seed", [0, 1])
def test_free_fall_matches_z0_minus_half_g_t_squared(seed):
    sim = Simulation(build_scene("free_fall", seed), fps=50)
    z0 = sim.state()["obj_pos"][:, 2].copy()
    falling = np.ones(len(z0), bool)
    checked = 0
    for frame in range(1, 40):
        sim.advance()
        t = frame / 50
        z = sim.state()["obj_pos"][:, 2]
        for i, body in enumerate(sim.body_ids):
            falling[i] &= not _touching(sim, body)
            if not falling[i]:
                continue
            expected = z0[i] - G * t**2 / 2
            assert abs(z[i] - expected) <= 0.01 * abs(expected), (i, t, z[i], expected)
            if t >= 0.25:  # the fall itself (not only the height) within 1%
                assert abs((z0[i] - z[i]) - G * t**2 / 2) <= 0.01 * G * t**2 / 2
            checked += 1
    assert checked > 20 and not falling.all()  # objects fell, and some landed


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_ball_collision_conserves_momentum(seed):
    """Horizontal momentum just before the impact equals that just after it, within 2% of the
    momentum scale m0 |v0| + m1 |v1|. The impact is where the balls' velocities jump (> 0.2 m/s in
    one physics step); floor friction alone changes them by < 0.05 m/s per step."""
    scene = build_scene("collision", seed)
    sim = Simulation(scene, fps=10)
    masses = sim.model.body_mass[sim.body_ids]
    vel = []
    for _ in range(1000):
        vel.append(np.stack([sim.data.qvel[0:2], sim.data.qvel[6:8]]))  # free joints: linear velocity first
        sim._mj.mj_step(sim.model, sim.data)
    v = np.array(vel)  # [S, 2, 2]
    jumps = np.nonzero(np.abs(np.diff(v, axis=0)).max(axis=(1, 2)) > 0.2)[0]
    assert len(jumps), "the balls never collided"
    first, last = jumps[0], jumps[jumps < jumps[0] + 10].max() + 1
    p_before, p_after = (masses[:, None] * v[first]).sum(0), (masses[:, None] * v[last]).sum(0)
    scale = (masses * np.linalg.norm(v[first], axis=1)).sum()
    assert np.linalg.norm(p_after - p_before) <= 0.02 * scale, (p_before, p_after, scale)
    assert np.abs(v[last] - v[first]).max() > 0.5  # a real impact, not a graze


@pytest.mark.parametrize("seed", [0, 5])
def test_pendulum_period_is_two_pi_sqrt_l_over_g(seed):
    scene = build_scene("pendulum", seed)
    L = scene.params["length"]
    fps = 200
    sim = Simulation(scene, fps=fps)
    angles = []
    for _ in range(int(4 * 2 * math.pi * math.sqrt(L / G) * fps)):
        angles.append(sim.data.joint("hinge").qpos[0])
        sim.advance()
    a = np.array(angles)
    # upward zero crossings, linearly interpolated
    idx = np.nonzero((a[:-1] < 0) & (a[1:] >= 0))[0]
    crossings = (idx + a[idx] / (a[idx] - a[idx + 1])) / fps
    assert len(crossings) >= 3
    period = np.diff(crossings).mean()
    expected = 2 * math.pi * math.sqrt(L / G)
    assert abs(period - expected) <= 0.02 * expected, (period, expected)


def test_projectile_flies_a_parabola_before_landing():
    scene = build_scene("projectile", 2)
    sim = Simulation(scene, fps=100)
    x0, _, z0 = scene.params["start"]
    vx, _, vz = scene.params["v0"]
    for frame in range(1, 30):
        sim.advance()
        t = frame / 100
        x, _, z = sim.state()["obj_pos"][0]
        assert x == pytest.approx(x0 + vx * t, abs=1e-3)
        assert z == pytest.approx(z0 + vz * t - G * t**2 / 2, abs=0.01 * vz * t)


def test_sliding_boxes_stop_near_v_squared_over_two_mu_g():
    """Coulomb sliding: a box launched at v stops after v^2 / (2 mu g) (MuJoCo's soft contacts
    make this approximate: 10%)."""
    scene = build_scene("slide", 4)
    sim = Simulation(scene, fps=20)
    start = sim.state()["obj_pos"][:, 0].copy()
    for _ in range(80):
        sim.advance()
    travelled = sim.state()["obj_pos"][:, 0] - start
    mu, v = np.array(scene.params["friction"]), np.array(scene.params["v0"])
    np.testing.assert_allclose(travelled, v**2 / (2 * mu * G), rtol=0.1)


def test_dominoes_topple_and_tower_falls():
    sim = Simulation(build_scene("dominoes", 1), fps=10)
    for _ in range(40):
        sim.advance()
    quat = sim.state()["obj_quat"]
    tilt = 2 * np.degrees(np.arccos(np.clip(np.abs(quat[:, 0]), 0, 1)))
    assert (tilt > 45).mean() > 0.7, tilt  # most dominoes lie down

    sim = Simulation(build_scene("tower", 1), fps=10)
    z_top = sim.state()["obj_pos"][-1, 2]
    for _ in range(30):
        sim.advance()
    assert sim.state()["obj_pos"][-1, 2] < 0.5 * z_top
