"""The demo's data stages: digital-twin footage and held-out episodes, then curation into clips."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.console import console, progress
from worldsmith.curate.shots import ClipRules, split_video
from worldsmith.curate.shots.score import score_cuts
from worldsmith.demo.context import Context
from worldsmith.sim.episode import make_episode
from worldsmith.sim.footage import make_footage
from worldsmith.video import io


def stage_sim(ctx: Context, folder: Path) -> dict[str, Any]:
    """Raw training footage (episodes joined by cuts, dissolves and fades, free camera moves) and
    held-out episodes (static camera, exact instance masks) with seeds the footage never uses."""
    cfg = ctx.cfg.sim
    scenarios = list(cfg.scenarios + cfg.extra_train_scenarios)
    n_shots = len(scenarios) * cfg.train_per_scenario
    shot_seconds = (cfg.frames + 2 * cfg.trim + 2 * cfg.transition_frames) / cfg.fps
    with console.status(f"rendering {n_shots} shots of raw footage"):
        footage = make_footage(
            ctx.seed, durations=[shot_seconds] * n_shots, size=(cfg.size, cfg.size), fps=cfg.fps,
            transition_seconds=cfg.transition_frames / cfg.fps, scenarios=scenarios,
        )  # fmt: skip
    # lossless (crf 0): x264 is not reproducible after MuJoCo has rendered in this process (its bytes
    # differ run to run), so only a lossless stream decodes to the same training clips every time
    io.write(folder / "footage.mp4", footage.frames, fps=cfg.fps, crf=0)
    fs.write_json(folder / "footage.json", footage.truth())

    jobs = [("test", s, "static") for s in cfg.scenarios for _ in range(cfg.test_per_scenario)]
    jobs += [("geometry", s, mode) for mode in cfg.geometry_cameras for s in cfg.scenarios]
    # the refiner's set: half static (as the physics test), half the moving cameras (as the geometry
    # test), so that it learns from the given frames whether the camera moves
    moves = ("static",) * max(1, len(cfg.geometry_cameras)) + tuple(cfg.geometry_cameras)
    for s in cfg.scenarios:
        jobs += [("refine", s, moves[k % len(moves)]) for k in range(cfg.refine_per_scenario)]
    split: dict[str, tuple[dict[str, list[np.ndarray]], list[dict[str, Any]]]] = {
        "test": ({"frames": [], "masks": []}, []),  # static camera: physics alignment
        "geometry": ({"frames": [], "K": []}, []),  # moving camera: 3D consistency
        "refine": ({"frames": [], "masks": []}, []),  # the context refiner's training set
    }
    with progress() as bar:
        task = bar.add_task("held-out episodes", total=len(jobs))
        for i, (name, scenario, mode) in enumerate(jobs):
            # make_footage draws seeds below 2**31; the refiner's set is apart from the test's
            seed = 2**31 + ctx.seed * 1000 + i + (500 if name == "refine" else 0)
            arrays, meta = split[name]
            # the test scores objects by their masks, and the refiner's flow learns from them
            with_masks = "masks" in arrays
            ep = make_episode(
                scenario, seed, frames=cfg.frames, size=cfg.size, fps=cfg.fps, depth=False, camera_mode=mode,
                masks=with_masks,
            )  # fmt: skip
            arrays["frames"].append(ep.frames[0])
            if with_masks:
                arrays["masks"].append(ep.masks[0])
            elif name == "geometry":
                arrays["K"].append(ep.states["K"][0, 0])  # fixed intrinsics of camera 0
            meta.append({"scenario": scenario, "seed": seed, "caption": ep.caption, "camera": mode})
            bar.advance(task)
    for name, (arrays, meta) in split.items():
        with fs.atomic_path(folder / f"{name}.npz") as tmp:
            np.savez_compressed(tmp, **{k: np.stack(v) for k, v in arrays.items() if v})  # [N, T, ...]
        fs.write_json(folder / f"{name}.json", meta)
    kinds = ("cut", "dissolve", "fade")
    return {
        "footage_frames": len(footage.frames),
        "footage_shots": len(footage.shots),
        "transitions": {k: sum(t["kind"] == k for t in footage.transitions) for k in kinds},
        "test_episodes": len(split["test"][1]),
        "geometry_episodes": len(split["geometry"][1]),
        "refine_episodes": len(split["refine"][1]),
        "size": cfg.size,
    }


def stage_curate(ctx: Context, folder: Path) -> dict[str, Any]:
    """Raw footage -> shot detection (scored against the truth) -> clip rules -> training clips."""
    cfg = ctx.cfg.sim
    path = ctx.out / "sim" / "footage.mp4"
    truth = json.loads((ctx.out / "sim" / "footage.json").read_text())
    t0 = time.perf_counter()
    rules = ClipRules(min_seconds=cfg.frames / cfg.fps, trim_seconds=cfg.trim / cfg.fps)
    split = split_video(path, detector=ctx.cfg.curate.detector, rules=rules)
    detect_s = time.perf_counter() - t0
    score = score_cuts(split["cuts"], truth["transitions"])
    decoded = io.read(path).frames.numpy()
    starts = [s["start"] for s in truth["shots"]]
    clips, captions = [], []
    for a, b in split["clips"]:
        start = a + (b - a - cfg.frames) // 2  # the centred `frames` frames of each clip
        clips.append(decoded[start : start + cfg.frames])
        shot = truth["shots"][int(np.searchsorted(starts, start + cfg.frames // 2, side="right")) - 1]
        captions.append(shot["caption"])
    if not clips:
        raise RuntimeError(f"curation kept no clip: {len(split['cuts'])} cuts found in {len(decoded)} frames")
    with fs.atomic_path(folder / "clips.npz") as tmp:
        np.savez_compressed(tmp, clips=np.stack(clips))  # [N, T, H, W, 3]
    fs.write_json(folder / "clips.json", captions)
    fs.write_json(folder / "split.json", split)
    return {
        "footage_frames": len(decoded),
        "true_transitions": len(truth["transitions"]),
        "detected_cuts": len(split["cuts"]),
        **{k: score[k] for k in ("precision", "recall", "f1")},
        "detector_fps": round(len(decoded) / max(detect_s, 1e-9), 1),
        "clips": len(clips),
    }
