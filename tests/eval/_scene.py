"""A tiny renderer for geometry tests: two textured planes (real photos) seen by a pinhole camera."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")

W, H = 320, 240
K = np.array([[260.0, 0, W / 2], [0, 260.0, H / 2], [0, 0, 1]])


def rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def render_corner(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Two textured planes (back wall z=5, floor y=1.2) seen by camera x_cam = R X + t (OpenCV axes)."""
    wall_tex = skimage_data.astronaut()
    floor_tex = skimage_data.coffee()
    img = np.zeros((H, W, 3), np.uint8)
    planes = [
        (wall_tex, np.array([-3.0, -2.5, 5.0]), np.array([6.0, 0, 0]), np.array([0, 6.0, 0])),
        (floor_tex, np.array([-3.0, 1.2, 1.0]), np.array([6.0, 0, 0]), np.array([0, 0, 4.0])),
    ]
    for tex, origin, a, b in planes:
        th, tw = tex.shape[:2]
        # texture pixel (u, v) -> world origin + a u / tw + b v / th -> image: H = K [R a/tw, R b/th, R O + t]
        Hm = K @ np.column_stack([R @ a / tw, R @ b / th, R @ origin + t])
        warped = cv2.warpPerspective(tex, Hm, (W, H), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.ones((th, tw), np.uint8), Hm, (W, H), flags=cv2.INTER_NEAREST)
        img[mask > 0] = warped[mask > 0]
    return img


def wobble(img: np.ndarray, seed: int, amp: float = 2.5) -> np.ndarray:
    """A smooth random non-rigid warp (what a generator's geometric drift looks like)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, amp, (2, 4, 5)).astype(np.float32)
    dx, dy = (cv2.resize(c, (W, H), interpolation=cv2.INTER_CUBIC) for c in coarse)
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    return cv2.remap(img, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
