"""Camera paths users give: our ``path.json`` and COLMAP's text export.

``path.json`` (docs/posttrain.md)::

    {"width": 64, "height": 64,                      # the image size K refers to (pixels)
     "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],     # optional: shared intrinsics
     "frames": [{"world_to_camera": [[...4...], [...], [...], [0, 0, 0, 1]],
                 "K": [[...3...], ...]},             # optional per frame (else the shared K)
                ...]}

Conventions (as `worldsmith.sim.camera`): OpenCV camera axes (x right, y down, z forward),
``x_cam = R x_world + t`` with ``world_to_camera = [R t; 0 1]``, pixel centres at integer coordinates.

COLMAP (``cameras.txt`` + ``images.txt``, https://colmap.github.io/format.html): images.txt holds
``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then a line of 2-D points per image, with
``(qw, qx, qy, qz, t)`` the world-to-camera rotation (Hamilton quaternion) and translation, same
camera axes. Frames are ordered by image NAME. cameras.txt holds ``CAMERA_ID MODEL WIDTH HEIGHT
PARAMS``; the pinhole part of PINHOLE, SIMPLE_PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV and FULL_OPENCV
is read (distortion is ignored). COLMAP puts the centre of the top-left pixel at (0.5, 0.5), so
``cx, cy`` are shifted by -0.5 to our integer-centre convention.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldsmith import fs
from worldsmith.posttrain.camera import CameraError


@dataclass
class CameraPath:
    K: torch.Tensor  # [F, 3, 3] float64
    w2c: torch.Tensor  # [F, 4, 4] float64 world-to-camera
    size: tuple[int, int] | None  # (H, W) the intrinsics refer to, when the file says

    def __len__(self) -> int:
        return len(self.w2c)


def write_path_json(path: str | Path, K: np.ndarray, w2c: np.ndarray, size: tuple[int, int]) -> Path:
    """Write ``K [F, 3, 3]`` (or one ``[3, 3]``) and ``w2c [F, 4, 4]`` as a path.json, atomically."""
    K, w2c = np.asarray(K, np.float64), np.asarray(w2c, np.float64)
    Ks = np.broadcast_to(K, (len(w2c), 3, 3))
    frames = [{"world_to_camera": e.tolist(), "K": k.tolist()} for e, k in zip(w2c, Ks, strict=True)]
    fs.write_json(path, {"height": int(size[0]), "width": int(size[1]), "frames": frames})
    return Path(path)


def _matrix(value, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        m = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape == (3, 4) and shape == (4, 4):
        m = np.vstack([m, [0, 0, 0, 1]])
    if m.shape != shape:
        raise CameraError(f"{where} must be a {shape[0]}x{shape[1]} matrix of numbers, got {np.shape(m)}")
    return m


def read_path_json(path: str | Path) -> CameraPath:
    path = Path(path)
    where = f"--camera '{path}'"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CameraError(
            f"{where} is not readable JSON ({err}); see docs/posttrain.md for path.json"
        ) from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list) or not frames:
        raise CameraError(f"{where} has no 'frames' list; give one {{'world_to_camera': 4x4}} per frame")
    shared = data.get("K")
    Ks, Es = [], []
    for i, f in enumerate(frames):
        if not isinstance(f, dict) or "world_to_camera" not in f:
            raise CameraError(f"{where}: frame {i} has no 'world_to_camera' 4x4 matrix")
        if f.get("K", shared) is None:
            raise CameraError(f"{where}: frame {i} has no intrinsics; give 'K' per frame or at the top level")
        Es.append(_matrix(f["world_to_camera"], (4, 4), f"{where}: frame {i} world_to_camera"))
        Ks.append(_matrix(f.get("K", shared), (3, 3), f"{where}: frame {i} K"))
    size = (int(data["height"]), int(data["width"])) if "height" in data and "width" in data else None
    return CameraPath(torch.from_numpy(np.stack(Ks)), torch.from_numpy(np.stack(Es)), size)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Hamilton unit quaternion ``(w, x, y, z)`` -> rotation matrix [3, 3]."""
    w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


# model -> indices of (fx, fy, cx, cy) in PARAMS (SIMPLE_* share one focal length)
_COLMAP_MODELS = {
    "SIMPLE_PINHOLE": (0, 0, 1, 2),
    "SIMPLE_RADIAL": (0, 0, 1, 2),
    "RADIAL": (0, 0, 1, 2),
    "PINHOLE": (0, 1, 2, 3),
    "OPENCV": (0, 1, 2, 3),
    "FULL_OPENCV": (0, 1, 2, 3),
}


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise CameraError(
            f"'{path}' is missing; export the COLMAP model as text (colmap model_converter "
            "--output_type TXT) and give the folder holding cameras.txt and images.txt"
        )
    return [ln.strip() for ln in path.read_text().splitlines() if not ln.strip().startswith("#")]


def read_colmap(folder: str | Path) -> CameraPath:
    """Cameras of a COLMAP text export, ordered by image name (see the module docstring)."""
    folder = Path(folder)
    cams: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}
    for ln in _lines(folder / "cameras.txt"):
        if not ln:
            continue
        parts = ln.split()
        model = parts[1] if len(parts) > 1 else "?"
        if model not in _COLMAP_MODELS or len(parts) < 4 + max(_COLMAP_MODELS[model]) + 1:
            raise CameraError(
                f"'{folder / 'cameras.txt'}': camera line '{ln[:60]}' has an unsupported model or too few "
                f"values; use one of {', '.join(_COLMAP_MODELS)}"
            )
        p = [float(v) for v in parts[4:]]
        ifx, ify, icx, icy = _COLMAP_MODELS[model]
        K = np.array([[p[ifx], 0, p[icx] - 0.5], [0, p[ify], p[icy] - 0.5], [0, 0, 1.0]])
        cams[int(parts[0])] = (K, (int(parts[3]), int(parts[2])))
    rows = []
    lines = _lines(folder / "images.txt")
    i = 0
    while i < len(lines):
        parts = lines[i].split()
        if not parts:
            i += 1
            continue
        if len(parts) < 10:
            raise CameraError(f"'{folder / 'images.txt'}': line '{lines[i][:60]}' is not an image line")
        q, t, cam_id, name = np.array(parts[1:5], float), np.array(parts[5:8], float), int(parts[8]), parts[9]
        if cam_id not in cams:
            raise CameraError(
                f"'{folder / 'images.txt'}': image {name} uses camera {cam_id}, not in cameras.txt"
            )
        E = np.eye(4)
        E[:3, :3], E[:3, 3] = quaternion_to_matrix(q), t
        rows.append((name, cams[cam_id][0], E, cams[cam_id][1]))
        i += 2  # the next line holds the image's 2-D points (possibly empty)
    if not rows:
        raise CameraError(f"'{folder / 'images.txt'}' lists no images; export a reconstructed model")
    rows.sort(key=lambda r: r[0])
    sizes = {r[3] for r in rows}
    return CameraPath(
        torch.from_numpy(np.stack([r[1] for r in rows])),
        torch.from_numpy(np.stack([r[2] for r in rows])),
        sizes.pop() if len(sizes) == 1 else None,
    )


def read_camera_path(path: str | Path) -> CameraPath:
    """A path.json file, or a COLMAP text export (a folder with cameras.txt + images.txt, or either file)."""
    path = Path(path)
    if path.is_dir():
        return read_colmap(path)
    if path.name in ("cameras.txt", "images.txt"):
        return read_colmap(path.parent)
    if not path.is_file():
        raise CameraError(f"--camera '{path}' does not exist; give a path.json or a COLMAP text folder")
    return read_path_json(path)
