"""The Wan 2.1 VAE (Cosmos 2.x's tokenizer) through worldsmith's seam vs our Cosmos CV tokenizer at
equal compression (4x8x8, 16 latent channels), and the wrapper's overhead over raw diffusers.

    .venv/bin/python benchmarks/wan_vae.py [--quick]

Published architectures with random weights (speed does not depend on the values): Wan 2.1 VAE
(``AutoencoderKLWan()`` defaults: base 96, multipliers 1-2-4-4) and Cosmos CV4x8x8 (widths
128-512, `tokenizers.presets`). Encode + decode of one clip, fp32, 1 thread, interleaved rounds,
median. The machine is a shared 2-core CPU: ratios are what to read, not seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console

from worldsmith.machine import write_result
from worldsmith.runs import torch_threads, versions

RESULTS = Path(__file__).parent / "results" / "wan_vae.json"
console = Console()


def main() -> None:
    from diffusers import AutoencoderKLWan

    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset
    from worldsmith.tokenizers.wan import WanTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)  # process entry point
    T, H, W = (5, 32, 32) if args.quick else (9, 64, 64)
    x = torch.rand(1, 3, T, H, W) * 2 - 1
    wan = WanTokenizer(AutoencoderKLWan().eval())
    cv = CausalTokenizer(get_preset("CV4x8x8")).eval()
    runs = {
        "wan (worldsmith seam)": lambda: wan.decode(wan.encode(x)),
        "wan (raw diffusers)": lambda: wan.vae.decode(wan.vae.encode(x).latent_dist.mode()).sample,
        "cosmos CV4x8x8 (worldsmith)": lambda: cv.decode(cv.encode(x)),
    }
    params = {
        "wan": sum(p.numel() for p in wan.parameters()),
        "cv4x8x8": sum(p.numel() for p in cv.parameters()),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    reps = 1 if args.quick else 3
    with torch_threads(1), torch.no_grad():
        shapes = {k: tuple(wan.encode(x).shape if "wan" in k else cv.encode(x).shape) for k in runs}
        for i in range(reps + 1):
            for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                t0 = time.perf_counter()
                runs[name]()
                if i >= 1:  # first round: warm-up
                    times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        console.print(f"{k:30s} {v:7.2f} s  latents {shapes[k]}")
    ratio_cv = med["wan (worldsmith seam)"] / med["cosmos CV4x8x8 (worldsmith)"]
    overhead = med["wan (worldsmith seam)"] / med["wan (raw diffusers)"]
    console.print(f"Wan / CV4x8x8 time: {ratio_cv:.2f}x; seam overhead over raw diffusers: {overhead:.3f}x")
    result = {
        "versions": versions(), "clip": [1, 3, T, H, W], "threads": 1, "repeats": reps, "params": params,
        "median_s": med, "latent_shapes": {k: list(v) for k, v in shapes.items()},
        "targets": [
            {"target": "the seam adds at most 5% over raw diffusers", "value": round(overhead, 3),
             "reference": 1.05, "met": overhead <= 1.05},
            {"target": "Wan VAE time relative to Cosmos CV4x8x8 at equal compression (report)",
             "value": round(ratio_cv, 3), "reference": 1.0, "met": ratio_cv <= 1.0},
        ],
        "note": "random weights of the published architectures; shared 2-core CPU, interleaved medians",
    }  # fmt: skip
    if not args.quick:
        write_result(RESULTS, result)


if __name__ == "__main__":
    main()
