"""The demo's data stages: digital-twin footage and held-out episodes, then `curate` into shards."""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.console import console
from worldsmith.curate.pipeline import CurateConfig, curate
from worldsmith.curate.shots import get_detector
from worldsmith.curate.shots.score import score_cuts
from worldsmith.curate.stages.dedup import DedupConfig
from worldsmith.curate.stages.filters import FilterConfig
from worldsmith.curate.stages.split import SplitConfig
from worldsmith.curate.stages.transcode import TranscodeConfig
from worldsmith.demo.config import SimSettings
from worldsmith.demo.context import Context, held_out_rule
from worldsmith.eval.dynamics import render_held_out
from worldsmith.sim.episode import make_episode
from worldsmith.sim.footage import make_footage
from worldsmith.video import io


def stage_sim(ctx: Context, folder: Path) -> dict[str, Any]:
    """Raw training footage (episodes joined by cuts, dissolves and fades, free camera moves) and
    held-out episodes with seeds the footage never uses: the physics test by the fixed rule of
    `eval.dynamics.HeldOut` (static camera, exact instance masks, a second take from a perturbed
    start for the Physics-IQ variance), moving-camera episodes, and the refiner's training set.
    The moving-camera and refiner episodes render in a second process while this one renders the
    footage and the physics test (the two cores the demo is budgeted)."""
    cfg = ctx.cfg.sim
    jobs = [("geometry", s, mode) for mode in cfg.geometry_cameras for s in cfg.scenarios]
    # the refiner's set: half static (as the physics test), half the moving cameras (as the geometry
    # test), so that it learns from the given frames whether the camera moves
    moves = ("static",) * max(1, len(cfg.geometry_cameras)) + tuple(cfg.geometry_cameras)
    for s in cfg.scenarios:
        jobs += [("refine", s, moves[k % len(moves)]) for k in range(cfg.refine_per_scenario)]
    jobs = [(name, s, mode, ctx.episode_seed(name, i)) for i, (name, s, mode) in enumerate(jobs)]
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        rendering = pool.submit(render_episodes, jobs, cfg)
        footage, test = _footage_and_test(ctx, folder)
        with console.status(f"waiting for the {len(jobs)} moving-camera and refiner episodes"):
            episodes = rendering.result()
    test_meta = [
        {"scenario": s, "seed": seed, "caption": c, "camera": "static"}
        for (s, seed), c in zip(held_out_rule(ctx.cfg).episodes(), test["caption"], strict=True)
    ]
    split: dict[str, tuple[dict[str, list[np.ndarray]], list[dict[str, Any]]]] = {
        "test": ({k: list(test[k]) for k in ("frames", "masks", "take2")}, test_meta),
        "geometry": ({"frames": [], "K": []}, []),  # moving camera: 3D consistency
        "refine": ({"frames": [], "masks": []}, []),  # the context refiner's training set
    }
    for (name, scenario, mode, seed), (arrays, caption) in zip(jobs, episodes, strict=True):
        for key, value in arrays.items():
            split[name][0][key].append(value)
        split[name][1].append({"scenario": scenario, "seed": seed, "caption": caption, "camera": mode})
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


def _footage_and_test(ctx: Context, folder: Path) -> tuple[Any, dict[str, Any]]:
    """The raw footage (written to ``footage.mp4`` + ``footage.json``) and the physics test's episodes."""
    cfg = ctx.cfg.sim
    scenarios = list(cfg.scenarios + cfg.extra_train_scenarios)
    n_shots = len(scenarios) * cfg.train_per_scenario
    shot_seconds = (cfg.frames + 2 * cfg.trim + 2 * cfg.transition_frames) / cfg.fps
    with console.status(f"rendering {n_shots} shots of raw footage"):
        footage = make_footage(
            ctx.seed_for("sim/footage"), durations=[shot_seconds] * n_shots, size=(cfg.size, cfg.size),
            fps=cfg.fps, transition_seconds=cfg.transition_frames / cfg.fps, scenarios=scenarios,
        )  # fmt: skip
    # lossless (crf 0): x264 is not reproducible after MuJoCo has rendered in this process (its bytes
    # differ run to run), so only a lossless stream decodes to the same training clips every time
    io.write(folder / "footage.mp4", footage.frames, fps=cfg.fps, crf=0)
    fs.write_json(folder / "footage.json", footage.truth())
    with console.status("rendering the held-out physics episodes and their second takes"):
        test = render_held_out(held_out_rule(ctx.cfg))
    return footage, test


def render_episodes(
    jobs: list[tuple[str, str, str, int]], cfg: SimSettings
) -> list[tuple[dict[str, np.ndarray], str]]:
    """The moving-camera (``"geometry"``: frames and camera 0's fixed intrinsics ``K``) and refiner
    (``"refine"``: frames and instance masks, from which the refiner's flow learns) episodes of
    `jobs` ``(split, scenario, camera mode, seed)``: ``(arrays, caption)`` each (a second process)."""
    out = []
    for name, scenario, mode, seed in jobs:
        ep = make_episode(
            scenario, seed, frames=cfg.frames, size=cfg.size, fps=cfg.fps, depth=False, camera_mode=mode,
            masks=name == "refine",
        )  # fmt: skip
        arrays = {"frames": ep.frames[0]}
        if name == "refine":
            arrays["masks"] = ep.masks[0]
        else:
            arrays["K"] = ep.states["K"][0, 0]  # fixed intrinsics of camera 0
        out.append((arrays, ep.caption))
    return out


def curate_config(ctx: Context) -> CurateConfig:
    """What `worldsmith curate` runs on the raw footage: clips at least one training clip long, cut
    `trim` frames inside each detected shot, transcoded losslessly, the demo's filters, de-duplication."""
    sim, c = ctx.cfg.sim, ctx.cfg.curate
    split = SplitConfig(
        detector=c.detector, min_seconds=sim.frames / sim.fps, trim_seconds=sim.trim / sim.fps
    )
    return CurateConfig(
        split=split,
        # lossless: x264 is not reproducible after MuJoCo has rendered in this process (see stage_sim)
        transcode=TranscodeConfig(crf=0),
        filters=FilterConfig(enabled=c.filters),
        dedup=DedupConfig(enabled=c.dedup, seed=ctx.seed_for("curate/dedup")),
    )  # fmt: skip


def stage_curate(ctx: Context, folder: Path) -> dict[str, Any]:
    """Raw footage -> `curate` (shot detection, clip rules, transcode, filters, sidecar captions,
    embeddings, de-duplication) -> webdataset shards + manifest, which the training stages read
    through `worldsmith.data`. The shot detector is also scored against the footage's true transitions."""
    path = ctx.out / "sim" / "footage.mp4"
    truth = json.loads((ctx.out / "sim" / "footage.json").read_text())
    summary = curate(path, folder, curate_config(ctx))
    t0 = time.perf_counter()
    cuts = [c for c in get_detector(ctx.cfg.curate.detector).detect(path) if c > 0]
    detect_s = time.perf_counter() - t0
    score = score_cuts(cuts, truth["transitions"])
    if not summary["clips_kept"]:
        raise RuntimeError(f"curation kept no clip of {path}: {summary['dropped']}")
    return {
        "footage_frames": truth["num_frames"],
        "true_transitions": len(truth["transitions"]),
        "detected_cuts": len(cuts),
        **{k: score[k] for k in ("precision", "recall", "f1")},
        "detector_fps": round(truth["num_frames"] / max(detect_s, 1e-9), 1),
        **{k: summary[k] for k in ("clips", "clips_kept", "dropped", "duplicates", "shards")},
        "clips_without_caption": summary["clips_without_caption"],
    }
