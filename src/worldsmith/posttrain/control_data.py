"""Training clips for control post-training: twins in many appearances, and real videos.

* Twins (`twin_control_clips`): every window of every rendered episode (``worldsmith sim run ...``,
  with depth and masks) becomes `appearances` clips. Each repaints the render (`randomise_appearance`:
  a new colour per object and for the background, a global light level and tint), so one depth map and
  one segmentation map stand for many appearances, as Cosmos-Transfer's sim-to-real data does. Depth
  and segmentation come from the twin exactly; edges and blur from each repainted clip.
* Real videos (`video_control_clips`): any video files; only edge and blur controls exist for them.

`ControlClips.controls` holds every control type (`CONTROL_TYPES`); a type a clip lacks is zeros with
``present`` False, and training gives it weight 0 for that clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from worldsmith.data.episodes import episode_folders
from worldsmith.posttrain.controls import CONTROL_TYPES, ControlError, blur, depth_video, edges, seg_video
from worldsmith.sim.dataset import load_episode
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop


@dataclass
class ControlClips:
    frames: torch.Tensor  # [N, F, H, W, 3] uint8
    controls: dict[str, torch.Tensor]  # type -> [N, F, H, W, 3] uint8 (zeros where absent)
    present: torch.Tensor  # [N, len(CONTROL_TYPES)] bool
    masks: torch.Tensor | None = None  # [N, F, H, W] instance ids (twins)
    sources: list[tuple[str, int, int]] = field(default_factory=list)  # (file, first frame, appearance)

    def __len__(self) -> int:
        return len(self.frames)

    def subset(self, idx) -> ControlClips:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return ControlClips(
            self.frames[idx], {k: v[idx] for k, v in self.controls.items()}, self.present[idx],
            None if self.masks is None else self.masks[idx], [self.sources[i] for i in idx.tolist()],
        )  # fmt: skip


def concat(parts: list[ControlClips]) -> ControlClips:
    """One set from several (masks kept only when every part has them)."""
    masks = [p.masks for p in parts]
    return ControlClips(
        torch.cat([p.frames for p in parts]),
        {k: torch.cat([p.controls[k] for p in parts]) for k in CONTROL_TYPES},
        torch.cat([p.present for p in parts]),
        torch.cat(masks) if all(m is not None for m in masks) else None,
        [s for p in parts for s in p.sources],
    )


def randomise_appearance(
    frames: torch.Tensor, masks: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Repaint a rendered clip ``[T, H, W, 3]`` uint8 with instance ids ``[T, H, W]``: each segment's
    pixels are multiplied per channel by ``new colour / its mean colour`` (shading and shadows stay),
    then the whole clip by a light level in [0.6, 1.4] and a tint within +-15 % per channel."""
    x = frames.float()  # [T, H, W, 3]
    ids = masks.long()
    n = int(ids.max()) + 1
    counts = torch.bincount(ids.flatten(), minlength=n).clamp_min(1).float()  # [n]
    mean = torch.stack(
        [torch.bincount(ids.flatten(), x[..., c].flatten(), minlength=n) for c in range(3)], -1
    )
    mean = (mean / counts[:, None]).clamp_min(12.0)  # [n, 3]
    target = 30 + 200 * torch.rand(n, 3, generator=generator)  # [n, 3] new colours
    gain = target / mean  # [n, 3]
    light = 0.6 + 0.8 * torch.rand(1, generator=generator)
    tint = 0.85 + 0.3 * torch.rand(3, generator=generator)
    return (x * gain[ids] * light * tint).round().clamp(0, 255).to(torch.uint8)


def nearest_cover(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Per-pixel labels ``[T, H, W]`` (ids, depth) resized like `resize_center_crop` resizes the
    frames (scale to cover, crop the centre), nearest-neighbour so that values never blend."""
    _, h, w = x.shape
    (ch, cw), scale = size, max(size[0] / h, size[1] / w)
    nh, nw = max(ch, math.ceil(h * scale - 1e-6)), max(cw, math.ceil(w * scale - 1e-6))
    y = F.interpolate(x[:, None].float(), size=(nh, nw), mode="nearest")[:, 0].to(x.dtype)
    top, left = (nh - ch) // 2, (nw - cw) // 2
    return y[:, top : top + ch, left : left + cw]


def object_box(masks: torch.Tensor, margin: float = 0.25, min_side: int = 16) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square around every object of `masks` ``[T, H, W]`` (ids > 0,
    over all frames), grown by `margin` of its side, at least `min_side`, kept inside the frame."""
    _, H, W = masks.shape
    ys, xs = torch.nonzero((masks > 0).any(0), as_tuple=True)
    if len(ys) == 0:
        return 0, 0, min(H, W)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    side = min(min(H, W), max(min_side, round(max(y1 - y0, x1 - x0) * (1 + 2 * margin))))
    top = min(max(0, (y0 + y1 - side) // 2), H - side)
    left = min(max(0, (x0 + x1 - side) // 2), W - side)
    return top, left, side


def _clip_controls(frames: torch.Tensor, depth=None, masks=None) -> tuple[dict, list[bool]]:
    zeros = torch.zeros_like(frames)
    got = {"edge": edges(frames), "blur": blur(frames)}
    if depth is not None:
        got["depth"] = depth_video(depth)
    if masks is not None:
        got["seg"] = seg_video(masks)
    return {k: got.get(k, zeros) for k in CONTROL_TYPES}, [k in got for k in CONTROL_TYPES]


def _stack(rows: list, where: str) -> ControlClips:
    if not rows:
        raise ControlError(f"{where}: no clip of the requested length; give longer videos or fewer --frames")
    frames, controls, present, masks, sources = zip(*rows, strict=True)
    return ControlClips(
        torch.stack(frames),
        {k: torch.stack([c[k] for c in controls]) for k in CONTROL_TYPES},
        torch.tensor(present, dtype=torch.bool),
        torch.stack(masks) if all(m is not None for m in masks) else None,
        list(sources),
    )


def twin_control_clips(
    root: str | Path,
    *,
    frames: int,
    size: tuple[int, int],
    appearances: int = 1,
    stride: int | None = None,
    seed: int = 0,
    original: bool = True,
    zoom: bool = False,
) -> ControlClips:
    """Every `frames`-frame window (every `stride`, default `frames - 1`) of camera 0 of the episodes
    under `root`, resized (centre crop) to `size`, in `appearances` repaints (the first is the render
    itself when `original`). `zoom`: first crop each window to the square around its objects
    (`object_box`): the twins' wide views leave objects a few pixels across."""
    g = torch.Generator().manual_seed(seed)
    rows, stride = [], stride or max(1, frames - 1)
    for folder in episode_folders(root):
        ep = load_episode(folder)
        if ep.depth is None or ep.masks is None:
            raise ControlError(
                f"'{folder}' has no depth or masks; render twins with both (worldsmith sim run, the default)"
            )
        for start in range(0, ep.frames.shape[1] - frames + 1, stride):
            window = slice(start, start + frames)
            rgb, ids, z = (torch.from_numpy(a[0, window]) for a in (ep.frames, ep.masks, ep.depth))
            if zoom:
                top, left, side = object_box(ids)
                rgb, ids, z = (a[:, top : top + side, left : left + side] for a in (rgb, ids, z))
            video = resize_center_crop(rgb, size)
            ids, z = nearest_cover(ids, size), nearest_cover(z, size)
            for a in range(appearances):
                look = video if (a == 0 and original) else randomise_appearance(video, ids, g)
                ctrl, present = _clip_controls(look, z, ids)
                rows.append((look, ctrl, present, ids, (str(folder), start, a)))
    return _stack(rows, f"episodes under '{root}'")


def video_control_clips(
    paths: list[str | Path], *, frames: int, size: tuple[int, int], stride: int | None = None,
    start: int = 0, end: int | None = None,
) -> ControlClips:  # fmt: skip
    """Windows of real videos (frames ``start..end`` of each) with their edge and blur controls."""
    rows, stride = [], stride or max(1, frames - 1)
    for path in paths:
        video = resize_center_crop(io.read(path, start=start, end=end).frames, size)
        for s in range(0, len(video) - frames + 1, stride):
            clip = video[s : s + frames]
            ctrl, present = _clip_controls(clip)
            rows.append((clip, ctrl, present, None, (str(path), start + s, 0)))
    return _stack(rows, "videos " + ", ".join(map(str, paths)))
