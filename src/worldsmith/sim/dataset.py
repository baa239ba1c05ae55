"""Episode datasets on disk: one atomic folder per episode, multiprocess rendering, resumable.

    out/
      index.json                   one line per episode: folder, scenario, seed, caption
      episode_000000/
        cam0.mp4 ...               H.264 per camera (cam<k> = meta["cameras"][k])
        meta.json                  scenario, seed, fps, size, caption, instruction, parameters, ...
        states.npz                 per-frame object states, K and world_to_cam per camera, actions
        masks_cam0.npz             "masks": uint8 [T, H, W] instance ids (0 = background)
        depth_cam0.npz             "depth": float32 [T, H, W] metres along the optical axis

An episode folder appears whole or not at all (`fs.atomic_dir`); a rerun with the same arguments
skips folders already there and refuses ones written with different arguments.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.console import console, progress
from worldsmith.sim.camera import CAMERA_MODES
from worldsmith.sim.catalogue import PHYSICS_ALIGNMENT, SCENARIOS
from worldsmith.sim.episode import Episode, make_episode
from worldsmith.sim.errors import SimError
from worldsmith.sim.explore import EXPLORATION, EXPLORATION_LARGE
from worldsmith.video import io


@dataclass(frozen=True, kw_only=True)
class DatasetConfig:
    """What `write_dataset` renders. `scenarios` are cycled over the episodes."""

    scenarios: tuple[str, ...] = tuple(PHYSICS_ALIGNMENT)
    episodes: int = 8
    frames: int = 33
    size: int = 128
    fps: float = 10.0
    cameras: int = 1
    camera_mode: str = "static"  # "mixed": per episode a random moving mode at a random speed (0.6-1.4x)
    masks: bool = True
    depth: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if not self.scenarios or unknown:
            raise SimError(
                f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}, 'physics' or 'all'"
            )
        if self.episodes < 1 or self.frames < 1 or self.cameras < 1 or self.fps <= 0:
            raise SimError(f"episodes, frames, cameras and fps must be positive: {self}")
        if self.camera_mode not in (*CAMERA_MODES, "rig", "mixed"):
            raise SimError(
                f"unknown camera mode '{self.camera_mode}'; choose one of {', '.join(CAMERA_MODES)} or mixed"
            )
        if not 8 <= self.size <= 4096:
            raise SimError(f"size must be within 8..4096 px, got {self.size}")


def scenario_list(name: str) -> tuple[str, ...]:
    """'physics' = the physics-alignment set, 'robot' = the arm with exploratory actions, 'robot-large'
    = the same arm seen large, 'all' = every scenario, else a comma-separated list."""
    if name == "physics":
        return tuple(PHYSICS_ALIGNMENT)
    if name == "robot":
        return tuple(EXPLORATION)
    if name == "robot-large":
        return tuple(EXPLORATION_LARGE)
    if name == "all":
        return tuple(SCENARIOS)
    return tuple(s.strip() for s in name.split(",") if s.strip())


def episode_seed(seed: int, index: int) -> int:
    """Independent per-episode seeds from one run seed (numpy SeedSequence spawning)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def camera_move(config: DatasetConfig, seed: int) -> tuple[str, float]:
    """(camera mode, speed) of an episode: the config's, or for "mixed" drawn from the episode seed."""
    if config.camera_mode != "mixed":
        return config.camera_mode, 1.0
    rng = np.random.default_rng([seed, 26])
    moving = [m for m in CAMERA_MODES if m != "static"]
    return moving[int(rng.integers(len(moving)))], float(rng.uniform(0.6, 1.4))


def _request(config: DatasetConfig, index: int) -> dict[str, Any]:
    scenario = config.scenarios[index % len(config.scenarios)]
    seed = episode_seed(config.seed, index)
    mode, speed = camera_move(config, seed)
    return {
        "scenario": scenario,
        "seed": seed,
        "frames": config.frames,
        "size": config.size,
        "fps": config.fps,
        "cameras": config.cameras,
        "camera_mode": mode,
        "camera_speed": speed,
        "masks": config.masks,
        "depth": config.depth,
    }


def write_episode(episode: Episode, folder: str | Path, *, crf: int = 18) -> Path:
    """Write one episode atomically: videos, meta.json, states.npz, masks and depth per camera."""

    folder = Path(folder)
    fps = episode.meta["fps"]
    with fs.atomic_dir(folder) as tmp:
        for k in range(len(episode.cameras)):
            io.write(tmp / f"cam{k}.mp4", episode.frames[k], fps, crf=crf, preset="veryfast")
            if episode.masks is not None:
                np.savez_compressed(tmp / f"masks_cam{k}.npz", masks=episode.masks[k])
            if episode.depth is not None:
                np.savez_compressed(tmp / f"depth_cam{k}.npz", depth=episode.depth[k])
        np.savez_compressed(tmp / "states.npz", **episode.states)
        fs.write_json(tmp / "meta.json", episode.meta)
    return folder


def load_episode(folder: str | Path) -> Episode:
    """Read an episode folder back (frames decoded from the mp4s, so lossy)."""

    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise SimError(f"'{folder}' is not an episode folder (no meta.json); point at episode_NNNNNN/")
    meta = json.loads((folder / "meta.json").read_text())
    V = len(meta["cameras"])
    frames = np.stack([io.read(folder / f"cam{k}.mp4").frames.numpy() for k in range(V)])
    frames = frames[:, :, : meta["height"], : meta["width"]]  # drop yuv420 padding of odd sizes
    with np.load(folder / "states.npz", allow_pickle=False) as z:
        states = {k: z[k] for k in z.files}

    def optional(stem: str, key: str) -> np.ndarray | None:
        paths = [folder / f"{stem}_cam{k}.npz" for k in range(V)]
        if not all(p.is_file() for p in paths):
            return None
        return np.stack([np.load(p, allow_pickle=False)[key] for p in paths])

    return Episode(
        frames=frames,
        depth=optional("depth", "depth"),
        masks=optional("masks", "masks"),
        states=states,
        meta=meta,
    )


def _finished(folder: Path, request: dict[str, Any]) -> bool:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    size = request["size"]
    h, w = (size, size) if isinstance(size, int) else size
    same = (
        meta.get("scenario") == request["scenario"]
        and meta.get("seed") == request["seed"]
        and meta.get("num_frames") == request["frames"]
        and (meta.get("height"), meta.get("width")) == (h, w)
        and meta.get("fps") == float(request["fps"])
        and len(meta.get("cameras", [])) == request["cameras"]
    )
    if not same:
        raise SimError(
            f"'{folder}' holds an episode made with other arguments ({meta.get('scenario')}, seed "
            f"{meta.get('seed')}, {meta.get('num_frames')} frames, "
            f"{meta.get('height')}x{meta.get('width')}); use a new --out folder or delete it"
        )
    return True


def _render_one(job: tuple[int, dict[str, Any], str]) -> dict[str, Any]:
    index, request, out = job
    t0 = time.perf_counter()
    request = dict(request)
    scenario, seed = request.pop("scenario"), request.pop("seed")
    episode = make_episode(scenario, seed, **request)
    folder = write_episode(episode, Path(out) / f"episode_{index:06d}")
    return {
        "index": index,
        "folder": folder.name,
        "scenario": scenario,
        "seed": seed,
        "caption": episode.caption,
        "frames": int(episode.frames.shape[0] * episode.frames.shape[1]),
        "seconds": time.perf_counter() - t0,
    }


def _worker_init() -> None:
    # One llvmpipe thread per worker: the workers already use every core.
    os.environ.setdefault("LP_NUM_THREADS", "1")


def write_dataset(config: DatasetConfig, out: str | Path, *, workers: int = 1) -> dict[str, Any]:
    """Render `config.episodes` episodes under `out` with `workers` processes; skip finished ones.

    Returns a summary: episodes written and skipped, frames rendered, wall time and frames/s.
    """
    if workers < 1:
        raise SimError(f"workers must be >= 1, got {workers}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs, done = [], []
    for i in range(config.episodes):
        request = _request(config, i)
        folder = out / f"episode_{i:06d}"
        if _finished(folder, request):
            meta = json.loads((folder / "meta.json").read_text())
            done.append(
                {
                    "index": i,
                    "folder": folder.name,
                    "scenario": meta["scenario"],
                    "seed": meta["seed"],
                    "caption": meta["caption"],
                    "frames": 0,
                    "seconds": 0.0,
                }
            )
        else:
            jobs.append((i, request, str(out)))
    t0 = time.perf_counter()
    results = []
    with progress() as bar:
        task = bar.add_task(f"rendering {len(jobs)} episodes", total=len(jobs))
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                results.append(_render_one(job))
                bar.advance(task)
        else:
            ctx = mp.get_context("spawn")  # a fresh process per worker: no inherited GL or torch state
            with ctx.Pool(min(workers, len(jobs)), initializer=_worker_init) as pool:
                for result in pool.imap_unordered(_render_one, jobs):
                    results.append(result)
                    bar.advance(task)
    seconds = time.perf_counter() - t0
    rows = sorted(done + results, key=lambda r: r["index"])
    fs.write_json(out / "index.json", {"config": asdict(config), "episodes": rows})
    frames = sum(r["frames"] for r in results)
    summary = {
        "out": str(out),
        "episodes": config.episodes,
        "written": len(results),
        "skipped": len(done),
        "frames_rendered": frames,
        "seconds": round(seconds, 2),
        "frames_per_s": round(frames / seconds, 1) if results else None,
        "scenarios": sorted({r["scenario"] for r in rows}),
    }
    if done:
        console.print(f"[dim]skipped {len(done)} finished episodes in {out}[/]")
    return summary


def demo_dataset(
    out: str | Path,
    *,
    seed: int = 0,
    episodes: int = 24,
    frames: int = 33,
    size: int = 64,
    workers: int = 2,
) -> dict[str, Any]:
    """The demo's digital-twin step: physics-alignment episodes (33 frames, like the Cosmos
    physics evaluation) with masks and depth, rendered by `workers` processes. Returns a summary."""
    config = DatasetConfig(
        scenarios=tuple(PHYSICS_ALIGNMENT), episodes=episodes, frames=frames, size=size, seed=seed
    )
    return write_dataset(config, out, workers=workers)
