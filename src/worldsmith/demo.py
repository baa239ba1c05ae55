"""The main job: digital twins -> curation -> tokenizer -> world model -> guardrails -> evaluation.

`run_demo` runs the steps in order, each writing under its own folder of the run directory, and
records what each step did in `run.json` and `summary.md`. Steps are plain functions taking a
`DemoContext`; a step whose stage is not built yet is listed as such, never faked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsmith import fs
from worldsmith.console import console
from worldsmith.runs import RunDir, seed_everything


@dataclass
class DemoContext:
    out: Path
    seed: int
    quick: bool
    generator: torch.Generator
    results: dict[str, Any] = field(default_factory=dict)


def _test_pattern(num_frames: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A moving colour gradient with a bouncing square: uint8 [T, H, W, 3]."""
    t = torch.arange(num_frames).view(-1, 1, 1)
    y = torch.arange(height).view(1, -1, 1)
    x = torch.arange(width).view(1, 1, -1)
    r = (x * 255 // max(1, width - 1) + 4 * t) % 256
    g = (y * 255 // max(1, height - 1)).expand(num_frames, height, width)
    b = ((x + y + 8 * t) * 2) % 256
    frames = torch.stack([r.expand_as(g), g, b.expand_as(g)], dim=-1).to(torch.uint8)  # [T, H, W, 3]
    size = height // 4
    vx, vy = (torch.randint(2, 6, (2,), generator=generator)).tolist()
    px, py = 0, 0
    for i in range(num_frames):
        frames[i, py : py + size, px : px + size] = torch.tensor([250, 250, 40], dtype=torch.uint8)
        px, py = px + vx, py + vy
        if not 0 <= px <= width - size:
            vx, px = -vx, min(max(px, 0), width - size)
        if not 0 <= py <= height - size:
            vy, py = -vy, min(max(py, 0), height - size)
    return frames


def step_video_io(ctx: DemoContext) -> dict[str, Any]:
    """Encode a test pattern to H.264, decode it back and measure the round-trip PSNR."""
    from worldsmith.video import io

    frames = _test_pattern(24 if ctx.quick else 60, 96, 128, ctx.generator)
    folder = ctx.out / "video_io"
    path = io.write(folder / "pattern.mp4", frames, fps=12, crf=18)
    io.write_gif(folder / "pattern.gif", frames[::2], fps=6)
    back = io.read(path).frames
    mse = ((back.float() - frames.float()) ** 2).mean().item()
    psnr = 10 * np.log10(255**2 / max(mse, 1e-10))
    info = io.probe(path)
    return {"video": str(path), "frames": info.num_frames, "fps": info.fps, "psnr_db": round(float(psnr), 2)}


# The steps of the main job, in order. A stage that has not landed yet appears as (name, None).
STEPS: list[tuple[str, Callable[[DemoContext], dict[str, Any]] | None]] = [
    ("video I/O round trip", step_video_io),
    ("digital twins", None),
    ("curation", None),
    ("tokenizer", None),
    ("world model", None),
    ("guardrails", None),
    ("evaluation report", None),
]


def run_demo(out: str | Path, *, seed: int = 0, quick: bool = False) -> dict[str, Any]:
    """Run every available step of the main job under `out`; return what each did."""
    out = Path(out)
    with RunDir(out, command="demo", args={"out": out, "seed": seed, "quick": quick}, seed=seed) as run:
        ctx = DemoContext(out=out, seed=seed, quick=quick, generator=seed_everything(seed))
        lines = ["# worldsmith demo", ""]
        for name, step in STEPS:
            if step is None:
                console.print(f"[dim]- {name}: not built yet, skipped[/]")
                ctx.results[name] = {"status": "not built yet"}
                lines.append(f"- **{name}**: not built yet")
                continue
            t0 = time.perf_counter()
            with console.status(f"{name} ..."):
                result = step(ctx)
            result["seconds"] = round(time.perf_counter() - t0, 2)
            ctx.results[name] = {"status": "ok", **result}
            console.print(f"[green]✓[/] {name}: {result}")
            lines.append(f"- **{name}**: " + ", ".join(f"{k}={v}" for k, v in result.items()))
        fs.write_text(out / "summary.md", "\n".join(lines) + "\n")
        run.record(steps=ctx.results)
    console.print(f"demo finished; outputs in [bold]{out}[/] (summary.md, run.json)")
    return ctx.results
