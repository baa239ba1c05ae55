"""AR world model decoding speed: no cache vs KV cache vs KV cache + Medusa, on one tiny trained model.

    .venv/bin/python benchmarks/autoregressive.py [--quick]

1. Data: moving-square clips (65 frames, 32x32) tokenized by a tiny DV tokenizer (FSQ 8,8,8,5,5,5 =
   64,000 codes, 4x8x8 compression, random weights: a fixed, deterministic pixel -> token map) into
   ``[17, 4, 4]`` token grids.
2. One GPT (the `tiny` preset at this grid) trained on them through the shared Trainer; then Medusa
   heads trained on the frozen GPT (Medusa-1).
3. Video2World from the first latent frame of a training clip, 16 latent frames (256 tokens), greedy:
   no cache (full recomputation each token), KV cache, KV cache + Medusa. The three outputs are
   checked identical in the same run; tokens/s are medians of interleaved repeats.
4. No cache vs KV cache once more on the `small` preset (random weights: decoding cost does not depend
   on them): at `tiny` size the 64k-way output layer, which both pay per token, dominates a step.

Targets (issue 11): KV cache >= 5x over no cache; Medusa >= 2x over KV cache (mean accepted length).
The machine is a shared 2-core CPU: absolute numbers are noisy, ratios from interleaved runs less so.
The model memorises its few training clips, so Medusa's acceptance is that of an in-distribution,
well-predicted continuation (an upper range of what a large model sees on real video).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from worldsmith import fs
from worldsmith.autoregressive.data import TokenDataset
from worldsmith.autoregressive.generate import generate
from worldsmith.autoregressive.gpt import GPT, get_preset
from worldsmith.autoregressive.medusa import MedusaConfig, MedusaHeads, MedusaModel, medusa_generate
from worldsmith.autoregressive.objective import ARObjective, MedusaObjective
from worldsmith.autoregressive.sampling import GREEDY
from worldsmith.runs import versions
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset as tokenizer_preset
from worldsmith.train import TrainConfig, Trainer
from worldsmith.video.transforms import to_model

RESULTS = Path(__file__).parent / "results" / "autoregressive.json"
console = Console()


def moving_squares(n: int, frames: int = 65, size: int = 32) -> torch.Tensor:
    """``n`` clips uint8 ``[n, T, H, W, 3]``: a coloured square crossing a grey floor, bouncing."""
    clips = np.full((n, frames, size, size, 3), 60, np.uint8)
    for i in range(n):
        color = np.array([(200, 60, 40), (40, 180, 90), (60, 90, 220), (220, 200, 40)][i % 4], np.uint8)
        for t in range(frames):
            span = size - 10
            x = (3 * i + t) % (2 * span)
            x = x if x < span else 2 * span - x
            clips[i, t, 8 + 2 * (i % 3) : 18 + 2 * (i % 3), x : x + 10] = color
    return torch.from_numpy(clips)


def tokenize(clips: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    tok = CausalTokenizer(tokenizer_preset("tiny-dv4x8x8")).eval()
    with torch.no_grad():
        return torch.cat([tok.encode(to_model(c)[None]) for c in clips]).long()  # [N, T', h, w]


def train(
    tokens: torch.Tensor, out: Path, steps: int, medusa_steps: int, heads: int
) -> tuple[GPT, MedusaHeads]:
    torch.manual_seed(0)
    gpt = GPT(get_preset("tiny", latent_shape=tuple(tokens.shape[1:]), text_dim=None))
    data = TokenDataset(tokens)
    cfg = dict(batch_size=min(4, len(tokens)), lr=3e-3, warmup_steps=10, log_every=25, tensorboard=False)
    Trainer(TrainConfig(steps=steps, **cfg), gpt, ARObjective(), data, out=out / "ar").fit()
    med = MedusaHeads(MedusaConfig(dim=gpt.cfg.dim, heads=heads))
    objective = MedusaObjective(max_positions=64)
    Trainer(
        TrainConfig(steps=medusa_steps, **cfg), MedusaModel(gpt, med), objective, data, out=out / "medusa"
    ).fit()
    return gpt.eval(), med.eval()


def decode_all(gpt: GPT, heads: MedusaHeads, prefix: torch.Tensor, n: int, repeats: int) -> dict:
    runs = {
        "no cache": lambda s: generate(gpt, prefix, n, sampling=GREEDY, use_cache=False, stats=s),
        "KV cache": lambda s: generate(gpt, prefix, n, sampling=GREEDY, stats=s),
        "KV cache + Medusa": lambda s: medusa_generate(gpt, heads, prefix, n, sampling=GREEDY, stats=s),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    outputs, stats = {}, {}
    for _ in range(repeats):  # interleaved, so load changes hit every method alike
        for name, fn in runs.items():
            s: dict = {}
            t0 = time.perf_counter()
            outputs[name] = fn(s)
            times[name].append(time.perf_counter() - t0)
            stats[name] = s
    ref = outputs["no cache"]
    return {
        name: {
            "seconds": statistics.median(times[name]),
            "tokens_per_s": n / statistics.median(times[name]),
            "forward_passes": stats[name]["forward_passes"],
            "mean_accepted": stats[name].get("mean_accepted", 1.0),
            "identical_to_no_cache": bool(torch.equal(outputs[name], ref)),
        }
        for name in runs
    } | {"_tokens": ref}


def cache_vs_no_cache(cfg_name: str, prefix: torch.Tensor, n: int, grid: tuple[int, int, int]) -> dict:
    """No cache vs KV cache on a bigger random-weight model: the cost of decoding does not depend on the
    weights, and a bigger body shows how the cache's gain grows once the network, not the 64k-way
    output layer, dominates a step."""
    torch.manual_seed(0)
    gpt = GPT(get_preset(cfg_name, latent_shape=grid, text_dim=None)).eval()
    out = {}
    for name, use_cache in (("no cache", False), ("KV cache", True)):
        t0 = time.perf_counter()
        out[name] = generate(gpt, prefix, n, sampling=GREEDY, use_cache=use_cache)
        out[name + " s"] = time.perf_counter() - t0
    return {
        "preset": cfg_name, "params": gpt.num_params(),
        "no_cache_tokens_per_s": n / out["no cache s"], "kv_cache_tokens_per_s": n / out["KV cache s"],
        "kv_cache_speedup": out["no cache s"] / out["KV cache s"],
        "identical": bool(torch.equal(out["no cache"], out["KV cache"])),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--medusa-steps", type=int, default=150)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.quick:
        args.steps, args.medusa_steps, args.repeats = 20, 10, 1
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    tokens = tokenize(moving_squares(4))
    with tempfile.TemporaryDirectory() as tmp:
        gpt, heads = train(tokens, Path(tmp), args.steps, args.medusa_steps, args.heads)
    train_s = time.perf_counter() - t0
    hw = gpt.cfg.tokens_per_frame
    prefix, n = tokens[:1].flatten(1)[:, :hw], 16 * hw  # first latent frame -> 16 more
    res = decode_all(gpt, heads, prefix, n, args.repeats)
    out_tokens = res.pop("_tokens")
    bigger = None if args.quick else cache_vs_no_cache("small", prefix, n, tuple(gpt.cfg.latent_shape))
    memorised = float((out_tokens[0] == tokens[0].flatten()).float().mean())

    base, cached, medusa = res["no cache"], res["KV cache"], res["KV cache + Medusa"]
    table = Table(title=f"AR decoding, 16 latent frames ({n} tokens), greedy, {args.threads} thread(s)")
    for col in ("method", "tokens/s", "speed-up", "forward passes", "mean accepted", "identical"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, r in res.items():
        speedup = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x"
        table.add_row(name, f"{r['tokens_per_s']:.1f}", speedup, str(r["forward_passes"]),
                      f"{r['mean_accepted']:.2f}", str(r["identical_to_no_cache"]))  # fmt: skip
    console.print(table)
    summary = {
        "kv_cache_speedup": cached["tokens_per_s"] / base["tokens_per_s"],
        "medusa_speedup_over_kv_cache": medusa["tokens_per_s"] / cached["tokens_per_s"],
        "medusa_mean_accepted": medusa["mean_accepted"],
        "all_identical": all(r["identical_to_no_cache"] for r in res.values()),
        "continuation_matches_training_clip": memorised,
    }
    console.print(
        f"KV cache {summary['kv_cache_speedup']:.2f}x over no cache (target >= 5x); Medusa "
        f"{summary['medusa_speedup_over_kv_cache']:.2f}x over KV cache (target >= 2x), mean accepted "
        f"{summary['medusa_mean_accepted']:.2f}; outputs identical: {summary['all_identical']}"
    )
    fs.write_json(RESULTS, {
        "benchmark": "autoregressive decoding: no cache vs KV cache vs Medusa",
        "model": {"preset": "tiny", "params": gpt.num_params(), "latent_shape": list(gpt.cfg.latent_shape),
                  "vocab": gpt.cfg.vocab_size, "medusa_heads": heads.cfg.heads},
        "train": {"steps": args.steps, "medusa_steps": args.medusa_steps, "seconds": round(train_s, 1)},
        "decode": {"latent_frames": 16, "tokens": n, "repeats": args.repeats, "threads": args.threads},
        "results": res, "summary": summary, "small_preset_cache": bigger, "quick": args.quick,
        "machine": "shared 2-core CPU (noisy; other jobs running)", "versions": versions(),
    })  # fmt: skip
    if bigger is not None:
        console.print(
            f"small preset ({bigger['params'] / 1e6:.0f}M params, random weights): KV cache "
            f"{bigger['kv_cache_speedup']:.2f}x over no cache ({bigger['kv_cache_tokens_per_s']:.1f} vs "
            f"{bigger['no_cache_tokens_per_s']:.1f} tokens/s), identical: {bigger['identical']}"
        )
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
