"""The main job's targets (issues 10, 23 and 28), measured on held-out episodes the model never saw.

    .venv/bin/python benchmarks/demo.py [--out runs/demo] [--quick]
    nice -n -15 .venv/bin/python benchmarks/demo.py --out /tmp/fresh   # the timed run (as root)

Runs (or resumes: finished stages with the same settings are skipped, so after `make demo` this
only reads its results) `worldsmith demo` with the default settings and checks:

- physics alignment (issue 10): the world model beats copy-last-frame and linear extrapolation on
  future-frame PSNR and on object IoU, averaged over the physics scenarios;
- 3D consistency: the mean Sampson error of the world model's moving-camera videos is within 1.5x
  that of the ground-truth videos;
- dynamics (issue 28, `eval.dynamics.score` as benchmarks/world_model.py): skill over copy-last on
  pooled MSE > 0; Physics-IQ spatial and spatiotemporal IoU above copy-last's and linear's; the DiT
  row above the no-DiT row (one seed here: the seed-to-seed spread is the benchmark's to measure);
- the whole run within 20 minutes on 2 cores (meaningful only for a fresh --out, every stage run).

Prints a table and writes benchmarks/results/demo.json (with the stage timings and the wall time).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from worldsmith.demo import run_demo
from worldsmith.machine import write_result
from worldsmith.runs import versions

RESULTS = Path(__file__).parent / "results" / "demo.json"
console = Console()


def targets(results: dict) -> list[dict]:
    """One row per target: what was measured, against what, and whether it holds."""
    methods = results["evaluate"]["methods"]
    wm = methods["world model"]
    rows = []
    for baseline in ("copy last frame", "linear extrapolation"):
        for key in ("psnr", "iou"):
            rows.append(
                {
                    "target": f"world model {key} > {baseline}",
                    "value": wm[key],
                    "reference": methods[baseline][key],
                    "met": bool(wm[key] > methods[baseline][key]),
                }
            )
    geo = results["evaluate"].get("geometry") or {}
    if geo:
        ratio = geo["world model"]["sampson_px"] / geo["ground truth"]["sampson_px"]
        rows.append(
            {
                "target": "world model Sampson error <= 1.5x ground truth",
                "value": geo["world model"]["sampson_px"],
                "reference": 1.5 * geo["ground truth"]["sampson_px"],
                "met": bool(math.isfinite(ratio) and ratio <= 1.5),
            }
        )
    return rows + results["evaluate"]["targets"]  # issue 28's, computed by the demo


def per_episode(out: Path) -> dict:
    """Per held-out episode, against each pixel baseline: in how many the world model has the higher
    PSNR / IoU, and the median PSNRs. The targets average PSNR over episodes, so one episode in which
    nothing moves (copy-last-frame exact, ~90 dB) can outweigh all the others; this shows the rest."""
    import numpy as np

    rows = json.loads((Path(out) / "evaluate" / "physics_rows.json").read_text())
    by_method: dict[str, list[dict]] = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)
    wm = by_method["world model"]
    result = {"episodes": len(wm), "world model median psnr": float(np.median([r["psnr"] for r in wm]))}
    for name in ("copy last frame", "linear extrapolation"):
        ref = by_method[name]
        result[name] = {
            "median psnr": float(np.median([r["psnr"] for r in ref])),
            "world model higher psnr": sum(a["psnr"] > b["psnr"] for a, b in zip(wm, ref, strict=True)),
            "world model higher iou": sum(a["iou"] > b["iou"] for a, b in zip(wm, ref, strict=True)),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/demo", help="demo output folder (reused if it holds a run)")
    parser.add_argument(
        "--quick", action="store_true", help="the --quick demo (a smoke run; targets not meaningful)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    results = run_demo(args.out, seed=args.seed, quick=args.quick)
    wall = time.perf_counter() - t0
    stage_seconds = {k: v.get("seconds") for k, v in results.items()}
    # every stage ran now (not resumed): the AR branch overlaps the others, the rest add up to the wall
    fresh = wall > 0.5 * sum(stage_seconds.values())
    rows = targets(results)
    if fresh:  # a resumed run's wall time says nothing about the budget
        rows.append({"target": "full demo wall time <= 20 min on 2 cores", "value": wall / 60,
                     "reference": 20.0, "met": wall <= 20 * 60})  # fmt: skip
    table = Table(title="demo targets (held-out episodes)")
    for col in ("target", "value", "reference", "met"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for r in rows:
        table.add_row(r["target"], f"{r['value']:.3f}", f"{r['reference']:.3f}", "yes" if r["met"] else "NO")
    console.print(table)
    write_result(
        RESULTS,
        {
            "benchmark": "demo targets",
            "out": str(args.out),
            "quick": args.quick,
            "seed": args.seed,
            "targets": rows,
            "all_met": all(r["met"] for r in rows),
            "physics": results["evaluate"]["methods"],
            "dynamics": results["evaluate"]["dynamics"],
            "dynamics_per_scenario": json.loads((Path(args.out) / "evaluate" / "dynamics.json").read_text())[
                "scenarios"
            ],
            "text2world": results["predict"].get("text2world"),
            "autoregressive": {k: v for k, v in results["autoregressive"].items() if k != "model_dir"},
            "physics_per_episode": per_episode(args.out),
            "geometry": results["evaluate"].get("geometry"),
            "tokenizer": results["tokenizer"],
            "stage_seconds": stage_seconds,
            "wall_seconds": round(wall, 1) if fresh else None,
            "versions": versions(),
        },
    )
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
