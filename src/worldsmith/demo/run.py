"""Run (or resume) the demo's stages in order; each is skipped when its fingerprint is unchanged."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from worldsmith import config as config_lib
from worldsmith import fs
from worldsmith.console import console
from worldsmith.demo.config import DemoConfig, quick_config
from worldsmith.demo.context import Context
from worldsmith.demo.data_stages import stage_curate, stage_sim
from worldsmith.demo.eval_stages import stage_evaluate
from worldsmith.demo.model_stages import (
    stage_autoregressive,
    stage_refiner,
    stage_tokenizer,
    stage_world_model,
)
from worldsmith.demo.predict import stage_predict
from worldsmith.demo.report import write_report
from worldsmith.runs import RunDir

STAGE_FORMAT = 6  # bump when a stage's outputs change shape, so older runs are recomputed


@dataclass(frozen=True)
class Stage:
    """A stage: what it runs, the `DemoConfig` sections it reads, and the stages whose outputs it reads."""

    name: str
    run: Callable[[Context, Path], dict[str, Any]]
    reads: tuple[str, ...]
    after: tuple[str, ...] = ()


STAGES = (
    Stage("sim", stage_sim, reads=("sim",)),
    Stage("curate", stage_curate, reads=("curate",), after=("sim",)),
    Stage("tokenizer", stage_tokenizer, reads=("tokenizer",), after=("curate",)),
    Stage("world_model", stage_world_model, reads=("world_model",), after=("tokenizer",)),
    # the refiner learns on predictions sampled as the held-out ones are
    Stage("refiner", stage_refiner, reads=("refiner", "sampling"), after=("world_model",)),
    Stage("autoregressive", stage_autoregressive, reads=("autoregressive", "tokenizer"), after=("curate",)),
    Stage("predict", stage_predict, reads=("sampling",), after=("refiner", "autoregressive")),
    Stage("evaluate", stage_evaluate, reads=("eval",), after=("predict",)),
)


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
    with RunDir(out, command="demo", args=args, seed=seed) as run:
        ctx = Context(out=out, cfg=cfg, seed=seed)
        keys = fingerprints(cfg, seed)
        for stage in STAGES:
            done = out / stage.name / "done.json"
            if done.exists() and json.loads(done.read_text()).get("fingerprint") == keys[stage.name]:
                ctx.results[stage.name] = json.loads(done.read_text())["result"]
                console.print(f"[dim]- {stage.name}: done earlier, skipped[/]")
                continue
            console.rule(f"[bold]{stage.name}")
            t0 = time.perf_counter()
            result = stage.run(ctx, ctx.dir(stage.name))
            result["seconds"] = round(time.perf_counter() - t0, 1)
            fs.write_json(done, {"fingerprint": keys[stage.name], "result": result})
            ctx.results[stage.name] = result
            console.print(f"[green]✓[/] {stage.name} ({result['seconds']} s)")
        report = write_report(ctx)
        run.record(stages=ctx.results, report=str(report))
    print_summary(ctx.results, report)
    return ctx.results


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col == "method" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_summary(results: dict[str, dict[str, Any]], report: Path) -> None:
    methods = results["evaluate"]["methods"]
    console.print(_table(
        "physics alignment on held-out episodes (mean over scenarios)",
        ("method", "PSNR dB", "SSIM", "object IoU", "centroid err px"),
        [(k, f"{s['psnr']:.2f}", f"{s['ssim']:.3f}", f"{s['iou']:.3f}", f"{s['centroid_px']:.2f}")
         for k, s in methods.items()],
    ))  # fmt: skip
    geo = results["evaluate"].get("geometry") or {}
    if geo:
        console.print(_table(
            "3D consistency on moving-camera episodes (Sampson error, px)",
            ("method", "Sampson px", "pose success", "videos scored"),
            [(k, f"{g['sampson_px']:.3f}", f"{g['pose_success']:.2f}", str(g["scored_videos"]))
             for k, g in geo.items()],
        ))  # fmt: skip
    console.print("stage timings: " + ", ".join(f"{k} {v['seconds']}s" for k, v in results.items()))
    console.print(f"report: [bold]{report}[/]")
