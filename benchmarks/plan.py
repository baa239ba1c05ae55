"""Planning with a world model (issue 25): MPC and policy evaluation on the pusher twin.

    OMP_NUM_THREADS=1 nohup .venv/bin/python benchmarks/plan.py > /tmp/plan_bench.log &

1. World model: the pusher robot (a puck under 2-D velocity control) with OU exploration
   (`worldsmith sim run pusher`), 33 frames at 64x64 and 10 fps, training episodes from seed 0;
   a tiny CV4x8x8 tokenizer and Video2World DiT trained without actions, then post-trained on the
   actions through the CLI (`worldsmith posttrain action`, full fine-tuning).
2. MPC (`worldsmith plan`, one process per task, the 2 cores): the same CEM planner with the world
   model, the simulator itself (upper bound), copy-last-frame as the model, and random actions, on
   held-out reach and push tasks (task seeds from 10_000, scenes the model never saw), 2 seeds.
3. Policy evaluation: 5 policies (scripted pushers by gain and noise, random) from the same held-out
   push starts inside the world model and inside the twin; Spearman of predicted vs measured.

Sizes are scaled to the shared 2-core CPU (samples, iterations and episodes; see --help).
Targets: `targets` in benchmarks/results/plan.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

# the action benchmark's CLI runner and tokenizer + base recipe (as a script, benchmarks/ is on the path)
from posttrain_action import cli, train_base  # noqa: E402, I001
from worldsmith.machine import write_result
from worldsmith.plan.models import WorldModelPlanner, load_planner_world, track
from worldsmith.plan.run import FIRST_SEED
from worldsmith.plan.twin import Twin
from worldsmith.posttrain.recipes import decode_latents
from worldsmith.runs import versions
from worldsmith.sim.dataset import DatasetConfig, write_dataset

RESULTS = Path(__file__).parent / "results" / "plan.json"
console = Console()
FRAMES, SIZE = 17, 64


def prepare(cache: Path, args) -> Path:
    """Pusher episodes -> tokenizer + base DiT (no actions) -> action post-training (the CLI)."""
    model = cache / "act" / "model"
    if (model / "posttrain.json").is_file():
        return model
    cfg = DatasetConfig(scenarios=("pusher",), episodes=args.train_episodes, frames=33, size=SIZE,
                        depth=False, masks=False, seed=0)  # fmt: skip
    write_dataset(cfg, cache / "train")
    base = train_base(cache, args)  # the action benchmark's recipe, on these episodes
    sets = [f"train.steps={args.pt_steps}", "train.batch_size=8", "train.lr=2e-3", "train.log_every=50"]
    cmd = ["posttrain", "action", "--init", base, "--data", cache / "train", "--out", cache / "act",
           "--lora-rank", 0, "--seed", 0, "--inject", args.inject,
           "--motion-weight", args.motion_weight]  # fmt: skip
    cli(cmd + sum((["--set", s] for s in sets), []), cache / "act.log")
    return model


def run_part(cache: Path, model: Path, task: str, args) -> dict:
    """`worldsmith plan` for one task and one seed (cached by its run.json)."""
    results = {}
    for seed in range(args.seeds):
        out = cache / f"plan_{task}_s{seed}"
        run = out / "run.json"
        if not (run.is_file() and json.loads(run.read_text()).get("status") == "ok"):
            policy = args.policy_starts if task == "push" and seed == 0 else 0
            cmd = ["plan", "--ckpt", model, "--task", task, "--episodes", args.episodes, "--seed", seed,
                   "--samples", args.samples, "--iters", args.iters, "--steps", args.steps,
                   "--policy-starts", policy, "--record", 2, "--out", out]  # fmt: skip
            cli(cmd, cache / f"{out.name}.log")
        results[seed] = json.loads((out / "metrics.json").read_text())
    return results


@torch.no_grad()
def model_error(model: Path, starts: int = 4) -> dict:
    """Why the planner does what it does: where the robot is after 16 held random actions from
    held-out starts, tracked (`plan.models.track`) in the tokenizer's reconstruction of the true
    clip (the ceiling any world model on this tokenizer has), in the world model's prediction, and
    for copy-last-frame (the robot stays put); metres from the true position, mean over starts."""
    world, net = load_planner_world(model)
    errs = {"tokenizer reconstruction": [], "world model": [], "copy-last-frame": []}
    for seed in range(FIRST_SEED + 900, FIRST_SEED + 900 + starts):
        acts = np.repeat(np.random.default_rng(seed).uniform(-0.4, 0.4, (4, 2)), 4, axis=0)  # [16, 2]
        with Twin(seed, size=SIZE) as twin:
            obs = twin.observe()
            planner = WorldModelPlanner(world, net, twin, steps=10, sampler="heun")
            frames = [obs.frame]
            for a in acts:
                twin.step(a)
                frames.append(twin.observe().frame)
            clip = torch.from_numpy(np.stack(frames))[None]  # [1, 17, H, W, 3]
            recon = decode_latents(world, world.encode_frames(clip), clip).numpy()
            pred = planner.predict(clip[:, :1], torch.from_numpy(acts)[None])
            truth = twin.positions()[0]
            for name, video in (("tokenizer reconstruction", recon), ("world model", pred)):
                errs[name].append(float(np.linalg.norm(track(twin, obs, video)[0][0, -1].numpy() - truth)))
            errs["copy-last-frame"].append(float(np.linalg.norm(obs.agent - truth)))
    return {name: float(np.mean(v)) for name, v in errs.items()}


def _pooled(parts: dict, planner: str) -> dict:
    rows = [m["planners"][planner] for m in parts.values()]
    eps = [e for m in parts.values() for e in m["episodes"] if e["planner"] == planner]
    return {
        "planner": planner,
        "success": float(np.mean([e["success"] for e in eps])),
        "success_per_seed": [r["success_rate"] for r in rows],
        "final_distance": float(np.mean([e["final_distance"] for e in eps])),
        "plan_s_per_action_median": float(np.median([r["plan_seconds_per_action_median"] for r in rows])),
        "plan_s_per_action_p90": float(np.max([r["plan_seconds_per_action_p90"] for r in rows])),
        "rollouts_per_s": (
            float(np.mean([r["rollouts_per_second"] for r in rows]))
            if rows[0]["rollouts_per_second"]
            else None
        ),  # fmt: skip
        "episodes": len(eps),
    }


def collect(cache: Path, args) -> dict:
    tables, targets = {}, []
    for task in ("reach", "push"):
        parts = run_part(cache, cache / "act" / "model", task, args)
        rows = {p: _pooled(parts, p) for p in ("world model", "random", "simulator", "copy-last-frame")}
        tables[task] = list(rows.values())
        wm, rnd, sim = (rows[p]["success"] for p in ("world model", "random", "simulator"))
        ratio = wm / rnd if rnd > 0 else (float("inf") if wm > 0 else 0.0)
        targets.append({"target": f"{task}: MPC with the world model >= 2x random actions' success",
                        "value": wm, "reference": rnd, "ratio": ratio, "met": bool(ratio >= 2)})  # fmt: skip
        frac = wm / sim if sim > 0 else float("nan")
        targets.append({"target": f"{task}: world-model MPC >= 60% of the simulator upper bound",
                        "value": wm, "reference": sim, "ratio": frac, "met": bool(frac >= 0.6)})  # fmt: skip
        if task == "push":
            pol = parts[0].get("policy_evaluation")
    targets.append({"target": "planning time per action reported (median, p90) and world-model rollouts/s",
                    "value": tables["push"][0]["plan_s_per_action_median"],
                    "reference": tables["push"][0]["rollouts_per_s"], "met": True})  # fmt: skip
    if pol is not None:
        targets.append({"target": "policy evaluation: Spearman(predicted, measured success) >= 0.8",
                        "value": pol["spearman_success"], "reference": 0.8,
                        "met": bool(pol["spearman_success"] >= 0.8)})  # fmt: skip
    errors = model_error(cache / "act" / "model")
    return {"tables": tables, "policy_evaluation": pol, "robot_position_error_m": errors, "targets": targets}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path("/tmp/worldsmith-plan-bench"))
    p.add_argument("--train-episodes", type=int, default=48)
    p.add_argument("--tok-steps", type=int, default=1200)
    p.add_argument("--spatial", type=int, default=8, help="tokenizer spatial compression (train_base)")
    p.add_argument("--tokenizer", type=Path, default=None, help="start from this pretrained tokenizer")
    p.add_argument("--base-steps", type=int, default=800)
    p.add_argument("--pt-steps", type=int, default=800)
    p.add_argument("--inject", default="both", help="posttrain action --inject (docs/architecture.md)")
    p.add_argument("--motion-weight", type=float, default=4.0, help="posttrain action --motion-weight")
    p.add_argument("--episodes", type=int, default=4, help="held-out tasks per seed and planner")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="diffusion steps per world-model rollout")
    p.add_argument("--policy-starts", type=int, default=4)
    p.add_argument("--task", choices=["reach", "push"], help="run this task's part only (one process each)")
    p.add_argument("--prepare-only", action="store_true")
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = prepare(args.cache, args)
    console.print(f"world model: {model}")
    if args.prepare_only:
        return
    if args.task:
        run_part(args.cache, model, args.task, args)
        return
    result = collect(args.cache, args)
    for task, rows in result["tables"].items():
        table = Table(title=f"MPC on held-out {task} tasks ({rows[0]['episodes']} episodes per planner)")
        for key in rows[0]:
            table.add_column(key)
        for row in rows:
            table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()])
        console.print(table)
    console.print(f"robot position after 16 actions, error (m): {result['robot_position_error_m']}")
    if result["policy_evaluation"]:
        console.print(result["policy_evaluation"])
    for t in result["targets"]:
        console.print(f"[{'green' if t['met'] else 'red'}]{t['target']}: {t['value']} vs {t['reference']}")
    if not args.no_save:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        posttrain = json.loads((args.cache / "act" / "posttrain_metrics.json").read_text())
        seconds = round(time.perf_counter() - t0, 1)
        write_result(RESULTS, {**result, "settings": settings, "world_model": posttrain,
                                "seconds": seconds, "versions": versions()})  # fmt: skip


if __name__ == "__main__":
    main()
