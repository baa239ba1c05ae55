"""Renderer setup: backend choice and its errors, depth against the scene, quality settings."""

from __future__ import annotations

import ctypes.util

import numpy as np
import pytest

from worldsmith.sim import SimError, make_episode
from worldsmith.sim import render as render_mod


def test_backend_prefers_egl_then_osmesa_and_names_what_to_install(monkeypatch):
    # a private environment: the process's real MUJOCO_GL / PYOPENGL_PLATFORM stay untouched
    monkeypatch.setattr(render_mod.os, "environ", {})
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SimError, match="apt install libosmesa6"):
        render_mod.gl_backend()
    monkeypatch.setattr(
        ctypes.util, "find_library", lambda name: "libOSMesa.so" if name == "OSMesa" else None
    )
    assert render_mod.gl_backend() == "osmesa"
    assert render_mod.os.environ["PYOPENGL_PLATFORM"] == "osmesa"  # exported for worker processes
    monkeypatch.setattr(render_mod.os, "environ", {})
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so")
    assert render_mod.gl_backend() == "egl"
    monkeypatch.setattr(render_mod.os, "environ", {"MUJOCO_GL": "osmesa"})  # the user's choice wins
    assert render_mod.gl_backend() == "osmesa"


def test_floor_depth_matches_the_ray_plane_intersection():
    """Pixels that see the floor (z = 0) have depth Z with the back-projected point on z = 0."""
    ep = make_episode("slide", 3, frames=1, size=48, masks=True)
    K, E = ep.states["K"][0, 0], ep.states["world_to_cam"][0, 0]
    R, t = E[:3, :3], E[:3, 3]
    v, u = np.mgrid[30:48:3, 0:48:6]
    z = ep.depth[0, 0][v, u]
    rays = np.linalg.inv(K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])  # [3, P], Z = 1
    world = R.T @ (rays * z.ravel() - t[:, None])  # [3, P]
    floor = ep.masks[0, 0][v, u].ravel() == 0
    assert floor.sum() > 10
    np.testing.assert_allclose(world[2, floor], 0.0, atol=0.01 * z.max())


def test_render_quality_is_validated():
    with pytest.raises(SimError, match="render quality"):
        render_mod.RenderQuality(shadow_size=-1)
