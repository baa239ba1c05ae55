"""Camera path files: path.json round trip and errors, COLMAP's text export on a hand-written model
with known values, and the twins' new camera moves (truck, crane, speed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldsmith.posttrain.camera import CameraError
from worldsmith.posttrain.camera_path import (
    quaternion_to_matrix,
    read_camera_path,
    read_colmap,
    write_path_json,
)
from worldsmith.sim.camera import View, path

CAMERAS = """# Camera list with one line of data per camera:
#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]
1 PINHOLE 64 48 50.0 40.0 32.0 24.0
2 SIMPLE_RADIAL 64 48 45.0 31.0 25.0 0.01
"""
S = math.sqrt(0.5)
IMAGES = f"""# Image list with two lines of data per image:
#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME
#   POINTS2D[] as (X, Y, POINT3D_ID)
7 {S} 0 0 {S} 1.0 2.0 3.0 1 frame_001.png
10.0 20.0 -1 30.0 40.0 5
3 1 0 0 0 0.0 0.0 0.5 2 frame_000.png

"""


def test_colmap_text_export_with_known_values(tmp_path):
    (tmp_path / "cameras.txt").write_text(CAMERAS)
    (tmp_path / "images.txt").write_text(IMAGES)
    p = read_colmap(tmp_path)
    assert len(p) == 2 and p.size == (48, 64)
    # Ordered by name: frame_000 (identity rotation, camera 2) first.
    assert torch.allclose(p.w2c[0], torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0.5], [0, 0, 0, 1]],
                                                  dtype=torch.float64))  # fmt: skip
    # 90 degrees about z: x -> y, y -> -x.
    R = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64)
    assert torch.allclose(p.w2c[1, :3, :3], R, atol=1e-7)
    assert torch.allclose(p.w2c[1, :3, 3], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    # COLMAP's pixel centres are at +0.5: cx, cy move by -0.5; SIMPLE_* share one focal length.
    assert p.K[1].tolist() == [[50.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]]
    assert p.K[0].tolist() == [[45.0, 0, 30.5], [0, 45.0, 24.5], [0, 0, 1]]
    assert torch.equal(read_camera_path(tmp_path / "images.txt").w2c, p.w2c)


def test_quaternion_matches_the_rotation_about_an_axis():
    """q = (cos a/2, sin a/2 n) rotates by a about n (Rodrigues' formula)."""
    n, a = np.array([1.0, 2.0, -2.0]) / 3, 0.7
    q = np.concatenate([[math.cos(a / 2)], math.sin(a / 2) * n])
    N = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    expect = np.eye(3) + math.sin(a) * N + (1 - math.cos(a)) * N @ N
    assert np.allclose(quaternion_to_matrix(q), expect, atol=1e-12)


def test_colmap_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(CameraError, match="cameras.txt' is missing; export the COLMAP model as text"):
        read_colmap(tmp_path)
    (tmp_path / "cameras.txt").write_text("1 FISHEYE 64 48 1 2 3\n")
    (tmp_path / "images.txt").write_text(IMAGES)
    with pytest.raises(CameraError, match="unsupported model"):
        read_colmap(tmp_path)
    (tmp_path / "cameras.txt").write_text(CAMERAS.replace("2 SIMPLE_RADIAL", "9 SIMPLE_RADIAL"))
    with pytest.raises(CameraError, match="uses camera 2, not in cameras.txt"):
        read_colmap(tmp_path)


def test_path_json_round_trip_and_errors(tmp_path):
    K = np.array([[50.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]])
    E = np.stack([np.eye(4)] * 3)
    E[:, 0, 3] = [0.0, 0.1, 0.2]
    p = read_camera_path(write_path_json(tmp_path / "path.json", K, E, (48, 64)))
    assert (
        p.size == (48, 64)
        and torch.equal(p.w2c, torch.from_numpy(E))
        and torch.equal(p.K[2], torch.from_numpy(K))
    )
    (tmp_path / "bad.json").write_text('{"frames": [{"world_to_camera": [[1, 0], [0, 1]], "K": [[1]]}]}')
    with pytest.raises(CameraError, match="bad.json'.*frame 0 world_to_camera must be a 4x4 matrix"):
        read_camera_path(tmp_path / "bad.json")
    (tmp_path / "nok.json").write_text('{"frames": [{"world_to_camera": ' + str(np.eye(4).tolist()) + "}]}")
    with pytest.raises(CameraError, match="frame 0 has no intrinsics"):
        read_camera_path(tmp_path / "nok.json")
    with pytest.raises(CameraError, match="does not exist"):
        read_camera_path(tmp_path / "missing.json")


BASE = View((0.0, 0.0, 0.5), 3.0, 30.0, -20.0)


def _w2c(view: View) -> np.ndarray:
    f = view.forward()
    right = np.cross(f, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    return np.stack([right, -np.cross(right, f), f])  # camera rows x, y (down), z


@pytest.mark.parametrize(("mode", "axis"), [("truck", 0), ("crane", 1)])
def test_truck_and_crane_translate_along_the_camera_axes_keeping_its_orientation(mode, axis):
    views = path(BASE, mode, 5, np.random.default_rng(0))
    R0 = _w2c(views[0])
    moves = [R0 @ (v.position() - views[0].position()) for v in views]  # camera-frame displacements
    for v, m in zip(views, moves, strict=True):
        assert np.allclose(_w2c(v), R0)  # orientation kept
        other = [i for i in range(3) if i != axis]
        assert np.allclose(m[other], 0, atol=1e-9)  # only along camera x (truck) or y (crane)
    assert 0.25 * 3.0 <= abs(moves[-1][axis]) <= 0.45 * 3.0
    fast = path(BASE, mode, 5, np.random.default_rng(0), speed=2.0)
    assert np.allclose(fast[-1].position() - BASE.position(), 2 * (views[-1].position() - BASE.position()))
