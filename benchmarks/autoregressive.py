"""AR world model: decoding speed (no cache vs KV cache vs Medusa) and the diffusion decoder's PSNR.

    flock /tmp/worldsmith-bench.lock .venv/bin/python benchmarks/autoregressive.py [--part speed|decoder]

Trained models are cached in ``--cache`` (default /tmp/worldsmith-ar-bench) and reused by later runs.

Speed (`--part speed`):
1. Data: moving-square clips (65 frames, 64x64) tokenized by a tiny DV tokenizer (FSQ 8,8,8,5,5,5 =
   64,000 codes, 4x8x8 compression, random weights: a fixed, deterministic pixel -> token map) into
   ``[17, 8, 8]`` token grids: 64 tokens per latent frame, the grid of DV4x8x8 on 64 px frames.
2. One GPT (the `tiny` preset at this grid) trained on them through the shared Trainer (loss on a
   random subset of positions per step), then 7 Medusa heads on the frozen GPT (Medusa-1).
3. Video2World from the first latent frame of a training clip, 16 latent frames (1024 tokens), greedy:
   no cache (full recomputation each token), KV cache, KV cache + Medusa (a single chain of the heads'
   top-1 tokens, and a candidate tree of top-2 branches). Every decoder computes logits of the needed
   positions only, through the same output projection. Outputs are checked identical in the same run;
   tokens/s are medians of interleaved repeats.

Diffusion decoder (`--part decoder`): physics-alignment twin episodes (17 frames, 64x64) rendered by
`worldsmith.sim`; tiny DV and CV tokenizers trained on them with the same budget; a tiny diffusion
decoder (DV tokens -> CV latents) trained through `train_diffusion_decoder`; PSNR on held-out
episodes (other seeds) of decode-by-DV vs decode-by-diffusion-decoder (then the CV decoder).
The decoder's sampling defaults (`DecoderConfig`) were chosen on validation episodes (seeds 2000+):
`--validation` scores the same rows there and keeps them apart in the JSON. `--fast` trains the
tokenizers and the decoder in bfloat16 autocast, compiled (the JSON's run).

Targets (issue 11): KV cache >= 5x over no cache; Medusa >= 2x over KV cache (mean accepted length);
diffusion decoder >= 1 dB over DV decoding. The machine is a shared 2-core CPU: absolute numbers are
noisy, ratios from interleaved runs less so. The GPT memorises its few training clips, so Medusa's
acceptance is that of an in-distribution, well-predicted continuation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from worldsmith import fs
from worldsmith.autoregressive.generate import generate
from worldsmith.autoregressive.gpt import GPT, get_preset
from worldsmith.autoregressive.medusa import (
    CandidateTree,
    MedusaConfig,
    MedusaHeads,
    MedusaModel,
    medusa_generate,
)
from worldsmith.autoregressive.objective import ARObjective, MedusaObjective
from worldsmith.autoregressive.recipes import TokenDataset
from worldsmith.autoregressive.sampling import GREEDY
from worldsmith.machine import read_result, write_result
from worldsmith.runs import versions
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset as tokenizer_preset
from worldsmith.train import TrainConfig, Trainer
from worldsmith.video.transforms import to_model

RESULTS = Path(__file__).parent / "results" / "autoregressive.json"
# What cProfile / torch.profiler showed before the changes (tiny preset, 1 thread; see docs/architecture.md).
PROFILE_NOTES = [
    "KV-cached step: ~70% in torch linear, mostly the 64,000 x 128 output projection of one row; "
    "F.linear took ~9 ms for it, h @ W^T with W^T contiguous ~2 ms, so every decoder now uses the latter",
    "text cross-attention K/V, preallocated KV buffers and last-position-only logits were already in place",
    "no-cache step at the 4x4 grid (16 tokens/frame): the body over <= 272 tokens costs little next to the "
    "output projection both methods pay, hence the old 1.6x; at the 8x8 grid of DV4x8x8 on 64 px the body "
    "over <= 1088 tokens dominates the no-cache step",
    "Medusa pass: ~75% in matmuls, mostly the output projection over (1 + nodes) verification rows plus K "
    "proposal rows; at D=128 these are compute-bound (~0.6 ms per row), so tree nodes cost speed",
]
MACHINE = "shared 2-core CPU (noisy: other agents' jobs running; 1 torch thread)"
console = Console()


def moving_squares(n: int, frames: int = 65, size: int = 64) -> torch.Tensor:
    """``n`` clips uint8 ``[n, T, H, W, 3]``: a coloured square crossing a grey floor, bouncing."""
    clips = np.full((n, frames, size, size, 3), 60, np.uint8)
    side = size // 3
    for i in range(n):
        color = np.array([(200, 60, 40), (40, 180, 90), (60, 90, 220), (220, 200, 40)][i % 4], np.uint8)
        top = size // 4 + 4 * (i % 3)
        for t in range(frames):
            span = size - side
            x = (3 * i + 2 * t) % (2 * span)
            x = x if x < span else 2 * span - x
            clips[i, t, top : top + side, x : x + side] = color
    return torch.from_numpy(clips)


def tokenize(clips: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    tok = CausalTokenizer(tokenizer_preset("tiny-dv4x8x8")).eval()
    with torch.no_grad():
        return torch.cat([tok.encode(to_model(c)[None]) for c in clips]).long()  # [N, T', h, w]


def train_once(
    tokens: torch.Tensor, out: Path, steps: int, medusa_steps: int, heads: int
) -> tuple[GPT, MedusaHeads, dict]:
    """The GPT and its Medusa heads, trained once into `out` (reused when there)."""
    info_path = out / "train.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        return (
            GPT.from_pretrained(out / "gpt").eval(),
            MedusaHeads.from_pretrained(out / "medusa").eval(),
            info,
        )
    torch.manual_seed(0)
    t0 = time.perf_counter()
    gpt = GPT(get_preset("tiny", latent_shape=tuple(tokens.shape[1:]), text_dim=None))
    data = TokenDataset(tokens)
    cfg = dict(batch_size=2, lr=3e-3, warmup_steps=20, log_every=25, tensorboard=False)
    Trainer(TrainConfig(steps=steps, **cfg), gpt, ARObjective(max_positions=256), data, out=out / "ar").fit()
    med = MedusaHeads(MedusaConfig(dim=gpt.cfg.dim, heads=heads))
    objective = MedusaObjective(max_positions=64)
    Trainer(
        TrainConfig(steps=medusa_steps, **cfg),
        MedusaModel(gpt, med),
        objective,
        data,
        out=out / "medusa_train",
    ).fit()
    gpt.eval().requires_grad_(True)
    gpt.save_pretrained(out / "gpt")
    med.eval().save_pretrained(out / "medusa")
    info = {"steps": steps, "medusa_steps": medusa_steps, "seconds": round(time.perf_counter() - t0, 1),
            "batch_size": 2, "loss_positions": 256, "medusa_loss_positions": 64}  # fmt: skip
    fs.write_json(info_path, info)
    return gpt.eval(), med.eval(), info


def decode_all(gpt: GPT, heads: MedusaHeads, prefix: torch.Tensor, n: int, repeats: int) -> dict:
    K = heads.cfg.heads
    trees = {"chain": CandidateTree.chain(K), "tree": CandidateTree.branching(K, width=2)}
    runs = {
        "no cache": lambda s: generate(gpt, prefix, n, sampling=GREEDY, use_cache=False, stats=s),
        "KV cache": lambda s: generate(gpt, prefix, n, sampling=GREEDY, stats=s),
        **{
            f"KV cache + Medusa ({name}, {len(tree.nodes)} nodes)": (
                lambda s, tree=tree: medusa_generate(
                    gpt, heads, prefix, n, sampling=GREEDY, tree=tree, stats=s
                )
            )
            for name, tree in trees.items()
        },
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
    kv = times["KV cache"]
    return {
        name: {
            "seconds": statistics.median(times[name]),
            "seconds_all": times[name],
            # the same round's KV-cache time over this method's: robust to load drifting between rounds
            "paired_speedup_over_kv_cache": statistics.median(
                k / t for k, t in zip(kv, times[name], strict=True)
            ),
            "tokens_per_s": n / statistics.median(times[name]),
            "forward_passes": stats[name]["forward_passes"],
            "mean_accepted": stats[name].get("mean_accepted", 1.0),
            "identical_to_no_cache": bool(torch.equal(outputs[name], ref)),
        }
        for name in runs
    } | {"_tokens": ref}


def speed_benchmark(cache: Path, *, steps: int, medusa_steps: int, heads: int, repeats: int) -> dict:
    t0 = time.perf_counter()
    tokens = tokenize(moving_squares(4))  # [4, 17, 8, 8]
    gpt, med, train_info = train_once(tokens, cache / f"speed_{steps}_{medusa_steps}_{heads}", steps,
                                      medusa_steps, heads)  # fmt: skip
    hw = gpt.cfg.tokens_per_frame
    prefix, n = tokens[:1].flatten(1)[:, :hw], 16 * hw  # first latent frame -> 16 more
    res = decode_all(gpt, med, prefix, n, repeats)
    out_tokens = res.pop("_tokens")
    base, cached = res["no cache"], res["KV cache"]
    memorised = (out_tokens[0] == tokens[0].flatten()).float().mean().item()
    medusa = {k: v for k, v in res.items() if "Medusa" in k}
    best = max(medusa, key=lambda k: medusa[k]["tokens_per_s"])
    table = Table(
        title=f"AR decoding, 16 latent frames ({n} tokens, grid {list(gpt.cfg.latent_shape)}), greedy"
    )
    for col in (
        "method",
        "tokens/s",
        "vs no cache",
        "vs KV cache",
        "forward passes",
        "mean accepted",
        "identical",
    ):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, r in res.items():
        table.add_row(name, f"{r['tokens_per_s']:.1f}", f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x",
                      f"{r['tokens_per_s'] / cached['tokens_per_s']:.2f}x", str(r["forward_passes"]),
                      f"{r['mean_accepted']:.2f}", str(r["identical_to_no_cache"]))  # fmt: skip
    console.print(table)
    return {
        "model": {"preset": "tiny", "params": gpt.num_params(), "latent_shape": list(gpt.cfg.latent_shape),
                  "tokens_per_latent_frame": hw, "grid_note": "DV4x8x8 on 64x64 frames",
                  "vocab": gpt.cfg.vocab_size, "medusa_heads": med.cfg.heads},
        "train": train_info,
        "decode": {"latent_frames": 16, "tokens": n, "repeats": repeats, "threads": torch.get_num_threads()},
        "results": res,
        "summary": {
            "kv_cache_speedup": cached["tokens_per_s"] / base["tokens_per_s"],
            "medusa_best": best,
            "medusa_speedup_over_kv_cache": medusa[best]["tokens_per_s"] / cached["tokens_per_s"],
            "medusa_paired_speedup_over_kv_cache": medusa[best]["paired_speedup_over_kv_cache"],
            "kv_cache_paired_speedup": 1 / base["paired_speedup_over_kv_cache"],
            "medusa_mean_accepted": medusa[best]["mean_accepted"],
            "all_identical": all(r["identical_to_no_cache"] for r in res.values()),
            "continuation_matches_training_clip": memorised,
        },
        "seconds": round(time.perf_counter() - t0, 1),
        "profile_notes": PROFILE_NOTES,
    }  # fmt: skip


# --- the diffusion decoder: decode-by-DV vs decode-by-diffusion-decoder on held-out twin episodes -----


def twin_episodes(root: Path, episodes: int, seed: int) -> list[Path]:
    """Physics-alignment episodes (17 frames, 64x64) rendered once into `root` (resumed after)."""
    from worldsmith.sim.catalogue import PHYSICS_ALIGNMENT
    from worldsmith.sim.dataset import DatasetConfig, write_dataset

    cfg = DatasetConfig(scenarios=tuple(PHYSICS_ALIGNMENT), episodes=episodes, frames=17, size=64, seed=seed,
                        masks=False, depth=False)  # fmt: skip
    write_dataset(cfg, root, workers=1)
    return sorted(root.rglob("cam0.mp4"))


def train_tokenizer_once(
    preset: str, videos: list[torch.Tensor], out: Path, steps: int, shortcut: bool = False, fast: bool = False
) -> Path:
    """A tiny tokenizer (the demo's widths) trained once into `out`; reused when already there."""
    from worldsmith.data import ClipDataset
    from worldsmith.tokenizers.train import train_tokenizer

    if not (out / "tokenizer" / "model.safetensors").is_file():
        st = tokenizer_preset(preset).temporal_compression
        data = ClipDataset(videos, frames=1 + 2 * st, stride=st)
        small = dict(encoder_channels=(16, 32, 32, 32), decoder_channels=(16, 32, 32, 32), num_res_blocks=1,
                     lowpass_shortcut=shortcut)  # fmt: skip
        train_tokenizer(
            preset,
            data,
            out,
            steps=steps,
            batch_size=4,
            seed=0,
            overrides=small,
            precision="bf16" if fast else "fp32",
            compile=fast,
        )
    return out / "tokenizer"


def prepare_tokenizers(
    cache: Path,
    dv_preset: str,
    cv_preset: str,
    tok_steps: int,
    quick: bool,
    shortcut: bool = False,
    fast: bool = False,
) -> tuple[list[Path], list[Path], Path, Path]:
    """Twin episodes (train: seeds 0.., held out: seeds 1000..) and the DV and CV tokenizers trained on
    the training episodes with the same budget; all cached."""
    from worldsmith.video import io

    train_files = twin_episodes(cache / "episodes" / "train", 16 if quick else 64, seed=0)
    test_files = twin_episodes(cache / "episodes" / "test", 8 if quick else 16, seed=1000)
    train_videos = [io.read(f).frames for f in train_files]
    lp = ("_lp" if shortcut else "") + ("_bf16c" if fast else "")  # other recipes are cached apart
    dv_dir, cv_dir = (
        train_tokenizer_once(p, train_videos, cache / f"{p}_{tok_steps}{lp}", tok_steps, shortcut, fast)
        for p in (dv_preset, cv_preset)
    )
    return train_files, test_files, dv_dir, cv_dir


def decoder_benchmark(
    cache: Path,
    *,
    dv_preset: str,
    cv_preset: str,
    tok_steps: int,
    dec_steps: int,
    quick: bool,
    dec_episodes: int = 64,
    shortcut: bool = False,
    fast: bool = False,
    validation: bool = False,
) -> dict:
    """PSNR of decoding the DV tokens of held-out episodes (seeds 1000+) by the DV decoder, the CV
    reconstruction and the diffusion decoder's default and variants. ``validation=True`` scores the
    same rows on other episodes (seeds 2000+), where the decoder's sampling defaults were chosen."""
    from dataclasses import replace

    from worldsmith.autoregressive.diffusion_decoder import (
        DecoderConfig,
        decode_video,
        load_decoder,
        train_diffusion_decoder,
    )
    from worldsmith.eval.metrics import psnr
    from worldsmith.video import io
    from worldsmith.video.transforms import to_uint8

    t0 = time.perf_counter()
    train_files, test_files, dv_dir, cv_dir = prepare_tokenizers(
        cache, dv_preset, cv_preset, tok_steps, quick, shortcut, fast
    )
    if validation:
        test_files = twin_episodes(cache / "episodes" / "val", len(test_files), seed=2000)
    test_videos = [io.read(f).frames for f in test_files]  # uint8 [17, 64, 64, 3]
    data_s = time.perf_counter() - t0
    tag = ("_lp" if shortcut else "") + ("_bf16c" if fast else "")
    out = cache / f"decoder_{dv_preset}_{cv_preset}_{tok_steps}_{dec_steps}{tag}"
    dec_data = cache / "episodes" / "train"
    if dec_episodes != len(train_files):  # the decoder may see more episodes than the tokenizers did
        dec_data = cache / "episodes" / f"train_{dec_episodes}"
        twin_episodes(dec_data, dec_episodes, seed=0)
        out = out.with_name(out.name + f"_{dec_episodes}ep")
    if not (out / "model" / "model.safetensors").is_file():
        recipe = ["train.precision=bf16", "train.parallel.compile=true"] if fast else []
        overrides = [f"train.steps={dec_steps}", "train.batch_size=8", *recipe]
        train_diffusion_decoder(dv_dir, cv_dir, dec_data, out, overrides=overrides)
    decoder, cv = load_decoder(out / "model")
    dv = CausalTokenizer.from_pretrained(dv_dir).eval()
    rows: dict[str, list[float]] = {"DV decoder": [], "CV reconstruction (upper bound)": []}
    # a cached decoder keeps the sampling settings it was saved with: decode as a new one does
    fresh = DecoderConfig()
    sampling = ("sampler", "steps", "init_sigma", "samples")
    decoder.cfg = replace(decoder.cfg, **{k: getattr(fresh, k) for k in sampling})
    c = decoder.cfg
    name0 = (f"diffusion decoder (default: SDEdit from the DV decode at sigma {c.init_sigma:g}, "
             f"{c.sampler} {c.steps} steps, mean latents of {c.samples} samples)")  # fmt: skip
    alternatives = {
        f"diffusion decoder (from noise, {s}, {n} step{'s' * (n > 1)})": {
            "samples": 1,
            "steps": n,
            "sampler": s,
        }
        # one Euler step from sigma_max is the denoiser's own estimate of E[latents | tokens]
        for s, n in (("euler", 10), ("heun", 10), ("heun", 20), ("euler", 1), ("euler", 3))
    }
    variants = {
        name0: {},
        **alternatives,
        "diffusion decoder (from noise, mean latents of 4 samples, euler 10 steps)": {"samples": 4,
                                                                                      "steps": 10},
        **{
            f"diffusion decoder (SDEdit from the DV decode, sigma {s:g}, euler {n} steps)": {
                "samples": 1, "sigma_start": s, "steps": n}
            for s, n in ((0.25, 10), (0.5, 10), (1.0, 10), (2.0, 10), (0.5, 3))
        },
    }  # fmt: skip
    rows |= {name: [] for name in variants}

    def diffusion_decode(tokens: torch.Tensor, seed: int, samples: int, **kw) -> torch.Tensor:
        if "sigma_start" in kw:  # SDEdit: start from the DV decode, CV-encoded, noised to sigma_start
            kw["init"] = cv.encode(dv.decode(tokens).clamp(-1, 1))
        z = [decoder.sample(tokens, generator=torch.Generator().manual_seed(seed * 100 + j), **kw)
             for j in range(samples)]  # fmt: skip
        return cv.decode(torch.stack(z).mean(0))  # several samples: towards the posterior mean

    t1 = time.perf_counter()
    for i, frames in enumerate(test_videos):
        torch.set_grad_enabled(False)
        x = to_model(frames)[None]  # [1, 3, 17, 64, 64]
        tokens = dv.encode(x)
        rows["DV decoder"].append(psnr(to_uint8(dv.decode(tokens)[0]), frames).mean().item())
        rows["CV reconstruction (upper bound)"].append(
            psnr(to_uint8(cv.decode(cv.encode(x))[0]), frames).mean().item()
        )
        for name, kw in variants.items():
            if not kw:  # the default: what `generate ar-video2world --diffusion-decoder` does
                g = torch.Generator().manual_seed(i * 100)
                video = decode_video(decoder, cv, tokens, generator=g, dv=dv)
            else:
                video = diffusion_decode(tokens, i, **kw)
            rows[name].append(psnr(to_uint8(video[0]), frames).mean().item())
    torch.set_grad_enabled(True)
    eval_s = time.perf_counter() - t1
    metrics = json.loads((out / "decoder_metrics.json").read_text())
    psnrs = {name: statistics.mean(v) for name, v in rows.items()}
    default = next(iter(variants))
    return {
        "data": {"train_episodes": len(train_files), "decoder_train_episodes": dec_episodes,
                 "held_out_episodes": len(test_files),
                 "frames": 17, "size": 64, "scenarios": "physics alignment (8)",
                 "held_out_seeds": "2000+ (validation)" if validation else "1000+"},
        "tokenizers": {"dv": dv_preset, "cv": cv_preset, "steps_each": tok_steps,
                       "lowpass_shortcut": shortcut, "channels": [16, 32, 32, 32], "res_blocks": 1},
        "decoder": {"params": decoder.num_params(), "train_steps": dec_steps,
                    "latent_grid": metrics["latent_grid"],
                    "train_seconds": metrics["train_seconds"], "loss_last": metrics["loss_last"],
                    "sampler": decoder.cfg.sampler, "sampler_steps": decoder.cfg.steps,
                    "init_sigma": decoder.cfg.init_sigma, "samples": decoder.cfg.samples,
                    "precision": "bf16, compiled" if fast else "fp32"},
        "psnr_db": psnrs,
        "psnr_db_per_episode": rows,
        "gain_db": psnrs[default] - psnrs["DV decoder"],
        "gain_db_best_variant": max(psnrs[k] for k in variants) - psnrs["DV decoder"],
        "seconds": {"data_and_tokenizers": round(data_s, 1), "eval": round(eval_s, 1)},
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("all", "speed", "decoder", "tokenizers"), default="all",
                    help="tokenizers: only render the twin episodes and train the decoder part's tokenizers "
                    "into the cache (a separate, shorter run)")  # fmt: skip
    ap.add_argument("--cache", type=Path, default=Path("/tmp/worldsmith-ar-bench"))
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--medusa-steps", type=int, default=200)
    ap.add_argument("--heads", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokenizer-steps", type=int, default=1200)
    ap.add_argument("--decoder-steps", type=int, default=3000)
    ap.add_argument("--decoder-episodes", type=int, default=64, help="twin episodes the decoder trains on")
    ap.add_argument("--dv", default="tiny-dv8x16x16", help="DV tokenizer preset of the decoder benchmark")
    ap.add_argument("--cv", default="tiny-cv8x8x8", help="CV tokenizer preset of the decoder benchmark")
    ap.add_argument("--lowpass-shortcut", action="store_true", help="tokenizers with the low-pass shortcut")
    ap.add_argument(
        "--validation",
        action="store_true",
        help="decoder part: score on validation episodes (seeds 2000+), kept apart in the JSON",
    )
    ap.add_argument("--fast", action="store_true",
                    help="train the decoder part's tokenizers and decoder in bf16, compiled")  # fmt: skip
    args = ap.parse_args()
    if args.quick:
        args.steps, args.medusa_steps, args.repeats, args.decoder_steps = 20, 10, 1, 20
        args.tokenizer_steps, args.cache = 20, args.cache / "quick"
    torch.set_num_threads(1)
    if args.part == "tokenizers":
        prepare_tokenizers(args.cache, args.dv, args.cv, args.tokenizer_steps, quick=args.quick,
                           shortcut=args.lowpass_shortcut, fast=args.fast)  # fmt: skip
        return
    old = read_result(RESULTS) if not args.quick else {}
    result = {
        "benchmark": "autoregressive: decoding speed (no cache / KV cache / Medusa) and diffusion decoder"
    }
    if args.part in ("all", "speed"):
        speed = speed_benchmark(args.cache, steps=args.steps, medusa_steps=args.medusa_steps,
                                heads=args.heads, repeats=args.repeats)  # fmt: skip
        s = speed["summary"]
        console.print(
            f"KV cache {s['kv_cache_speedup']:.2f}x over no cache (target >= 5x); "
            f"Medusa ({s['medusa_best']}) "
            f"{s['medusa_speedup_over_kv_cache']:.2f}x over KV cache (paired per round: "
            f"{s['medusa_paired_speedup_over_kv_cache']:.2f}x; target >= 2x), mean accepted "
            f"{s['medusa_mean_accepted']:.2f}; outputs identical: {s['all_identical']}"
        )
    else:
        speed = old.get("speed")
    if args.part in ("all", "decoder"):
        dec = decoder_benchmark(args.cache, dv_preset=args.dv, cv_preset=args.cv,
                                tok_steps=args.tokenizer_steps, dec_steps=args.decoder_steps,
                                quick=args.quick, dec_episodes=args.decoder_episodes,
                                shortcut=args.lowpass_shortcut, fast=args.fast,
                                validation=args.validation)  # fmt: skip
        which = "Validation" if args.validation else "Held-out"
        table = Table(title=f"{which} twin episodes: PSNR of decoding DV tokens")
        table.add_column("decoder")
        table.add_column("PSNR (dB)", justify="right")
        for name, v in dec["psnr_db"].items():
            table.add_row(name, f"{v:.2f}")
        console.print(table)
        console.print(f"diffusion decoder {dec['gain_db']:+.2f} dB over DV decoding (target >= +1 dB)")
    else:
        dec = old.get("diffusion_decoder")
    validation = old.get("diffusion_decoder_validation")
    if args.validation and args.part in ("all", "decoder"):
        dec, validation = old.get("diffusion_decoder"), dec
    result |= {"speed": speed, "diffusion_decoder": dec, "diffusion_decoder_validation": validation,
               "quick": args.quick, "load": MACHINE, "versions": versions()}  # fmt: skip
    if not args.quick:
        write_result(RESULTS, result)
        console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
