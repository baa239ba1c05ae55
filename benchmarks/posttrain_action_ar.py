"""Action post-training of the AR world model (issue 24): does the GPT on DV tokens follow actions?

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/posttrain_action_ar.py > /tmp/paar.log &

The AR row of `benchmarks/posttrain_action.py`, on the same digital twin and held-out episodes:

1. Episodes: the table-top arm with exploratory actions, training from seed 0, held-out from seed 1,
   counterfactuals (K action sequences from each of a few held-out start states); rendered by
   `posttrain_action.render` (or reused from its ``--cache``).
2. The base: a tiny discrete tokenizer (FSQ 8,5,5,5 = 1,000 codes, 4x temporal, ``--spatial``x spatial
   compression, low-pass shortcut) and a tiny GPT trained on its tokens of the training clips *without*
   actions (an `ARWorld` bundle, what ``worldsmith train ar`` writes).
3. Post-training through `posttrain_ar_action` (what ``worldsmith posttrain action`` runs for an AR
   ``--init``): full fine-tuning from 2 seeds (+ LoRA r16 with ``--lora``).
4. Held-out scores (`eval.action`), 1 given frame, the rest decoded greedily token by token (KV cache):
   copy-last-frame, the DV tokenizer's reconstruction (the bound), the AR base without actions, the
   post-trained model under the true and under shuffled actions; action sensitivity on the
   counterfactuals.

Clips are ``--frames`` long (default 9: 3 latent frames of 16x16 tokens at 64x64 with ``--spatial 4``,
768 tokens), shorter than the diffusion benchmark's 17 frames so that the GPT trains in the budget
(at most 30 CPU-minutes on a shared 2-core machine); PSNR/skill are therefore not comparable with the
diffusion rows one to one. Targets: see `targets` in ``benchmarks/results/posttrain_action_ar.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

from posttrain_action import _l1, agent_id, episode_arguments, mean_row, render, score  # noqa: E402
from posttrain_action_select import _target, print_rows  # noqa: E402
from worldsmith import fs  # noqa: E402
from worldsmith.autoregressive.bundle import ARSpec, ARWorld  # noqa: E402
from worldsmith.autoregressive.gpt import GPT, get_preset  # noqa: E402
from worldsmith.autoregressive.objective import ARObjective  # noqa: E402
from worldsmith.data.episodes import read_action_clips  # noqa: E402
from worldsmith.eval.action import sensitivity  # noqa: E402
from worldsmith.machine import write_result  # noqa: E402
from worldsmith.posttrain.ar_action import (  # noqa: E402
    ARActionObjective,
    encode_tokens,
    predict_ar_with_actions,
)
from worldsmith.posttrain.ar_recipes import posttrain_ar_action  # noqa: E402
from worldsmith.posttrain.recipes import ActionPosttrainConfig  # noqa: E402
from worldsmith.posttrain.world import load_action_world  # noqa: E402
from worldsmith.runs import seeded_init, torch_threads, versions  # noqa: E402
from worldsmith.tokenizers.model import CausalTokenizer  # noqa: E402
from worldsmith.tokenizers.presets import get_preset as tokenizer_preset  # noqa: E402
from worldsmith.train import TrainConfig, Trainer  # noqa: E402
from worldsmith.video.transforms import to_model, to_uint8  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "posttrain_action_ar.json"
console = Console()
SIZE = 64


def train_base(cache: Path, args) -> Path:
    """DV tokenizer + GPT without actions on the training clips -> ``cache/ar_base/model``."""
    model_dir = cache / "ar_base" / "model"
    if (model_dir / "world.json").is_file():
        return model_dir
    clips = read_action_clips(cache / "train", frames=args.frames, stride=args.frames - 1)
    x = torch.stack([to_model(c) for c in clips.frames])  # [N, 3, F, H, W]
    tok_cfg = replace(tokenizer_preset("tiny-dv4x8x8"), encoder_channels=(16, 32, 32, 32),
                      decoder_channels=(16, 32, 32, 32), num_res_blocks=1, lowpass_shortcut=True,
                      spatial_compression=args.spatial)  # fmt: skip
    t0 = time.perf_counter()
    with seeded_init(0):
        tok = CausalTokenizer(tok_cfg)
    tcfg = TrainConfig(steps=args.tok_steps, batch_size=4, lr=1e-3, betas=(0.5, 0.999), warmup_steps=20,
                       log_every=50, tensorboard=False)  # fmt: skip
    with torch_threads(1):
        Trainer(tcfg, tok, _l1, list(x), out=cache / "ar_base" / "tokenizer_train").fit()
    tok.eval()
    with torch.no_grad():
        tokens = torch.cat([tok.encode(x[i : i + 8]) for i in range(0, len(x), 8)])  # [N, T, h, w]
    t1 = time.perf_counter()
    cfg = get_preset("tiny", latent_shape=tuple(tokens.shape[1:]), codebook_size=tok.fsq.codebook_size,
                     text_dim=None, dim=args.dim, layers=args.layers)  # fmt: skip
    with seeded_init(0):
        gpt = GPT(cfg)
    gcfg = TrainConfig(steps=args.base_steps, batch_size=args.batch, lr=3e-3, warmup_steps=20, log_every=50,
                       tensorboard=False)  # fmt: skip
    data = [{"tokens": t} for t in tokens]
    with torch_threads(1):
        Trainer(
            gcfg, gpt, ARObjective(max_positions=args.positions), data, out=cache / "ar_base" / "train"
        ).fit()
    spec = ARSpec(frames=args.frames, size=(SIZE, SIZE), fps=10.0, text_encoder="none")
    ARWorld(gpt.eval(), tok, spec).save_pretrained(model_dir)
    fs.write_json(cache / "ar_base" / "seconds.json", {"tokenizer": t1 - t0, "gpt": time.perf_counter() - t1})
    return model_dir


def posttrain(cache: Path, base: Path, rank: int, seed: int, args) -> dict:
    out = cache / f"ar_pt_r{rank}_s{seed}_{args.steps}"
    if (out / "posttrain_metrics.json").is_file():
        return json.loads((out / "posttrain_metrics.json").read_text())
    cfg = ActionPosttrainConfig(lora_rank=rank, action_dropout=0.0, stride=args.frames - 1)
    sets = [f"steps={args.steps}", f"batch_size={args.batch}", f"lr={args.lr}", "log_every=50"]
    return posttrain_ar_action(base, cache / "train", out, config=cfg, train={"seed": seed}, overrides=sets,
                               threads=1)  # fmt: skip


@torch.no_grad()
def reconstruct(world: ARWorld, clip: torch.Tensor) -> torch.Tensor:
    """uint8 ``[F, H, W, 3]`` -> the DV tokenizer's decode(encode(clip)), uint8."""
    return to_uint8(world.tokenizer.decode(encode_tokens(world, clip[None]))[0].clamp(-1, 1))


@torch.no_grad()
def token_ce(model, tokens: torch.Tensor, actions: torch.Tensor | None) -> float:
    """Held-out next-token cross-entropy (nats; the given latent frame is never a target): the most
    direct measure of whether a model uses its actions, before any decoding."""
    if actions is None:
        return float(ARObjective()(model, tokens)[0])
    return float(ARActionObjective()(model, {"tokens": tokens, "actions": actions})[0])


def cf_clips(cache: Path, start: int, frames: int):
    """The K counterfactual clips of one start state: each episode's first `frames` frames."""
    return read_action_clips(cache / "cf" / f"start_{start:02d}", frames=frames, masks=True, stride=100)


def main() -> None:
    p = episode_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--spatial", type=int, default=4, help="tokenizer spatial compression")
    p.add_argument("--tok-steps", type=int, default=400)
    p.add_argument("--dim", type=int, default=96)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch", type=int, default=4, help="clips per step (base and post-training)")
    p.add_argument("--positions", type=int, default=256, help="loss positions per sequence (0 = all)")
    p.add_argument("--base-steps", type=int, default=300)
    p.add_argument("--steps", type=int, default=200, help="post-training steps per run")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--lora", action="store_true", help="also post-train LoRA r16 (seed 0)")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    cache, t_start = args.cache, time.perf_counter()
    torch.set_num_threads(1)
    render(cache, args)
    base_dir = train_base(cache, args)
    runs = {(0, s): posttrain(cache, base_dir, 0, s, args) for s in range(args.seeds)}
    if args.lora:
        runs[(16, 0)] = posttrain(cache, base_dir, 16, 0, args)

    base = ARWorld.from_pretrained(base_dir)
    test = read_action_clips(cache / "test", frames=args.frames, stride=16, masks=True)
    agents = [agent_id(f) for f, _ in test.sources]
    given = test.frames[:, :1]
    rows_copy = score(given.expand_as(test.frames).clone(), test, agents)
    sse_copy = [r["sse"] for r in rows_copy]
    rows = [mean_row("copy last frame", rows_copy, sse_copy)]
    recon = torch.stack([reconstruct(base, c) for c in test.frames])
    rows.append(mean_row("DV tokenizer reconstruction (bound)", score(recon, test, agents), sse_copy))
    pred_base = predict_ar_with_actions(base, None, given, None)
    tokens = encode_tokens(base, test.frames)  # [N, T, h, w]: teacher-forced held-out cross-entropy
    row = mean_row("AR base, no actions", score(pred_base, test, agents), sse_copy)
    rows.append({**row, "token_ce": token_ce(base.gpt, tokens, None)})
    shuffled = test.actions.roll(1, 0)  # every clip gets another clip's actions
    cf = [cf_clips(cache, s, args.frames) for s in range(args.cf_starts)]
    cf_tokens = [encode_tokens(base, c.frames)[:, 1:] for c in cf]  # [K, T-1, h, w] futures per start
    # how much of the future the actions decide, in token space: the ground truth a model could follow
    token_diff = float(np.mean([(t[i] != t[j]).float().mean() for t in cf_tokens
                                for i in range(len(t)) for j in range(i + 1, len(t))]))  # fmt: skip
    sens = []
    for (rank, seed), info in runs.items():
        name = f"AR {'LoRA r16' if rank else 'full FT'} seed {seed}"
        world, net = load_action_world(Path(info["model_dir"]))
        for acts, tag in ((test.actions, ""), (shuffled, ", shuffled actions")):
            pred = predict_ar_with_actions(world, net, given, acts)
            row = mean_row(name + tag, score(pred, test, agents), sse_copy)
            ce = token_ce(net, tokens, acts)
            rows.append({**row, "rank": rank, "seed": seed, "shuffled": bool(tag), "token_ce": ce})
        per_start = []
        for c in cf:
            preds = predict_ar_with_actions(world, net, c.frames[:, :1], c.actions)
            arrays = [[x.numpy() for x in xs] for xs in (preds, c.frames, c.masks)]
            per_start.append(sensitivity(*arrays, agent=agent_id(c.sources[0][0])))
        sens.append({"method": name, "rank": rank, "seed": seed,
                     **{k: float(np.mean([d[k] for d in per_start])) for k in per_start[0]}})  # fmt: skip
    report(args, rows, sens, runs, time.perf_counter() - t_start, cache, token_diff)


def report(args, rows, sens, runs, seconds, cache, token_diff: float) -> None:
    print_rows(f"held-out action following, AR (1 given frame, {args.frames - 1} predicted, 64x64)", rows)
    for r in sens:
        console.print(
            f"sensitivity {r['method']}: match {r['match_centroid_px']:.2f} px, mismatch "
            f"{r['mismatch_centroid_px']:.2f} px, ratio {r['ratio_centroid_px']:.3f} "
            f"(mse {r['ratio_mse']:.3f})"
        )
    console.print(f"future DV tokens that differ between two counterfactual truths: {token_diff:.3f}")
    for r in rows:
        if "token_ce" in r:
            console.print(f"held-out token cross-entropy {r['method']}: {r['token_ce']:.4f}")
    by = {r["method"]: r for r in rows}
    seeds = range(args.seeds)
    full = [by[f"AR full FT seed {s}"] for s in seeds]
    shuf = [by[f"AR full FT seed {s}, shuffled actions"] for s in seeds]
    base = by["AR base, no actions"]
    vs_shuf = [a["arm_centroid_px"] / b["arm_centroid_px"] for a, b in zip(full, shuf, strict=True)]
    vs_base = [a["arm_centroid_px"] / base["arm_centroid_px"] for a in full]
    ratio = [r["ratio_centroid_px"] for r in sens if r["rank"] == 0]
    skill = [r["skill"] for r in full]
    ce_gap = [b["token_ce"] - a["token_ce"] for a, b in zip(full, shuf, strict=True)]  # > 0: actions help
    targets = [
        _target("AR: EE (arm) centroid error, actions / shuffled actions <= 0.5 (every seed)", max(vs_shuf),
                "shuffled actions", max(vs_shuf) <= 0.5),
        _target("AR: EE (arm) centroid error, actions / AR base without actions <= 0.5 (every seed)",
                max(vs_base), "AR base", max(vs_base) <= 0.5),
        _target("AR: action sensitivity, matching / mismatched truth centroid error <= 0.5 (every seed)",
                max(ratio), "mismatched truths", max(ratio) <= 0.5),
        _target("AR: skill over copy-last-frame (pooled SSE) > 0.2 (every seed)", min(skill),
                "copy last frame", min(skill) > 0.2),
        _target("AR: held-out token cross-entropy lower under the true than under shuffled actions "
                "(nats, every seed)", min(ce_gap), "shuffled actions", min(ce_gap) > 0),
        _target("AR: skill of the post-trained model above the AR base's (every seed)",
                min(skill) - base["skill"], "AR base", min(skill) > base["skill"]),
    ]  # fmt: skip
    for t in targets:
        console.print(f"[{'green' if t['met'] else 'red'}]{t['target']}: {t['value']:.3f}")
    if args.no_save:
        return
    seconds_file = cache / "ar_base" / "seconds.json"
    base_seconds = json.loads(seconds_file.read_text()) if seconds_file.is_file() else {}
    write_result(args.out, {
        "benchmark": "action post-training of the AR world model (issue 24)",
        "config": {k: v for k, v in vars(args).items() if k not in ("cache", "no_save", "out")},
        "rows": rows, "sensitivity": sens,
        "runs": {f"r{r}_s{s}": v for (r, s), v in runs.items()},
        "base_seconds": base_seconds, "counterfactual_token_difference": token_diff,
        "targets": targets, "seconds": round(seconds, 1),
        "threads": "1 torch thread, nice 10, a 2-core CPU shared by other agents", "versions": versions(),
    })  # fmt: skip
    console.print(f"wrote {args.out} in {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
