"""Twin episodes with actions -> clips for post-training (actions, camera paths) and its evaluation.

Reads episode folders written by `worldsmith sim run` (`worldsmith.sim.dataset`): the video of one
camera and ``states.npz``'s ``actions [T, A]`` (action t moves frame t to t + 1), plus what the
evaluation needs: instance masks and the end-effector track ``tip_pos [T, 3]`` with the camera.
The action dimension is read from the data (every episode must agree), never assumed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from worldsmith.data.videos import DataError
from worldsmith.sim.dataset import load_episode
from worldsmith.video.transforms import resize_center_crop


@dataclass
class ActionClips:
    """``N`` clips of ``F`` frames, with the ``F - 1`` actions between their frames."""

    frames: torch.Tensor  # [N, F, H, W, 3] uint8
    actions: torch.Tensor  # [N, F - 1, A] float32
    masks: torch.Tensor | None  # [N, F, H, W] uint8 instance ids (when the episodes have them)
    sources: list[tuple[str, int]] = field(default_factory=list)  # (episode folder, first frame)

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[-1])

    def __len__(self) -> int:
        return len(self.frames)


def episode_folders(root: str | Path) -> list[Path]:
    root = Path(root)
    folders = sorted(p.parent for p in root.glob("**/meta.json"))
    if not folders:
        raise DataError(
            f"'{root}' holds no episode folders (episode_*/meta.json); render robot episodes with "
            "`worldsmith sim run robot --out DIR` (or `pusher` for the second robot)"
        )
    return folders


def read_actions(folder: Path) -> np.ndarray:
    """``actions [T, A]`` of one episode, checked (present, 2-D, finite)."""
    with np.load(folder / "states.npz", allow_pickle=False) as z:
        if "actions" not in z.files:
            raise DataError(
                f"'{folder}/states.npz' has no actions (scenario without an agent); post-train on robot "
                "scenarios (push, push_noisy, explore_ou, explore_waypoints, pusher)"
            )
        actions = z["actions"].astype(np.float32)
    if actions.ndim != 2:
        raise DataError(f"'{folder}/states.npz': actions must be [T, A], got shape {actions.shape}")
    if not np.isfinite(actions).all():
        raise DataError(f"'{folder}/states.npz': actions contain NaN or inf; re-render or drop the episode")
    return actions


def read_action_clips(
    root: str | Path,
    *,
    frames: int,
    size: tuple[int, int] | None = None,
    stride: int | None = None,
    camera: int = 0,
    masks: bool = False,
) -> ActionClips:
    """Every ``frames``-frame window (every `stride` frames, default `frames - 1`) of every episode
    under `root`, resized (centre crop) to `size` when given."""

    stride = stride or max(1, frames - 1)
    out_f, out_a, out_m, sources, dims = [], [], [], [], {}
    for folder in episode_folders(root):
        actions = read_actions(folder)
        dims.setdefault(actions.shape[1], folder)
        if len(dims) > 1:
            (a, fa), (b, fb) = list(dims.items())[:2]
            raise DataError(
                f"episodes disagree on the action dimension: '{fa}' has {a}, '{fb}' has {b}; "
                "post-train one robot per run (one --data folder per action space)"
            )
        ep = load_episode(folder)
        video = torch.from_numpy(ep.frames[camera])  # [T, H, W, 3]
        T = min(len(video), len(actions) + 1)
        for start in range(0, T - frames + 1, stride):
            clip = video[start : start + frames]
            out_f.append(resize_center_crop(clip, size) if size is not None else clip)
            out_a.append(torch.from_numpy(actions[start : start + frames - 1]))
            if masks and ep.masks is not None:
                m = torch.from_numpy(ep.masks[camera, start : start + frames])
                out_m.append(_resize_masks(m, size) if size is not None else m)
            sources.append((str(folder), start))
    if not out_f:
        raise DataError(
            f"no episode under '{root}' has {frames} frames; render longer episodes or lower --frames"
        )
    return ActionClips(
        frames=torch.stack(out_f),
        actions=torch.stack(out_a),
        masks=torch.stack(out_m) if len(out_m) == len(out_f) else None,
        sources=sources,
    )


def _resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of instance masks ``[T, H, W]`` (ids must not blend)."""
    if tuple(masks.shape[1:]) == tuple(size):
        return masks
    resized = torch.nn.functional.interpolate(masks[:, None].float(), size=size, mode="nearest")
    return resized[:, 0].to(torch.uint8)


def episode_meta(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "meta.json").read_text())
