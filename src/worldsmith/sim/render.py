"""Offscreen MuJoCo rendering of RGB, metric depth and instance masks, one call per frame.

The OpenGL backend is chosen before `mujoco` is imported: `MUJOCO_GL` when the user set it, else
EGL (Mesa's software EGL works on CPU-only machines), else OSMesa; the choice is written back to
the environment so that worker processes inherit it. We drive MuJoCo's low-level `mjr_*` API
instead of `mujoco.Renderer` so that one render pass gives both RGB and depth, and so that the
`mjvGLCamera` actually used for a frame is available for exact intrinsics and extrinsics
(`worldsmith.sim.camera`).

Speed on llvmpipe is dominated by the shadow map and multisampling, not by pixels: the defaults
(4096 px shadow map, 4x MSAA, reflections) render ~20 frames/s; a 1024 px shadow map without MSAA
renders >100 frames/s at 128 px on one core (see `benchmarks/sim.py`).
"""

from __future__ import annotations

import ctypes.util
import os
from dataclasses import dataclass

import numpy as np

from worldsmith.sim.errors import SimError

_INSTALL_HINT = (
    "install Mesa's EGL (apt install libegl1 libgl1-mesa-dri) or OSMesa (apt install libosmesa6) "
    "and set MUJOCO_GL=egl or MUJOCO_GL=osmesa"
)


def gl_backend() -> str:
    """Pick the OpenGL backend (once per process) and export it as `MUJOCO_GL`."""
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if not chosen:
        if ctypes.util.find_library("EGL"):
            chosen = "egl"
        elif ctypes.util.find_library("OSMesa"):
            chosen = "osmesa"
        else:
            raise SimError(f"no offscreen OpenGL library found for MuJoCo rendering: {_INSTALL_HINT}")
        os.environ["MUJOCO_GL"] = chosen
    if chosen in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", chosen)
    return chosen


def import_mujoco():
    """Import `mujoco` after choosing the GL backend."""
    gl_backend()
    try:
        import mujoco
    except ImportError as err:
        raise SimError(f"MuJoCo is not installed ({err}): pip install mujoco") from None
    return mujoco


_CONTEXT = None  # one OpenGL context per process, made current once and reused by every Renderer


def _gl_context(width: int, height: int):
    """The process's OpenGL context. Reusing it saves ~0.4 s per Renderer: Mesa compiles its
    shaders once per context. Renderers render into their own offscreen framebuffers, so the
    context's own surface size does not limit them."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = _new_gl_context(width, height)
    _CONTEXT.make_current()
    return _CONTEXT


def _new_gl_context(width: int, height: int):
    backend = gl_backend()
    try:
        if backend == "egl":
            from mujoco.egl import GLContext
        elif backend == "osmesa":
            from mujoco.osmesa import GLContext
        else:
            from mujoco.glfw import GLContext
        context = GLContext(width, height)
        context.make_current()
    except Exception as err:  # PyOpenGL/EGL raise many unrelated types
        raise SimError(
            f"MuJoCo cannot open an offscreen OpenGL context with MUJOCO_GL={backend} "
            f"({type(err).__name__}: {err}); {_INSTALL_HINT}"
        ) from None
    return context


MAX_NEAR_M = 0.2  # metres: never hides the road below a car camera; the table-top scenes (0.16 m) keep theirs


@dataclass(frozen=True, kw_only=True)
class RenderQuality:
    """Render settings that trade looks for speed on software OpenGL."""

    shadow_size: int = 1024  # shadow-map texture size; 0 turns shadows off
    multisamples: int = 0  # MSAA samples of the offscreen buffer
    max_geoms: int = 2000

    def __post_init__(self) -> None:
        if self.shadow_size < 0 or self.multisamples < 0 or self.max_geoms < 1:
            raise SimError(f"render quality values must be >= 0, got {self}")


class Renderer:
    """Renders views of one model: `render(data, camera) -> (rgb, depth)` and `segment(...)`.

    rgb is uint8 [H, W, 3], depth float32 [H, W] in metres along the optical axis, segment int32
    [H, W] with the geom id per pixel (-1 where no geom). Rows run top to bottom.
    """

    def __init__(self, model, height: int, width: int, *, quality: RenderQuality | None = None):
        mujoco = import_mujoco()
        quality = quality or RenderQuality()
        if not (8 <= height <= 4096 and 8 <= width <= 4096):
            raise SimError(f"render size must be within 8..4096 px, got {height}x{width}")
        self._mj = mujoco
        self.model = model
        self.height, self.width = height, width
        model.vis.global_.offwidth = max(width, int(model.vis.global_.offwidth))
        model.vis.global_.offheight = max(height, int(model.vis.global_.offheight))
        model.vis.quality.shadowsize = max(quality.shadow_size, 1)
        model.vis.quality.offsamples = quality.multisamples
        self._gl = _gl_context(model.vis.global_.offwidth, model.vis.global_.offheight)
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR  # reversed Z: 1 at near, 0 at far
        self.scene = mujoco.MjvScene(model, quality.max_geoms)
        self.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = quality.shadow_size > 0
        self.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._option = mujoco.MjvOption()
        self._perturb = mujoco.MjvPerturb()
        self._rect = mujoco.MjrRect(0, 0, width, height)
        extent = model.stat.extent
        if model.vis.map.znear * extent > MAX_NEAR_M:  # MuJoCo's near plane scales with the scene
            model.vis.map.znear = MAX_NEAR_M / extent  # a 460 m road clipped the first ~5 m of it
        self._near = float(model.vis.map.znear * extent)
        self._far = float(model.vis.map.zfar * extent)

    def update(self, data, camera) -> None:
        """Build the scene of `data` seen from `camera` (an `MjvCamera`)."""
        self._gl.make_current()
        mj = self._mj
        mj.mjv_updateScene(
            self.model, data, self._option, self._perturb, camera, mj.mjtCatBit.mjCAT_ALL, self.scene
        )

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """RGB and metric depth of the current scene, in one render pass."""
        rgb = np.empty((self.height, self.width, 3), np.uint8)
        z = np.empty((self.height, self.width), np.float32)
        self._mj.mjr_render(self._rect, self.scene, self._context)
        self._mj.mjr_readPixels(rgb, z, self._rect, self._context)
        return rgb[::-1].copy(), self._metric_depth(z[::-1])

    def _metric_depth(self, z: np.ndarray) -> np.ndarray:
        """MuJoCo's reversed-Z depth buffer -> distance along the optical axis, in metres.

        With reversed Z, window depth z = n (f - d) / (d (f - n)) for distance d; solve for d.
        """
        n, f = self._near, self._far
        z64 = z.astype(np.float64)
        d = n * f / (z64 * (f - n) + n)
        return d.astype(np.float32)

    def segment(self) -> np.ndarray:
        """Geom id per pixel of the current scene (-1 for background)."""
        mj, scene = self._mj, self.scene
        flags = scene.flags
        old = (flags[mj.mjtRndFlag.mjRND_SEGMENT], flags[mj.mjtRndFlag.mjRND_IDCOLOR])
        flags[mj.mjtRndFlag.mjRND_SEGMENT] = True
        flags[mj.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            rgb = np.empty((self.height, self.width, 3), np.uint8)
            mj.mjr_render(self._rect, scene, self._context)
            mj.mjr_readPixels(rgb, None, self._rect, self._context)
        finally:
            flags[mj.mjtRndFlag.mjRND_SEGMENT], flags[mj.mjtRndFlag.mjRND_IDCOLOR] = old
        rgb = rgb[::-1].astype(np.int64)
        segid = rgb[..., 0] + rgb[..., 1] * 256 + rgb[..., 2] * 65536  # 0 = background, else segid + 1
        lut = np.full(scene.ngeom + 1, -1, np.int32)
        for i in range(scene.ngeom):
            g = scene.geoms[i]
            if g.segid >= 0 and g.objtype == mj.mjtObj.mjOBJ_GEOM:
                lut[g.segid + 1] = g.objid
        return lut[np.clip(segid, 0, scene.ngeom)]

    def close(self) -> None:
        if self._context is not None:
            self._gl.make_current()
            self._context.free()
            self._context = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
