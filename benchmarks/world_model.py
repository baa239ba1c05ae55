"""Does the diffusion model carry the dynamics? (issue 28)

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/world_model.py > /tmp/wm.log &

The committed JSON was made on a shared machine with one tokenizer for all runs (trained on the
first 40 training episodes per scenario, 800 steps), one process per seed, then merged. The
earlier variants' tables (320 training episodes, 1500 DiT steps) are in docs/architecture.md:

    B="benchmarks/world_model.py --work W --tokenizer-seed 0"   # 1600 episodes, DiT 12000 steps
    python $B --seeds 0 --out Q0.json & python $B --seeds 1 --out Q1.json   # ~70 min each, 37 CPU-min
    python $B --merge Q0.json Q1.json   # trains nothing: merges the two seeds into the JSON
    # the sampler sweep of the docs: --samplers euler:3 euler:5 euler:10 euler:20 euler:35 heun:3 ...
    # the 6000 / 3000-step tables: --dit-steps 6000 / 3000 in another --work, and the ablation
    python $B --dit-steps 3000 --seeds 0 --variants s4-residual-given   # without channel weights

1. Twins (`sim.make_episode`): the 8 physics scenarios, 17 frames at 64 px and 10 fps. Training
   episodes use seeds 0..K-1 per scenario; the held-out ones follow `eval.dynamics.HeldOut` (fixed
   before any model was scored: 3 per scenario, seeds from 2**31 + 100000, 5 given frames, 12
   predicted, horizon bins 1-4 / 5-8 / 9-12), each with a second take re-simulated from a start
   displaced by 1 mm / 1 mrad per degree of freedom (the physical variance of Physics-IQ).
2. Per variant and seed: a tiny causal tokenizer (4x temporal; spatial 4 or 8; L1 + temporal-
   consistency loss, `tokenizers.train.train_tokenizer`) and a tiny Video2World DiT on its latents
   (`diffusion.recipes.train_world_model`, optionally residual to the last given latent, scaled to
   std ~sigma_data, with the given frames as input channels, the loss weighted per latent channel by
   what the decoder shows: `VARIANTS`).
3. The sampler of each run: the candidates `SAMPLERS`, scored on `VALIDATION` episodes (3 more per
   scenario, seeds that neither training nor the held-out rule draws); `choose_sampler` takes the
   highest Physics-IQ score among those whose pooled-MSE skill over copy-last is above 0.
   Predictions of the held-out futures from 2 given latent frames, decoded plainly
   (`tokenizer.decode`) or relative to the last given frame (`diffusion.generate.decode_relative`);
   the no-DiT ablation decodes the last given latent held over the future in the same way.
4. `eval.dynamics.score`: PSNR / SSIM / object IoU, the Physics-IQ terms and score, pooled-MSE skill
   over copy-last and linear extrapolation per horizon bin; overall and per scenario. Each method's
   numbers are the mean over seeds with the spread (half the range).

Targets (computed here; `benchmarks/results/world_model.json`): the main row's skill over copy-last
> 0 in every seed; its Physics-IQ spatial and spatiotemporal IoU above copy-last's and linear's;
its skill and spatiotemporal IoU above the no-DiT row's beyond the seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.generate import decode_relative
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.diffusion.pipeline import predict_latents
from worldsmith.diffusion.recipes import decoder_channel_weights, fit_preset, train_world_model
from worldsmith.diffusion.world import WorldModel
from worldsmith.eval.dynamics import HeldOut, render_held_out, score
from worldsmith.fs import atomic_path
from worldsmith.machine import read_result, write_result
from worldsmith.runs import torch_threads, versions
from worldsmith.sim.episode import make_episode
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.objective import ObjectiveConfig as TokenizerObjectiveConfig
from worldsmith.tokenizers.train import train_tokenizer
from worldsmith.video.transforms import to_model, to_uint8

RESULTS = Path(__file__).parent / "results" / "world_model.json"
console = Console(width=230)
RULE = HeldOut()
# where samplers are compared (`--samplers`): 3 more episodes per scenario, seeds neither the training
# footage (0..K-1) nor the held-out rule (2**31 + 100000..) draws; fixed before any model was scored
VALIDATION = replace(RULE, seed_base=2**31 + 200_000)
SAMPLERS = ("euler:3", "euler:5", "euler:10", "heun:5")  # the candidates, fixed before the 12000-step runs
N_COND = 2  # given latent frames (= RULE.given = 5 frames at 4x temporal compression)
# name -> (tokenizer spatial compression, DiT config fields, DiT objective, residual scale: "measure"
# = measured on the training latents (`train_world_model`), 1 = off)
TWO_GIVEN = ObjectiveConfig(min_cond_frames=2, max_cond_frames=2, p_text2world=0.0)
M = "measure"
RES, GIVEN = {"residual_to_given": True}, {"residual_to_given": True, "given_channels": True}
VARIANTS = {
    "s4-residual": (4, RES, TWO_GIVEN, M),
    "s4-residual-given": (4, GIVEN, TWO_GIVEN, M),  # + the last given frame and its change per frame
    "s4-residual-unscaled": (4, RES, TWO_GIVEN, 1.0),  # the change denoised at its own std (~0.09)
    "s4-plain": (4, {}, TWO_GIVEN, None),
    "s4-residual-mixed": (4, RES, ObjectiveConfig(), M),  # the default: 1..2 given, 25% Text2World
    "s8-residual": (8, RES, TWO_GIVEN, M),
    # unscaled, training noise near the size of the change (ln sigma ~ N(-2.4, 1): median 0.09)
    "s4-residual-lowsigma": (4, RES, replace(TWO_GIVEN, edm=EDMConfig(P_mean=-2.4, P_std=1.0)), 1.0),
    # scaled + given channels, the loss weighted per channel by what the decoder shows
    # (`recipes.decoder_channel_weights`: this tokenizer's decoder reads mostly channels 0-2)
    "s4-visible": (4, GIVEN, TWO_GIVEN, M),
}
VISIBLE = {"s4-visible"}  # variants whose objective gets the tokenizer's decoder channel weights
MAIN = "s4-visible"


def stage_data(work: Path, per_scenario: int) -> tuple[np.ndarray, dict]:
    path = work / "data.npz"
    if not path.exists():
        kw = dict(frames=RULE.frames, size=RULE.size, fps=RULE.fps, depth=False, masks=False)
        train = [make_episode(s, k, **kw).frames[0] for s in RULE.scenarios for k in range(per_scenario)]
        held = render_held_out(RULE)
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, train=np.stack(train), **held)
    with np.load(path) as d:
        return d["train"], episodes(d)


def episodes(d) -> dict:
    """The `render_held_out` arrays of an opened npz (``frames``, ``take2``, ``masks``, ``scenario``)."""
    return {k: d[k] for k in ("frames", "take2", "masks")} | {"scenario": [str(s) for s in d["scenario"]]}


def stage_validation(work: Path) -> dict:
    """The `VALIDATION` episodes (rendered once into ``work/validation.npz``)."""
    path = work / "validation.npz"
    if not path.exists():
        val = render_held_out(VALIDATION)
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **{k: v for k, v in val.items() if k != "caption"})
    with np.load(path) as d:
        return episodes(d)


def first_per_scenario(train: np.ndarray, per_scenario: int, n: int) -> np.ndarray:
    """The first `n` of the `per_scenario` training episodes of every scenario (scenario-major)."""
    return train.reshape(-1, per_scenario, *train.shape[1:])[:, :n].reshape(-1, *train.shape[1:])


def videos(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, T, H, W, 3]`` -> ``[N, 3, T, H, W]`` in [-1, 1]."""
    return torch.stack([to_model(torch.from_numpy(f)) for f in frames])


def stage_tokenizer(work: Path, spatial: int, seed: int, steps: int, train: np.ndarray) -> CausalTokenizer:
    folder = work / f"tokenizer_s{spatial}_seed{seed}"
    if not (folder / "tokenizer" / "config.json").exists():
        overrides = dict(encoder_channels=(16, 32, 32, 32), decoder_channels=(16, 32, 32, 32),
                         num_res_blocks=1, lowpass_shortcut=True, spatial_compression=spatial)  # fmt: skip
        with torch_threads(1):
            train_tokenizer("tiny-CV4x8x8", videos(train), folder, steps=steps, seed=seed,
                            overrides=overrides, objective=TokenizerObjectiveConfig(stage=2))  # fmt: skip
    return CausalTokenizer.from_pretrained(folder / "tokenizer").eval()


@torch.no_grad()
def encode(tok: CausalTokenizer, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([tok.encode(x[i : i + 8]) for i in range(0, len(x), 8)])


@torch.no_grad()
def decode(tok: CausalTokenizer, z: torch.Tensor) -> torch.Tensor:
    return torch.cat([tok.decode(z[i : i + 8]) for i in range(0, len(z), 8)]).clamp(-1, 1)


def stage_world(work: Path, name: str, seed: int, steps: int, tok, train: np.ndarray) -> WorldModel:
    folder = work / f"dit_{name}_seed{seed}"
    if not (folder / "model" / "world.json").exists():
        latents = encode(tok, videos(train))  # [N, 16, 5, h, w]
        _, fields, objective, scale = VARIANTS[name]
        if name in VISIBLE:
            objective = replace(objective, channel_weights=decoder_channel_weights(tok, latents))
        small = tuple(max(s, 8) for s in latents.shape[2:])  # position tables just over the latents
        cfg = fit_preset("tiny", tuple(latents.shape[1:]), max_size=small, **fields)
        train_world_model(latents, folder, dit_cfg=cfg, train={"steps": steps, "seed": seed}, fps=RULE.fps,
                          objective=objective, threads=1, residual_scale=scale)  # fmt: skip
    return WorldModel.from_pretrained(folder / "model")


def future(x: torch.Tensor) -> np.ndarray:
    """The predicted frames of videos ``[N, 3, T, H, W]``: uint8 ``[N, F, H, W, 3]``."""
    return np.stack([to_uint8(v).numpy()[RULE.given :] for v in x])


class Predictor:
    """Latent samples of the futures of episodes ``[N, T, H, W, 3]`` from their given frames, and their
    decodes (plain, or relative to the last given frame)."""

    def __init__(self, tok, world, frames: np.ndarray, seed: int):
        self.tok, self.world, self.seed = tok, world, seed
        self.x = videos(frames)  # [N, 3, T, H, W]
        self.given = self.x[:, :, : RULE.given]
        self.cond = encode(tok, self.given)  # [N, 16, 2, h, w]
        self.T = world.spec.latent_size[0]

    def sample(self, name: str, steps: int) -> torch.Tensor:
        kw = dict(total_frames=self.T, sampler=name, steps=steps, seed=self.seed)
        c = self.cond
        return torch.cat([predict_latents(self.world, c[i : i + 8], **kw) for i in range(0, len(c), 8)])

    def held(self) -> torch.Tensor:
        return torch.cat([self.cond, self.cond[:, :, -1:].expand(-1, -1, self.T - N_COND, -1, -1)], dim=2)

    def relative(self, z: torch.Tensor) -> torch.Tensor:
        g = self.given
        return torch.cat(
            [decode_relative(self.tok, g[i : i + 8], z[i : i + 8], N_COND) for i in range(0, len(z), 8)]
        )


@torch.no_grad()
def pick_sampler(
    tok, world, val: dict, seed: int, candidates: list[tuple[str, int]]
) -> tuple[tuple[str, int], dict]:
    """The sampler chosen on the VALIDATION episodes (`VALIDATION`, never the held-out ones): the
    highest Physics-IQ score among the candidates whose pooled-MSE skill over copy-last is above 0
    (the first candidate if none is). Returns it and every candidate's validation numbers."""
    pred = Predictor(tok, world, val["frames"], seed)
    table = {}
    for name, steps in candidates:
        res = score(val, {"DiT": future(pred.relative(pred.sample(name, steps)))}, VALIDATION)
        m = res["overall"]["DiT"]
        keys = ("physics_iq", "spatial_iou", "spatiotemporal_iou")
        table[f"{name} {steps}"] = {k: round(float(m[k]), 4) for k in keys}
        table[f"{name} {steps}"]["skill_copy"] = round(float(m["skill_copy"]["1-12"]), 4)
    name, steps = choose_sampler(table).split()
    return (name, int(steps)), table


def choose_sampler(table: dict[str, dict[str, float]]) -> str:
    """The rule of `pick_sampler` on ``{"euler 3": {"physics_iq", "skill_copy", ...}, ...}`` (in the
    order tried): the highest Physics-IQ score among those with skill > 0, else the first."""
    ok = [k for k, v in table.items() if v["skill_copy"] > 0] or list(table)[:1]
    return max(ok, key=lambda k: table[k]["physics_iq"])


@torch.no_grad()
def predictions(tok, world, held: dict, seed: int, sampler: tuple[str, int]) -> dict[str, np.ndarray]:
    pred = Predictor(tok, world, held["frames"], seed)
    x = pred.x
    lat, mean = pred.sample(*sampler), pred.sample("euler", 1)  # a sample; one step from noise: E[future]
    held_lat, rel = pred.held(), pred.relative
    return {
        "DiT, relative decode": future(rel(lat)),
        "no DiT, relative decode": future(rel(held_lat)),
        "DiT, plain decode": future(decode(tok, lat)),
        "DiT one-step mean, relative decode": future(rel(mean)),
        "no DiT, plain decode": future(decode(tok, held_lat)),
        "tokenizer reconstruction": future(decode(tok, encode(tok, x))),
    }


def aggregate(per_seed: list[dict]) -> dict:
    """Mean and spread (half the range) over seeds of every number of every method and scenario."""

    def walk(items: list):
        first = items[0]
        if isinstance(first, dict):
            return {k: walk([it[k] for it in items]) for k in first if all(k in it for it in items)}
        v = np.array(items, float)
        return {"mean": float(np.mean(v)), "spread": float((v.max() - v.min()) / 2), "seeds": v.tolist()}

    return walk(per_seed)


BINS = ("1-4", "5-8", "9-12")
SCENARIO_KEYS = ("psnr", "iou", "spatial_iou", "spatiotemporal_iou", "physics_iq", "skill_copy")


def shared_row(method: str) -> bool:
    """A row that only the tokenizer decides (no DiT, tokenizer reconstruction) of a variant other
    than the main one: the same numbers as the main variant's (one tokenizer for all)."""
    return not method.startswith(f"{MAIN}:") and ("no DiT" in method or "tokenizer" in method)


def compact(tree, scenario: bool = False):
    """Numbers rounded to 4 decimals. Per-scenario tables (`scenario`) keep the baselines and the
    (no-)DiT relative-decode rows, the metrics `SCENARIO_KEYS` (skill over frames 1-12) and mean /
    spread (no per-seed values)."""
    if isinstance(tree, float):
        return round(tree, 4)
    if isinstance(tree, list):
        return [compact(v) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if scenario and "mean" in tree:
        return {k: compact(tree[k]) for k in ("mean", "spread")}
    if scenario and "psnr" in tree:  # a method row
        row = {k: compact(tree[k], scenario) for k in SCENARIO_KEYS if k in tree}
        return row | {"skill_copy": {"1-12": row["skill_copy"]["1-12"]}}
    if scenario and any("psnr" in v for v in tree.values() if isinstance(v, dict)):  # a scenario's rows
        keep = [k for k in tree if (":" not in k or k.endswith("DiT, relative decode")) and not shared_row(k)]
        return {k: compact(tree[k], scenario) for k in keep}
    return {k: compact(v, scenario) for k, v in tree.items()}


def targets(agg: dict) -> list[dict]:
    o = agg["overall"]
    main, nodit = f"{MAIN}: DiT, relative decode", f"{MAIN}: no DiT, relative decode"
    rows = []

    def add(target, value, reference, met):
        rows.append({"target": target, "value": value, "reference": reference, "met": bool(met)})

    skill = o[main]["skill_copy"]["1-12"]
    add("world model skill over copy-last (pooled MSE, future frames 1-12) > 0 in every seed",
        skill["seeds"], 0.0, min(skill["seeds"]) > 0)  # fmt: skip
    for term in ("spatial_iou", "spatiotemporal_iou"):
        for base in ("copy last frame", "linear extrapolation"):
            v, r = o[main][term], o[base][term]
            add(f"world model Physics-IQ {term} > {base} (every seed)", v["seeds"], r["mean"],
                min(v["seeds"]) > r["mean"])  # fmt: skip
    for key, label in (
        (("skill_copy", "1-12"), "skill over copy-last"),
        (("spatiotemporal_iou",), "spatiotemporal IoU"),
    ):
        a, b = o[main], o[nodit]
        for k in key:
            a, b = a[k], b[k]
        beyond = a["mean"] - a["spread"] > b["mean"] + b["spread"]
        add(f"DiT row above no-DiT row on {label} beyond the seed spread (mean - spread > mean + spread)",
            [a["mean"], a["spread"]], [b["mean"], b["spread"]], beyond)  # fmt: skip
    return rows


def show(agg: dict, title: str) -> None:
    t = Table(title=title)
    cols = ("psnr", "ssim", "iou", "pooled_psnr", "spatial_iou", "spatiotemporal_iou", "weighted_spatial_iou",
            "mse", "physics_iq")  # fmt: skip
    for c in ("method", *cols, "skill copy 1-4/5-8/9-12", "skill linear 1-12"):
        t.add_column(c)
    for name, m in agg.items():
        cells = [
            "-"
            if c not in m
            else f"{m[c]['mean']:.2e}"
            if c == "mse"
            else f"{m[c]['mean']:.3f}±{m[c]['spread']:.3f}"
            for c in cols  # the compact per-scenario rows of merged runs lack some metrics
        ]
        sk = "/".join(f"{m['skill_copy'][b]['mean']:+.2f}" if b in m["skill_copy"] else "-" for b in BINS)
        lin = f"{m['skill_linear']['1-12']['mean']:+.2f}" if "skill_linear" in m else "-"
        t.add_row(name, *cells, sk, lin)
    console.print(t)


def training(work: Path) -> dict:
    """Each trained DiT's metrics (wall seconds, losses) as `train_world_model` wrote them."""
    out = {}
    for path in sorted(work.glob("dit_*/diffusion_metrics.json")):
        m = json.loads(path.read_text())
        keys = ("steps", "train_seconds", "loss_first", "loss_last", "residual_scale")
        out[path.parent.name] = {k: m.get(k) for k in keys}
    return out


def per_seed_scores(paths: list[Path]) -> dict[int, dict]:
    """Seed -> scores, merged from the JSON of earlier runs (one seed each, e.g. run in parallel)."""

    def first(tree):  # an `aggregate` leaf {"mean", "spread"(, "seeds": [v])} of one seed -> v
        if "mean" in tree:
            return tree["seeds"][0] if "seeds" in tree else tree["mean"]
        return {k: first(v) for k, v in tree.items()}

    scores: dict[int, dict] = {}
    for path in paths:
        r = read_result(path)
        (seed,) = json.loads(r["args"]["seeds"].replace("'", '"'))
        merged = scores.setdefault(seed, {"overall": {}, "scenarios": {}})
        merged["overall"].update(first(r["overall"]))
        for scenario, rows in r["scenarios"].items():
            merged["scenarios"].setdefault(scenario, {}).update(first(rows))
    return scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/world_model_bench"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--variants", nargs="+", default=[MAIN], choices=list(VARIANTS))
    p.add_argument("--one-seed-variants", nargs="*", default=[], choices=list(VARIANTS),
                   help="extra variants trained with the first seed only (the design table)")  # fmt: skip
    p.add_argument("--tokenizer-seed", type=int, default=None,
                   help="one tokenizer (this seed) for every run; default: each run its own")  # fmt: skip
    p.add_argument("--train-per-scenario", type=int, default=200)
    p.add_argument("--tokenizer-per-scenario", type=int, default=40,
                   help="the tokenizer trains on the first N training episodes per scenario")  # fmt: skip
    p.add_argument("--tokenizer-steps", type=int, default=800)
    p.add_argument("--dit-steps", type=int, default=12000)
    p.add_argument("--sampler", nargs=2, default=["euler", "3"], metavar=("NAME", "STEPS"),
                   help="the sampler of the held-out predictions, unless --samplers picks one")  # fmt: skip
    p.add_argument("--samplers", nargs="*", default=list(SAMPLERS), metavar="NAME:STEPS",
                   help="candidates: each run takes the one `pick_sampler` chooses on the validation "
                   "episodes (give none to use --sampler)")  # fmt: skip
    p.add_argument("--merge", type=Path, nargs="*", default=[],
                   help="train nothing: merge the JSON of one-seed runs of this script")  # fmt: skip
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    bad = [c for c in args.samplers if not re.fullmatch(r"[a-z_]+:[1-9][0-9]*", c)]
    if bad:
        p.error(f"--samplers {' '.join(bad)}: give each candidate as NAME:STEPS, e.g. euler:10")
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train, held = stage_data(args.work, args.train_per_scenario)
    console.print(f"data: {len(train)} training, {len(held['frames'])} held-out episodes")
    runs = [(v, s) for v in args.variants for s in args.seeds]
    runs += [(v, args.seeds[0]) for v in args.one_seed_variants if v not in args.variants]
    # seed -> {"overall": {method: ...}, "scenarios": {s: {method: ...}}}
    scores: dict[int, dict] = per_seed_scores(args.merge) if args.merge else {}
    seconds, picked = {}, {}
    if args.merge:
        runs, args.seeds = [], sorted(scores)
        for path in args.merge:
            picked |= read_result(path).get("samplers_picked", {})
    candidates = [(c.split(":")[0], int(c.split(":")[1])) for c in args.samplers]
    for name, seed in runs:
        t = time.perf_counter()
        tok_seed = seed if args.tokenizer_seed is None else args.tokenizer_seed
        tok_train = first_per_scenario(train, args.train_per_scenario, args.tokenizer_per_scenario)
        tok = stage_tokenizer(args.work, VARIANTS[name][0], tok_seed, args.tokenizer_steps, tok_train)
        world = stage_world(args.work, name, seed, args.dit_steps, tok, train)
        sampler = (args.sampler[0], int(args.sampler[1]))
        if args.samplers:
            sampler, table = pick_sampler(tok, world, stage_validation(args.work), seed, candidates)
            picked[f"{name} seed {seed}"] = {"chosen": f"{sampler[0]} {sampler[1]}", "validation": table}
            console.print(f"{name} seed {seed}: sampler {sampler} chosen on validation: {table}")
        preds = predictions(tok, world, held, seed, sampler)
        res = score(held, {f"{name}: {k}": v for k, v in preds.items()}, RULE)
        merged = scores.setdefault(seed, {"overall": {}, "scenarios": {}})
        merged["overall"].update(res["overall"])
        for scenario, rows in res["scenarios"].items():
            merged["scenarios"].setdefault(scenario, {}).update(rows)
        seconds[f"{name} seed {seed}"] = round(time.perf_counter() - t, 1)
        console.print(f"{name} seed {seed}: {seconds[f'{name} seed {seed}']:.0f} s; " + "; ".join(
            f"{k}: skill {v['skill_copy']['1-12']:+.3f} ST-IoU {v['spatiotemporal_iou']:.3f} "
            f"PIQ {v['physics_iq']:.1f}" for k, v in res["overall"].items()))  # fmt: skip
    main_seeds = [scores[s] for s in args.seeds]
    agg = aggregate(main_seeds)  # methods present in every seed (the one-seed variants drop out)
    extra = {s: scores[args.seeds[0]]["overall"] for s in [args.seeds[0]]}
    show(agg["overall"], f"held-out episodes, mean ± spread over seeds {args.seeds}")
    for scenario, rows in agg["scenarios"].items():
        show(rows, f"scenario {scenario}")
    if args.one_seed_variants:
        show(aggregate([extra[args.seeds[0]]]), f"all variants, seed {args.seeds[0]} only")
    rows = targets(agg) if f"{MAIN}: DiT, relative decode" in agg["overall"] else []
    for r in rows:
        mark = "[green]met [/]" if r["met"] else "[red]MISS[/]"
        console.print(f"{mark} {r['target']}: {r['value']} vs {r['reference']}")
    write_result(args.out, {
        "benchmark": "world model dynamics (issue 28)", "protocol": vars(RULE) | {"n_cond_latents": N_COND},
        "args": {k: str(v) for k, v in vars(args).items()}, "seconds": seconds,
        "samplers_picked": picked,
        "training": training(args.work),
        "cpu_minutes_this_run": round(time.process_time() / 60, 1), "versions": versions(),
        "targets": rows, "all_met": all(r["met"] for r in rows),
        "overall": compact({k: v for k, v in agg["overall"].items() if not shared_row(k)}),
        "scenarios": compact(agg["scenarios"], scenario=True),
        "seed0_other_variants": compact({k: v for k, v in extra[args.seeds[0]].items()
                                         if k not in agg["overall"] and not shared_row(k)}),
    })  # fmt: skip
    console.print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
