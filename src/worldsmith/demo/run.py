"""Run (or resume) the demo's stages in order; each is skipped when its fingerprint is unchanged.

A `parallel` stage (the autoregressive branch, which needs only the curated clips and the held-out
episodes) runs in a second process beside the stages listed after it, and is waited for by the first
stage that comes `after` it: every training stage uses one torch thread, so the two branches fill
the two cores the demo is budgeted.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from worldsmith import config as config_lib
from worldsmith import fs
from worldsmith.console import console
from worldsmith.demo.autoregressive import stage_autoregressive
from worldsmith.demo.config import DemoConfig, quick_config
from worldsmith.demo.context import Context
from worldsmith.demo.data_stages import stage_curate, stage_sim
from worldsmith.demo.eval_stages import stage_evaluate
from worldsmith.demo.model_stages import stage_refiner, stage_tokenizer, stage_world_model
from worldsmith.demo.predict import stage_predict
from worldsmith.demo.report import write_report
from worldsmith.runs import RunDir

# the demo is budgeted two cores (fewer where this process may use fewer; no affinity on macOS)
DEMO_CORES = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
STAGE_FORMAT = 7  # bump when a stage's outputs change shape, so older runs are recomputed


@dataclass(frozen=True)
class Stage:
    """A stage: what it runs, the `DemoConfig` sections it reads, and the stages whose outputs it reads."""

    name: str
    run: Callable[[Context, Path], dict[str, Any]]
    reads: tuple[str, ...]
    after: tuple[str, ...] = ()
    parallel: bool = False  # runs in a second process (module docstring)


STAGES = (
    Stage("sim", stage_sim, reads=("sim",)),
    Stage("curate", stage_curate, reads=("curate",), after=("sim",)),
    # the AR branch: its own (discrete) tokenizer, with the continuous one's widths; it predicts the
    # held-out episodes from `sampling.cond_frames`
    Stage(
        "autoregressive",
        stage_autoregressive,
        reads=("autoregressive", "tokenizer", "sampling"),
        after=("curate",),
        parallel=True,
    ),  # fmt: skip
    Stage("tokenizer", stage_tokenizer, reads=("tokenizer",), after=("curate",)),
    Stage("world_model", stage_world_model, reads=("world_model",), after=("tokenizer",)),
    # the refiner learns on predictions sampled as the held-out ones are
    Stage("refiner", stage_refiner, reads=("refiner", "sampling"), after=("world_model",)),
    Stage("predict", stage_predict, reads=("sampling",), after=("refiner",)),
    Stage("evaluate", stage_evaluate, reads=("eval",), after=("predict", "autoregressive")),
)


STAGE_BY_NAME = {s.name: s for s in STAGES}


def fingerprints(cfg: DemoConfig, seed: int) -> dict[str, str]:
    """Each stage's fingerprint: the hash of the config sections it reads, the seed and the
    fingerprints of the stages it comes after (so a change reaches every stage downstream)."""
    sections = config_lib.to_dict(cfg)
    out: dict[str, str] = {}
    for stage in STAGES:
        text = json.dumps(
            {"reads": {k: sections[k] for k in stage.reads}, "after": [out[a] for a in stage.after],
             "seed": seed, "stage": stage.name, "format": STAGE_FORMAT},
            sort_keys=True,
        )  # fmt: skip
        out[stage.name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def run_demo(out: str | Path, *, seed: int = 0, quick: bool = False, cfg: DemoConfig | None = None) -> dict:
    """Run (or resume) every stage of the main job under `out`; return what each did."""
    out = Path(out)
    cfg = cfg or (quick_config() if quick else DemoConfig())
    args = {"out": out, "seed": seed, "quick": quick, "config": config_lib.to_dict(cfg)}
    with (
        RunDir(out, command="demo", args=args, seed=seed) as run,
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        ctx = Context(out=out, cfg=cfg, seed=seed)
        keys = fingerprints(cfg, seed)
        running: dict[str, Future] = {}

        def finish(stage: Stage, result: dict[str, Any]) -> None:
            fs.write_json(out / stage.name / "done.json", {"fingerprint": keys[stage.name], "result": result})
            ctx.results[stage.name] = result
            console.print(f"[green]✓[/] {stage.name} ({result['seconds']} s)")

        for stage in STAGES:
            for name in stage.after:  # a parallel stage this one reads: wait for it
                if name in running:
                    finish(STAGE_BY_NAME[name], running.pop(name).result())
            done = out / stage.name / "done.json"
            if done.exists() and json.loads(done.read_text()).get("fingerprint") == keys[stage.name]:
                ctx.results[stage.name] = json.loads(done.read_text())["result"]
                console.print(f"[dim]- {stage.name}: done earlier, skipped[/]")
                continue
            ctx.dir(stage.name)
            ctx.cores = 1 if any(not f.done() for f in running.values()) else DEMO_CORES
            if stage.parallel:
                console.print(f"[bold]{stage.name}[/]: started in a second process (its output is quiet)")
                running[stage.name] = pool.submit(_run_stage, stage.name, out, cfg, seed)
                continue
            console.rule(f"[bold]{stage.name}")
            finish(stage, _run_stage(stage.name, out, cfg, seed, ctx))
        for name, future in running.items():
            finish(STAGE_BY_NAME[name], future.result())
        report = write_report(ctx)
        run.record(stages=ctx.results, report=str(report))
    print_summary(ctx.results, report)
    return ctx.results


def _run_stage(
    name: str, out: Path, cfg: DemoConfig, seed: int, ctx: Context | None = None
) -> dict[str, Any]:
    """Run stage `name` and time it; without `ctx`, in a second process (quiet: no bars, no prints)."""
    if ctx is None:
        os.environ["WORLDSMITH_PROGRESS"] = "0"
        console.quiet = True
        ctx = Context(out=out, cfg=cfg, seed=seed)
    t0 = time.perf_counter()
    result = STAGE_BY_NAME[name].run(ctx, ctx.dir(name))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col == "method" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_summary(results: dict[str, dict[str, Any]], report: Path) -> None:
    ev = results["evaluate"]
    console.print(_table(
        "physics alignment on held-out episodes (eval.dynamics.score, as benchmarks/world_model.py)",
        ("method", "PSNR dB", "object IoU", "spatial IoU", "spatiotemporal IoU", "Physics-IQ",
         "skill vs copy 1-4/5-8/9-12/all"),
        [(k, f"{s['psnr']:.2f}", f"{s['iou']:.3f}", f"{s['spatial_iou']:.3f}",
          f"{s['spatiotemporal_iou']:.3f}", f"{s['physics_iq']:.1f}",
          "/".join(f"{v:+.2f}" for v in s["skill_copy"].values()))
         for k, s in ev["dynamics"].items()],
    ))  # fmt: skip
    console.print(_table(
        "issue #28 targets at the demo's budget", ("method", "value", "reference", "met"),
        [(t["target"], f"{t['value']:.3f}", f"{t['reference']:.3f}", "yes" if t["met"] else "NO")
         for t in ev["targets"]],
    ))  # fmt: skip
    geo = ev.get("geometry") or {}
    if geo:
        console.print(_table(
            "3D consistency on moving-camera episodes (Sampson error, px)",
            ("method", "Sampson px", "pose success", "videos scored"),
            [(k, f"{g['sampson_px']:.3f}", f"{g['pose_success']:.2f}", str(g["scored_videos"]))
             for k, g in geo.items()],
        ))  # fmt: skip
    console.print("stage timings: " + ", ".join(f"{k} {v['seconds']}s" for k, v in results.items()))
    console.print(f"report: [bold]{report}[/]")
