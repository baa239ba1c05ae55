"""Action post-training (issue 24): does a pretrained world model learn to follow a robot's actions?

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/posttrain_action_ceiling.py \
        --candidates s4_lowpass:1500 > /tmp/pc.log     # the tokenizer, once (~20 CPU-min)
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/posttrain_action.py > /tmp/pa.log &

1. Digital twin: the table-top arm with exploratory actions (`worldsmith sim run robot-large`:
   scripted, noisy, OU and waypoint pushes, the arm seen large; `--arm default`: the thin arm the
   8x tokenizer blurs away), 33 frames at 64x64 and 10 fps; training episodes from dataset seed 0,
   held-out test ones from seed 1, validation ones from seed 2 (episode seeds checked disjoint);
   counterfactuals: K action sequences rendered from each of a few held-out start states.
2. The base: the s4 tokenizer (16x16 latents) that `posttrain_action_ceiling.py` trained 1500
   steps (`--tokenizer`/`--tok-steps` for another) and a Video2World DiT of width 128 (the tiny
   preset widened: LoRA r16 + the action layers are then 9.7% of full FT's trainable parameters,
   `posttrain_action_sizes.py`), residual to the given frame, trained *without* actions.
3. Post-training through the CLI (`worldsmith posttrain action --inject both --motion-weight 4
   --action-hidden 0.5`, one process per run, so that peak memory is that run's): LoRA rank 16
   (lr 1e-2) and full fine-tuning (lr 2e-3), each from 2 seeds, 1200 steps, checkpoints kept.
   Predictions: one Euler step (the denoiser's mean) with classifier-free guidance on actions.
4. Validation (`posttrain_action_select.py`): per method, the checkpoint step and guidance scale
   with the smallest arm centroid error among those with skill > 0.2 on the validation clips.
5. Held-out test scores (`eval.action`, `--clusters 6` colour clusters per instance), one given
   frame, 16 predicted frames, each method at its validation choice: copy-last-frame, the base
   without actions, the post-trained models under the true and under shuffled actions (another
   clip's); action sensitivity on the counterfactuals; the tokenizer's bound and the truth itself.
6. Checks: a run resumed from its middle checkpoint ends with the same weights; ``--init`` from a tiny
   random diffusers `CosmosTransformer3DModel`, saved by diffusers and converted, runs the same path.

Sizes are scaled to a shared 2-core CPU (the issue allows 60 CPU-minutes; the JSON records this
invocation's CPU time and every run's training time). Targets: `targets` in the JSON
(`benchmarks/results/posttrain_action.json`), each with its per-seed values.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from worldsmith.data.episodes import episode_meta, read_action_clips
from worldsmith.diffusion.recipes import fit_preset, train_world_model
from worldsmith.eval.action import future_scores, sensitivity, skill
from worldsmith.posttrain.recipes import predict_with_actions
from worldsmith.runs import seeded_init, torch_threads
from worldsmith.sim.dataset import DatasetConfig, write_dataset, write_episode
from worldsmith.sim.episode import make_episode
from worldsmith.sim.explore import EXPLORATION, EXPLORATION_LARGE, counterfactual
from worldsmith.video.transforms import to_model

sys.path.insert(0, str(Path(__file__).parent))
from posttrain_action_select import check_disjoint, load_chosen, report, validation_grid  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "posttrain_action.json"
CEILING_TOK = "ceiling/s4_lowpass_1500/tokenizer"  # posttrain_action_ceiling.py's s4 tokenizer, 1500 steps
console = Console()
FRAMES, SIZE = 17, 64


def render(cache: Path, args) -> None:
    large = args.arm == "large"
    marker = cache / "arm.txt"  # one look per cache: render skips the episodes already there
    held = (
        marker.read_text().strip() if marker.is_file() else "default" if (cache / "train").is_dir() else None
    )
    if held not in (None, args.arm):
        raise SystemExit(f"{cache} holds --arm {held} episodes; give another --cache")
    cache.mkdir(parents=True, exist_ok=True)
    marker.write_text(args.arm)
    scenarios = tuple(EXPLORATION_LARGE if large else EXPLORATION)
    common = dict(scenarios=scenarios, frames=33, size=SIZE, depth=False, masks=True)
    write_dataset(DatasetConfig(episodes=args.train_episodes, seed=0, **common), cache / "train")
    write_dataset(DatasetConfig(episodes=args.test_episodes, seed=1, **common), cache / "test")
    if getattr(args, "val_episodes", 0):  # validation: picks guidance and checkpoint, never scored as test
        write_dataset(DatasetConfig(episodes=args.val_episodes, seed=2, **common), cache / "val")
    for s in range(args.cf_starts):
        for k in range(args.K):
            folder = cache / "cf" / f"start_{s:02d}" / f"k_{k:02d}"
            if not (folder / "meta.json").is_file():
                name = "explore_waypoints_large" if large else "explore_waypoints"
                ep = make_episode(name, 9000 + s, frames=FRAMES, size=SIZE, depth=False,
                                  controller=counterfactual(k))  # fmt: skip
                write_episode(ep, folder, crf=0)


def _l1(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    recon, _ = model(batch)
    return (recon - batch).abs().mean()


def train_base(cache: Path, args) -> Path:
    if (cache / "base" / "model" / "world.json").is_file():
        return cache / "base" / "model"
    clips = read_action_clips(cache / "train", frames=FRAMES, stride=16)
    t0 = time.perf_counter()
    x = torch.stack([to_model(c) for c in clips.frames])  # [N, 3, F, H, W]
    dit = dict(heads=4, head_dim=args.width // 4, depth=args.depth, adaln_lora_dim=args.width // 2)
    fit_base(
        cache, x, args.tok_steps, args.base_steps, spatial=args.spatial, tokenizer=args.tokenizer, dit=dit
    )
    console.print(f"base: tokenizer + DiT in {time.perf_counter() - t0:.0f} s")
    return cache / "base" / "model"


def tokenizer_config(
    spatial: int = 8, lowpass: bool = True, widths=(16, 32, 32, 32), latent: int = 16, temporal: int = 4
):
    """The benchmark's tiny CV4x8x8 tokenizer at spatial compression `spatial` (4: 16x16 latents at 64 px;
    the decoder's layout needs `temporal` <= `spatial`)."""
    from worldsmith.tokenizers.presets import get_preset

    return replace(get_preset("tiny-cv4x8x8"), encoder_channels=tuple(widths), decoder_channels=tuple(widths),
                   num_res_blocks=1, lowpass_shortcut=lowpass, spatial_compression=spatial,
                   latent_channels=latent, patch_size=min(4, spatial, temporal),
                   temporal_compression=temporal)  # fmt: skip


def train_tokenizer(
    tok: torch.nn.Module, x: torch.Tensor, steps: int, out: Path, evaluate=None, eval_every: int = 0
) -> None:
    """The benchmark's tokenizer recipe: L1, batch 4, lr 1e-3, `steps` steps on clips ``x [N, 3, F, H, W]``
    (`evaluate(model)`: the Trainer's hook, every `eval_every` steps and at the end)."""
    from worldsmith.train import TrainConfig, Trainer

    tcfg = TrainConfig(steps=steps, batch_size=4, lr=1e-3, betas=(0.5, 0.999), warmup_steps=20, log_every=50,
                       tensorboard=False, eval_every=eval_every)  # fmt: skip
    with torch_threads(1):
        Trainer(tcfg, tok, _l1, list(x), out=out, evaluate=evaluate).fit()


def fit_base(
    cache: Path,
    x: torch.Tensor,
    tok_steps: int,
    base_steps: int,
    tokenizer: Path | None = None,
    spatial: int = 8,
    residual_to_given: bool = True,
    dit: dict | None = None,
):
    """A tiny CV4x8x8 tokenizer (from `tokenizer` when given) trained `tok_steps` (0: used as given)
    on clips ``x [N, 3, F, H, W]``, then a tiny Video2World DiT (`dit`: `DiTConfig` overrides) on its
    latents -> ``cache/base/model``."""
    from worldsmith.tokenizers.model import CausalTokenizer

    with seeded_init(0):
        tok = (
            CausalTokenizer(tokenizer_config(spatial))
            if tokenizer is None
            else CausalTokenizer.from_pretrained(tokenizer)
        )
    if tok_steps > 0:
        train_tokenizer(tok, x, tok_steps, cache / "tokenizer_train")
    tok.eval()
    with torch.no_grad():
        latents = torch.cat([tok.encode(x[i : i + 8]) for i in range(0, len(x), 8)])
    small = tuple(max(s, 8) for s in latents.shape[2:])  # position tables just over the latents
    cfg = fit_preset("tiny", tuple(latents.shape[1:]), residual_to_given=residual_to_given, max_size=small,
                     **(dit or {}))  # fmt: skip
    train_world_model(latents, cache / "base", dit_cfg=cfg, train={"steps": base_steps}, fps=10.0,
                      tokenizer=tok, threads=1)  # fmt: skip


def cli(args: list, log: Path) -> dict:
    src = os.environ.get("PYTHONPATH") or str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
    with open(log, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "worldsmith.cli", *map(str, args)], stdout=f, stderr=f, env=env
        )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed; see {log}")
    return json.loads((Path(args[args.index("--out") + 1]) / "run.json").read_text())["results"]


def posttrain(
    cache: Path, base: Path, rank: int, seed: int, steps: int, action_args=(), lr=2e-3, ckpt_every: int = 0
) -> dict:
    """One `worldsmith posttrain action` run (cached by its run.json); `action_args`: more CLI options;
    every checkpoint (each `ckpt_every` steps) is kept for the validation's choice of step."""
    tag = "".join(str(a).lstrip("-").replace("-", "")[:6] for a in action_args) + (
        f"lr{lr:g}" if lr != 2e-3 else ""
    )
    out = cache / f"pt_r{rank}_s{seed}_{steps}{'_' + tag if tag else ''}"
    if (out / "run.json").is_file() and json.loads((out / "run.json").read_text()).get("status") == "ok":
        return json.loads((out / "run.json").read_text())["results"]
    sets = [f"train.steps={steps}", "train.batch_size=8", f"train.lr={lr:g}", "train.log_every=50",
            f"train.ckpt_every={ckpt_every}", "train.keep_checkpoints=0"]  # fmt: skip
    args = ["posttrain", "action", "--init", base, "--data", cache / "train", "--out", out,
            "--lora-rank", rank, "--seed", seed, *action_args]  # fmt: skip
    args += sum((["--set", s] for s in sets), [])
    return cli(args, cache / f"{out.name}.log")


def check_resume(cache: Path, base: Path, action_args=()) -> bool:
    a = cache / "resume_a"
    shutil.rmtree(a, ignore_errors=True)
    shutil.rmtree(cache / "resume_b", ignore_errors=True)
    common = ["posttrain", "action", "--init", base, "--data", cache / "train", "--lora-rank", 16,
              "--set", "train.steps=20", "--set", "train.ckpt_every=10",
              "--set", "train.batch_size=8", *action_args]  # fmt: skip
    cli([*common, "--out", a], cache / "resume_a.log")
    b = cache / "resume_b"
    shutil.copytree(
        a / "train" / "checkpoints" / "step_0000010", b / "train" / "checkpoints" / "step_0000010"
    )
    cli([*common, "--out", b, "--resume"], cache / "resume_b.log")
    from safetensors.torch import load_file

    same = True
    for part in ("adapter/adapter.safetensors", "action/model.safetensors"):
        wa, wb = load_file(a / "model" / part), load_file(b / "model" / part)
        same &= all(torch.equal(wa[k], wb[k]) for k in wa)
    return bool(same)


def check_diffusers_init(cache: Path, world) -> bool:
    """A random diffusers CosmosTransformer3DModel of the base's geometry -> convert -> post-train."""
    from diffusers.models.transformers.transformer_cosmos import CosmosTransformer3DModel

    from worldsmith.diffusion.convert import config_to_diffusers, convert_diffusers

    src = cache / "diffusers_src"
    shutil.rmtree(src, ignore_errors=True)
    torch.manual_seed(0)
    cfg = replace(world.dit.cfg, residual_to_given=False)  # not a diffusers option
    CosmosTransformer3DModel(**config_to_diffusers(cfg)).save_pretrained(src / "transformer")
    convert_diffusers(src, cache / "diffusers_converted")
    out = cache / "diffusers_run"
    shutil.rmtree(out, ignore_errors=True)
    tok = cache / "base" / "model" / "tokenizer"
    args = ["posttrain", "action", "--init", cache / "diffusers_converted", "--tokenizer", tok,
            "--data", cache / "train", "--out", out, "--set", "train.steps=3", "--frames", FRAMES,
            "--size", f"{SIZE}x{SIZE}"]  # fmt: skip
    result = cli(args, cache / "diffusers_run.log")
    return (out / "model" / "posttrain.json").is_file() and result["action_dim"] == 3


def agent_id(folder: str) -> int:
    return int(next(k for k, v in episode_meta(folder)["instances"].items() if v == "robot"))


def predict_recon(tokenizer, clip: torch.Tensor) -> torch.Tensor:
    """uint8 ``[F, H, W, 3]`` -> the tokenizer's decode(encode(clip)), uint8."""
    from worldsmith.video.transforms import to_uint8

    x = to_model(clip)[None]  # [1, 3, F, H, W]
    return to_uint8(tokenizer.decode(tokenizer.encode(x))[0].clamp(-1, 1))


def score(preds: torch.Tensor, clips, agents, clusters: int = 0) -> list[dict]:
    """`future_scores` of every predicted clip (`clusters`: its segmenter; 0 = one colour model each)."""
    return [
        future_scores(p.numpy(), c.numpy(), m.numpy(), agent=a, clusters=clusters)
        for p, c, m, a in zip(preds, clips.frames, clips.masks, agents, strict=True)
    ]


def mean_row(name: str, rows: list[dict], sse_copy: list[float]) -> dict:
    keys = ("psnr", "ssim", "arm_iou", "arm_centroid_px", "object_iou", "object_centroid_px")
    out = {"method": name, **{k: float(np.nanmean([r[k] for r in rows])) for k in keys}}
    out["skill"] = skill([r["sse"] for r in rows], sse_copy)
    return out


def episode_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The cache folder and the episodes `render` writes there (shared with `posttrain_action_ar.py`)."""
    p.add_argument("--cache", type=Path, default=Path("/tmp/worldsmith-posttrain-bench"))
    p.add_argument("--train-episodes", type=int, default=48)
    p.add_argument("--test-episodes", type=int, default=12)
    p.add_argument("--cf-starts", type=int, default=4)
    p.add_argument("--K", type=int, default=4)
    p.add_argument(
        "--arm",
        choices=["default", "large"],
        default="default",
        help="the arm's look in the twin (large: sim.robot.ARM_LOOKS['large'], what a tiny tokenizer keeps)",
    )
    return p


def arguments() -> argparse.Namespace:
    p = episode_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.set_defaults(arm="large", cache=Path("/tmp/worldsmith-posttrain-bench-large"))
    p.add_argument("--val-episodes", type=int, default=6, help="validation episodes (dataset seed 2)")
    p.add_argument("--tok-steps", type=int, default=0, help="tokenizer training steps (0: --tokenizer as is)")
    p.add_argument("--spatial", type=int, default=4, help="tokenizer spatial compression (4: 16x16 latents)")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help=f"start the tokenizer from this pretrained one (default: <cache>/{CEILING_TOK}, "
                   "what posttrain_action_ceiling.py trains; its spatial compression wins)")  # fmt: skip
    p.add_argument("--width", type=int, default=128, help="base DiT width (4 heads; AdaLN-LoRA dim width/2)")
    p.add_argument("--depth", type=int, default=4, help="base DiT blocks")
    p.add_argument("--action-hidden", type=float, default=0.5, help="action MLP width / DiT width")
    p.add_argument("--base-steps", type=int, default=600)
    p.add_argument("--steps", type=int, default=1200, help="post-training steps per run")
    p.add_argument("--val-steps", default="600,900,1200", help="checkpoints the validation chooses from")
    p.add_argument("--lora-lr", type=float, default=1e-2, help="LoRA runs' learning rate (full FT: 2e-3)")
    p.add_argument("--inject", choices=["adaln", "tokens", "both"], default="both",
                   help="where actions enter the DiT (posttrain action --inject)")  # fmt: skip
    p.add_argument("--motion-weight", type=float, default=4.0, help="posttrain action --motion-weight")
    p.add_argument("--sampler", default="euler", help="sampler of every prediction")
    p.add_argument("--sample-steps", type=int, default=1,
                   help="sampling steps per prediction (1 euler step = the denoiser's mean)")  # fmt: skip
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--guidance", default="1,1.5,2,2.5",
                   help="CFG scales on actions the validation chooses from")  # fmt: skip
    p.add_argument(
        "--clusters",
        type=int,
        default=6,
        help="segment by this many colour clusters per instance (0: one colour model; eval.action)",
    )
    p.add_argument("--train-only", action="store_true", help="stop after the post-training runs")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = p.parse_args()
    if args.tokenizer is None and args.tok_steps == 0:
        args.tokenizer = args.cache / CEILING_TOK
        if not (args.tokenizer / "config.json").is_file():
            raise SystemExit(f"no tokenizer at {args.tokenizer}: run posttrain_action_ceiling.py "
                             "--candidates s4_lowpass:1500 first, or pass --tokenizer")  # fmt: skip
    return args


def episode_seeds(folder: Path) -> set:
    return {episode_meta(f)["seed"] for f in sorted(folder.glob("*/")) if (f / "meta.json").is_file()}


def main() -> None:
    args = arguments()
    cache, seg = args.cache, args.clusters
    t_start = time.perf_counter()
    torch.set_num_threads(1)
    render(cache, args)
    check_disjoint([cache / "train", cache / "test", cache / "val"], episode_seeds)
    base_dir = train_base(cache, args)
    val_steps = [int(v) for v in args.val_steps.split(",")]  # kept checkpoints the validation picks from
    action_args = ["--inject", args.inject, "--motion-weight", args.motion_weight,
                   "--action-hidden", args.action_hidden]  # fmt: skip
    runs = {(r, s): posttrain(cache, base_dir, r, s, args.steps, action_args, args.lora_lr if r else 2e-3,
                              ckpt_every=math.gcd(*val_steps))
            for s in range(args.seeds) for r in (16, 0)}  # fmt: skip
    if args.train_only:
        return
    resume_ok = check_resume(cache, base_dir, action_args)
    base_sample = dict(steps=args.sample_steps, sampler=args.sampler)

    from worldsmith.diffusion.world import WorldModel

    base = WorldModel.from_pretrained(base_dir)
    diffusers_ok = check_diffusers_init(cache, base)
    val = read_action_clips(cache / "val", frames=FRAMES, stride=16, masks=True)
    val_agents = [agent_id(f) for f, _ in val.sources]
    val_copy = [r["sse"] for r in score(val.frames[:, :1].expand_as(val.frames), val, val_agents, seg)]
    chosen, cells = validation_grid(
        runs, val, lambda preds: score(preds, val, val_agents, seg),
        lambda rows: skill([r["sse"] for r in rows], val_copy), val_steps,
        [float(g) for g in args.guidance.split(",")], args.steps, base_sample,
    )  # fmt: skip
    console.print({f"r{r}": {k: c[k] for k in ("step", "guidance", "arm_centroid_px", "skill")}
                   for r, c in chosen.items()})  # fmt: skip
    test = read_action_clips(cache / "test", frames=FRAMES, stride=16, masks=True)  # scored once, from here
    agents = [agent_id(f) for f, _ in test.sources]
    sc = lambda preds: score(preds, test, agents, seg)  # noqa: E731
    given = test.frames[:, :1]
    copy = given.expand_as(test.frames).clone()
    rows_copy = sc(copy)
    sse_copy = [r["sse"] for r in rows_copy]
    table_rows = [mean_row("copy last frame", rows_copy, sse_copy)]
    with torch_threads(1):
        base_pred = predict_with_actions(base, None, given, None, **base_sample)
    table_rows.append(mean_row("base, no actions", sc(base_pred), sse_copy))
    with torch.no_grad():  # the tokenizer's reconstruction of the true clips: what any prediction can reach
        recon = torch.stack([predict_recon(base.tokenizer, c) for c in test.frames])
    table_rows.append(mean_row("tokenizer reconstruction (bound)", sc(recon), sse_copy))
    table_rows.append(mean_row("truth (the segmenter's floor)", sc(test.frames), sse_copy))
    shuffled = test.actions.roll(1, 0)  # every clip gets another clip's actions
    cf = [
        read_action_clips(cache / "cf" / f"start_{s:02d}", frames=FRAMES, masks=True)
        for s in range(args.cf_starts)
    ]
    sens = []
    for (rank, seed), info in runs.items():
        name = f"{'LoRA r16' if rank else 'full FT'} seed {seed}"
        world, net = load_chosen(info, chosen[rank], args.steps)
        sample = dict(base_sample, guidance=chosen[rank]["guidance"])
        tag = {"rank": rank, "seed": seed, "step": chosen[rank]["step"], "guidance": sample["guidance"]}
        with torch_threads(1):
            true_pred = predict_with_actions(world, net, given, test.actions, **sample)
            shuf_pred = predict_with_actions(world, net, given, shuffled, **sample)
        table_rows.append({**mean_row(name, sc(true_pred), sse_copy), **tag})
        table_rows.append({**mean_row(f"{name}, shuffled actions", sc(shuf_pred), sse_copy), **tag,
                           "shuffled": True})  # fmt: skip
        per_start = []
        for c in cf:
            with torch_threads(1):
                preds = predict_with_actions(world, net, c.frames[:, :1], c.actions, **sample)
            per_start.append(sensitivity([x.numpy() for x in preds], [x.numpy() for x in c.frames],
                                         [m.numpy() for m in c.masks], agent=agent_id(c.sources[0][0]),
                                         clusters=seg))  # fmt: skip
        sens.append({"method": name, **tag,
                     **{k: float(np.mean([d[k] for d in per_start])) for k in per_start[0]}})  # fmt: skip
    validation = {"chosen": {f"r{r}": c for r, c in chosen.items()}, "grid": cells}
    report(args, table_rows, sens, runs, resume_ok, diffusers_ok, time.perf_counter() - t_start, validation)


if __name__ == "__main__":
    main()
