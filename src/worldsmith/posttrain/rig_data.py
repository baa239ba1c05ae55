"""Camera rigs for the multi-view model: drive-twin episodes -> rig clips with their ego trajectory,
start rigs and trajectory files for ``worldsmith generate multiview``, and their checks.

A rig episode is a folder written by ``worldsmith sim run drive --cameras 6``: ``cam<k>.mp4`` per
camera (``meta.json["cameras"][k]`` names it), ``states.npz`` with the ego pose per frame
(``ego_pos [F, 3]`` world metres, ``ego_yaw [F]`` radians). A **trajectory** is the ego's future
positions in the ego frame of a clip's first frame (x forward, y left, z up; metres), one point
every ``dt`` seconds starting at ``dt`` (Cosmos: 64 points at 0.1 s). Trajectory files are JSON:
``{"dt": 0.1, "points": [[x, y, z], ...]}``.

A start rig (``--rig``) is an episode folder (its first frame per camera) or a folder of
``<camera>.png`` / ``<camera>.mp4`` files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from worldsmith import fs
from worldsmith.data.episodes import episode_folders
from worldsmith.posttrain.multiview import RigError, check_trajectory
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop

RENDER_HINT = "render rigs with `worldsmith sim run drive --cameras 6 --out DIR`"


@dataclass
class RigClips:
    """``N`` clips of ``F`` frames from ``V`` synchronised cameras, with the ego trajectory."""

    frames: torch.Tensor  # [N, V, F, H, W, 3] uint8
    trajectory: torch.Tensor  # [N, P, 3] float32, ego frame of the clip's first frame
    cameras: tuple[str, ...]
    sources: list[tuple[str, int]] = field(default_factory=list)  # (episode folder, first frame)

    def __len__(self) -> int:
        return len(self.frames)


def ego_trajectory(
    ego_pos: np.ndarray, ego_yaw: np.ndarray, fps: float, start: int, points: int, dt: float
) -> np.ndarray | None:
    """``[points, 3]`` ego positions at ``start/fps + dt, + 2 dt, ...`` in the ego frame at `start`
    (linear interpolation between frames); None when the episode ends before the last point."""
    times = np.arange(len(ego_pos)) / fps
    t = start / fps + dt * np.arange(1, points + 1)
    if t[-1] > times[-1] + 1e-6:
        return None
    world = np.stack([np.interp(t, times, ego_pos[:, i]) for i in range(3)], -1)  # [P, 3]
    c, s = np.cos(ego_yaw[start]), np.sin(ego_yaw[start])
    R = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # world -> ego axes (yaw about z)
    return (world - ego_pos[start]) @ R.T


def _camera_videos(
    folder: Path, cameras: tuple[str, ...] | None
) -> tuple[tuple[str, ...], list[np.ndarray], dict]:
    """The rig's cameras (all of the episode's, or `cameras` in that order) and their frames, checked
    to be present and synchronised (same frame count and rate)."""
    meta = json.loads((folder / "meta.json").read_text())
    have = list(meta.get("cameras", []))
    want = tuple(have) if cameras is None else tuple(cameras)
    missing = [c for c in want if c not in have]
    if missing:
        raise RigError(
            f"'{folder}': the rig has no camera {', '.join(map(repr, missing))} (it has {', '.join(have)}); "
            f"{RENDER_HINT}"
        )
    videos = []
    for name in want:
        path = folder / f"cam{have.index(name)}.mp4"
        if not path.is_file():
            raise RigError(f"'{folder}': camera '{name}' has no video {path.name}; {RENDER_HINT}")
        videos.append(io.read(path))
    counts = {name: len(v.frames) for name, v in zip(want, videos, strict=True)}
    rates = {name: v.fps for name, v in zip(want, videos, strict=True)}
    if len(set(counts.values())) > 1 or max(rates.values()) - min(rates.values()) > 1e-3:
        raise RigError(
            f"'{folder}': the cameras are not synchronised (frames {counts}, fps {rates}); give every "
            "camera the same frames at the same rate (re-render or trim the rig)"
        )
    return want, [v.frames.numpy() for v in videos], meta


def read_rig_clips(
    root: str | Path,
    *,
    frames: int,
    size: tuple[int, int],
    points: int,
    dt: float = 0.1,
    cameras: tuple[str, ...] | None = None,
    stride: int | None = None,
) -> RigClips:
    """Every `frames`-frame window (every `stride` frames) of every rig episode under `root` whose
    ego trajectory covers `points` points every `dt` s after the window's first frame."""
    stride = stride or max(1, frames - 1)
    clips, trajs, sources, names = [], [], [], cameras
    for folder in episode_folders(root):
        names, videos, meta = _camera_videos(folder, names)
        with np.load(folder / "states.npz", allow_pickle=False) as z:
            if "ego_pos" not in z.files or "ego_yaw" not in z.files:
                raise RigError(
                    f"'{folder}/states.npz' has no ego trajectory (ego_pos, ego_yaw); {RENDER_HINT}"
                )
            pos, yaw = z["ego_pos"], z["ego_yaw"]
        rig = torch.from_numpy(np.stack(videos))  # [V, T, H, W, 3]
        for start in range(0, rig.shape[1] - frames + 1, stride):
            traj = ego_trajectory(pos, yaw, float(meta["fps"]), start, points, dt)
            if traj is None:
                continue
            clips.append(torch.stack([resize_center_crop(v[start : start + frames], size) for v in rig]))
            trajs.append(torch.from_numpy(traj).float())
            sources.append((str(folder), start))
    if not clips:
        raise RigError(
            f"no rig episode under '{root}' has {frames} frames followed by {points * dt:.1f} s of ego "
            "trajectory; render longer episodes (--frames) or use a model with a shorter horizon"
        )
    return RigClips(torch.stack(clips), torch.stack(trajs), tuple(names), sources)


def read_start_rig(path: str | Path, cameras: tuple[str, ...], size: tuple[int, int]) -> torch.Tensor:
    """The first frame of each of `cameras` from a start rig -> ``[V, 1, H, W, 3]`` uint8 at `size`."""
    path = Path(path)
    if not path.is_dir():
        raise RigError(
            f"--rig '{path}' is not a folder; give an episode folder or one with <camera>.png files"
        )
    if (path / "meta.json").is_file():
        have = json.loads((path / "meta.json").read_text()).get("cameras", [])
        if any(c not in have for c in cameras):
            raise RigError(
                f"--rig '{path}' has {len(have)} cameras ({', '.join(have)}) but the model was trained for "
                f"{len(cameras)} views ({', '.join(cameras)}); give a rig with them or another --ckpt"
            )
        _, videos, _ = _camera_videos(path, cameras)
        firsts = [torch.from_numpy(v[:1]) for v in videos]
    else:
        found = {p.stem: p for p in sorted(path.iterdir()) if p.suffix in (".png", ".jpg", ".mp4")}
        missing = [c for c in cameras if c not in found]
        if missing:
            raise RigError(
                f"--rig '{path}' has no image for camera {', '.join(map(repr, missing))}; the model was "
                f"trained for {len(cameras)} views ({', '.join(cameras)}): give <camera>.png for each"
            )
        firsts = [_first_frame(found[c]) for c in cameras]
        sizes = {c: tuple(f.shape[1:3]) for c, f in zip(cameras, firsts, strict=True)}
        if len(set(sizes.values())) > 1:
            raise RigError(f"--rig '{path}': the cameras' images differ in size {sizes}; give one size")
    return torch.stack([resize_center_crop(f, size) for f in firsts])  # [V, 1, H, W, 3]


def _first_frame(path: Path) -> torch.Tensor:
    if path.suffix == ".mp4":
        return io.read(path, end=1).frames[:1]
    from PIL import Image  # Pillow: image files only

    return torch.from_numpy(np.array(Image.open(path).convert("RGB")))[None]


def write_trajectory(path: str | Path, points: np.ndarray | torch.Tensor, dt: float = 0.1) -> Path:
    """Write a trajectory file (``{"dt", "points"}``) atomically."""
    return fs.write_json(path, {"dt": dt, "points": np.asarray(points, dtype=float).round(4).tolist()})


def read_trajectory(path: str | Path, needed: int, dt: float) -> torch.Tensor:
    """``[needed, 3]`` points of a trajectory file, checked against the model's horizon and spacing."""
    path = Path(path)
    where = f"--trajectory '{path}'"
    try:
        data = json.loads(path.read_text())
        points = torch.tensor(data["points"], dtype=torch.float32)
        file_dt = float(data.get("dt", dt))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RigError(
            f'{where} is not a trajectory file ({err}); write {{"dt": {dt}, "points": [[x, y, z], ...]}}'
        ) from None
    if abs(file_dt - dt) > 1e-6:
        raise RigError(
            f"{where}: points every {file_dt} s, the model takes one every {dt} s; resample the trajectory"
        )
    check_trajectory(points[None] if points.ndim == 2 else points, needed, where, dt)
    return points[:needed]
