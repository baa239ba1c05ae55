"""Tokenizer speed: our CV8x8x8 vs diffusers' AutoencoderKLCosmos, same weights, same input.

Each implementation runs in its own subprocess (so peak RSS is its own): build CV8x8x8 at the
published widths with the same random weights (ours generated from a seed, converted into the
diffusers layout), encode + decode one clip (default 17x256x256) under `torch.inference_mode`,
report frames/s (best of --reps, after one warm-up) and peak resident memory; the parent checks
that both outputs agree. Writes benchmarks/results/tokenizer.json.

    python benchmarks/tokenizer.py [--frames 17 --size 256 --reps 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from worldsmith import fs

RESULTS = Path(__file__).parent / "results" / "tokenizer.json"


def _build(impl: str, weights: str):
    """Load the shared random weights (our layout, safetensors) into implementation `impl`."""
    from safetensors.torch import load_file

    from worldsmith.tokenizers.convert import config_to_diffusers, to_diffusers_state_dict
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

    config = get_preset("CV8x8x8")
    state = load_file(weights)
    if impl == "worldsmith":
        model = CausalTokenizer(config).eval()
        model.load_state_dict(state)
        return lambda x: model.decode(model.encode(x))
    from diffusers import AutoencoderKLCosmos

    ref = AutoencoderKLCosmos(**config_to_diffusers(config), latents_mean=None, latents_std=None).eval()
    ref.load_state_dict(to_diffusers_state_dict(state))
    return lambda x: ref.decode(ref.encode(x).latent_dist.mode()).sample


def worker(impl: str, frames: int, size: int, reps: int, out: str, weights: str) -> None:
    run = _build(impl, weights)
    x = torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    times = []
    with torch.inference_mode():
        for _ in range(reps + 1):  # first = warm-up
            t0 = time.perf_counter()
            y = run(x)
            times.append(time.perf_counter() - t0)
    torch.save(y, out)
    best = min(times[1:])
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": impl, "seconds": best, "all_seconds": times, "frames_per_s": frames / best,
                      "peak_rss_mib": peak_mib, "threads": torch.get_num_threads()}))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--worker", choices=["worldsmith", "diffusers"])
    p.add_argument("--out")
    p.add_argument("--weights")
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.frames, a.size, a.reps, a.out, a.weights)
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        from safetensors.torch import save_file

        from worldsmith.tokenizers.model import CausalTokenizer
        from worldsmith.tokenizers.presets import get_preset

        torch.manual_seed(0)
        weights = f"{tmp}/weights.safetensors"
        save_file(CausalTokenizer(get_preset("CV8x8x8")).state_dict(), weights)
        for impl in ("diffusers", "worldsmith"):
            out = f"{tmp}/{impl}.pt"
            cmd = [sys.executable, __file__, "--worker", impl, "--frames", str(a.frames), "--size",
                   str(a.size), "--reps", str(a.reps), "--out", out, "--weights", weights]  # fmt: skip
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            outputs[impl] = torch.load(out, weights_only=True)
    max_diff = float((outputs["diffusers"] - outputs["worldsmith"]).abs().max())
    ref, ours = rows
    result = {
        "config": "CV8x8x8 (published widths, random weights)",
        "input": f"1x3x{a.frames}x{a.size}x{a.size}",
        "device": "cpu",
        "rows": rows,
        "speedup": ours["frames_per_s"] / ref["frames_per_s"],
        "peak_memory_ratio": ours["peak_rss_mib"] / ref["peak_rss_mib"],
        "max_abs_diff": max_diff,
        "note": "shared, noisy 2-core CPU (other jobs running); encode+decode, best of reps after a warm-up",
    }
    fs.write_json(RESULTS, result)
    table = Table(title=f"CV8x8x8 encode+decode, {result['input']}, CPU")
    for col in ("impl", "seconds", "frames/s", "peak RSS MiB"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["impl"], f"{r['seconds']:.2f}", f"{r['frames_per_s']:.2f}", f"{r['peak_rss_mib']:.0f}"
        )
    console = Console()
    console.print(table)
    console.print(f"speedup {result['speedup']:.2f}x, memory ratio {result['peak_memory_ratio']:.2f}, "
                  f"max |diff| {max_diff:.2e} -> {RESULTS}")  # fmt: skip


if __name__ == "__main__":
    main()
