"""``worldsmith plan``: MPC with a world model on held-out tasks, against random actions, the
simulator-as-model upper bound and copy-last-frame-as-model in the same run; policy evaluation
inside the world model; an HTML report with each executed episode beside what the planner imagined.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.config import check
from worldsmith.console import progress
from worldsmith.eval.report import Report, side_by_side
from worldsmith.plan.models import CopyLastModel, SimulatorModel, WorldModelPlanner, load_planner_world
from worldsmith.plan.mpc import EpisodeResult, MPCConfig, run_episode
from worldsmith.plan.policies import POLICIES, run_in_twin, run_in_world_model, spearman
from worldsmith.plan.tasks import TASKS, Task, check_goal, make_task
from worldsmith.plan.twin import Twin
from worldsmith.posttrain.recipes import clip_geometry

PLANNERS = ("world model", "random", "simulator", "copy-last-frame")
FIRST_SEED = 10_000  # held-out task seeds start here (training episodes use SeedSequence seeds)


@dataclass(frozen=True, kw_only=True)
class PlanRunConfig:
    task: str = "push"
    episodes: int = 20
    planners: tuple[str, ...] = PLANNERS
    steps: int = 4  # diffusion sampling steps per world-model rollout
    sampler: str = "euler"
    record: int = 3  # episodes per planner shown in the report
    policy_starts: int = 0  # initial states for policy evaluation (0: none)
    task_steps: int | None = None  # actions per episode (default: the task's, 24 reach / 40 push)
    goal: tuple[float, float] | None = None  # one goal for every episode (default: drawn per task)
    goal_image: bool = False  # reach: the world model plans towards a goal image (latent distance)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.task in TASKS, "task", self.task, f"must be one of {', '.join(TASKS)}")
        check(self.episodes >= 1, "episodes", self.episodes, "must be >= 1")
        bad = [p for p in self.planners if p not in PLANNERS]
        check(not bad, "planners", bad, f"must be among {', '.join(PLANNERS)}")
        if self.goal is not None:
            check_goal(self.goal)
        check(not self.goal_image or self.task == "reach", "goal_image", self.goal_image,
              "goal images show the robot at the goal: use --task reach")  # fmt: skip

    def tasks(self, first: int, n: int) -> list[Task]:
        return [make_task(self.task, first + i, steps=self.task_steps, goal=self.goal) for i in range(n)]


def _model(name: str, twin: Twin, world, net, run: PlanRunConfig, horizon: int):
    if name == "world model":
        return WorldModelPlanner(world, net, twin, steps=run.steps, sampler=run.sampler, seed=run.seed)
    if name == "simulator":
        return SimulatorModel(twin, horizon)
    return CopyLastModel(horizon) if name == "copy-last-frame" else None


def summarize(results: list[EpisodeResult]) -> dict[str, Any]:
    """Success rate, final distance, planning seconds per executed action (median, p90), rollouts/s."""
    per_action = [s / r.task.steps * len(r.plan_seconds) for r in results for s in r.plan_seconds]
    rollouts, seconds = sum(r.rollouts for r in results), sum(r.rollout_seconds for r in results)
    return {
        "episodes": len(results),
        "success_rate": float(np.mean([r.success for r in results])),
        "final_distance_mean": float(np.mean([r.final_distance for r in results])),
        "final_distance_median": float(np.median([r.final_distance for r in results])),
        "start_distance_mean": float(np.mean([r.start_distance for r in results])),
        "plan_seconds_per_action_median": float(np.median(per_action)),
        "plan_seconds_per_action_p90": float(np.quantile(per_action, 0.9)),
        "rollouts_per_second": rollouts / seconds if seconds > 0 else None,
    }


def plan_run(
    ckpt: str | Path, out: str | Path, *, run: PlanRunConfig, mpc: dict[str, Any] | None = None
) -> dict:
    """Run every planner on `run.episodes` held-out tasks; write metrics, episodes and the report.
    `mpc`: `MPCConfig` fields; the horizon defaults to the world model's clip, planned actions are
    held and executed one latent frame at a time."""
    out = Path(out)
    world, net = load_planner_world(ckpt)
    frames, size, k = clip_geometry(world)
    mpc = MPCConfig(**{"horizon": frames - 1, "hold": k, "execute": k, **(mpc or {})})
    check(
        mpc.horizon <= frames - 1,
        "horizon",
        mpc.horizon,
        f"must be <= the world model's {frames - 1} actions",
    )
    tasks = run.tasks(FIRST_SEED + run.seed * 1000, run.episodes)
    results: dict[str, list[EpisodeResult]] = {p: [] for p in run.planners}
    with progress() as bar:
        job = bar.add_task(f"MPC on {run.episodes} {run.task} tasks", total=len(tasks) * len(run.planners))
        for i, task in enumerate(tasks):
            for name in run.planners:
                with Twin(task.seed, size=size[0]) as twin:
                    model = _model(name, twin, world, net, run, mpc.horizon)
                    shown = i < run.record
                    image = run.goal_image and name == "world model"  # the others plan to the position
                    result = run_episode(task, model, mpc, twin=twin, seed=run.seed + i, name=name,
                                         record=shown, goal_image=image)  # fmt: skip
                    results[name].append(result)
                bar.advance(job)
    summary = {name: summarize(rs) for name, rs in results.items()}
    policy = evaluate_policies(world, net, run, size[0]) if run.policy_starts else None
    metrics = {"task": run.task, "config": asdict(run), "mpc": asdict(mpc), "planners": summary}
    if policy is not None:
        metrics["policy_evaluation"] = policy
    metrics["episodes"] = [r.row() for rs in results.values() for r in rs]
    fs.write_json(out / "metrics.json", metrics)
    write_report(out / "report.html", run, summary, results, policy)
    return {
        "report": str(out / "report.html"),
        **{f"{n} success": s["success_rate"] for n, s in summary.items()},
    }


def evaluate_policies(world, net, run: PlanRunConfig, size: int) -> dict[str, Any]:
    """Each of `POLICIES` from `run.policy_starts` held-out push tasks, in the world model and in
    the twin: predicted vs measured success and final distance, and their Spearman correlations."""
    pred, true = np.zeros((len(POLICIES), run.policy_starts)), np.zeros((len(POLICIES), run.policy_starts))
    first = FIRST_SEED + 500 + run.seed * 1000  # the policies are pushers: always push tasks
    tasks = [make_task("push", first + i, steps=run.task_steps) for i in range(run.policy_starts)]
    t0 = time.perf_counter()
    for j, task in enumerate(tasks):
        with Twin(task.seed, size=size) as twin:
            planner = WorldModelPlanner(world, net, twin, steps=run.steps, sampler=run.sampler, seed=run.seed)
            pred[:, j] = run_in_world_model(POLICIES, task, planner, seed=task.seed)
        for i, policy in enumerate(POLICIES):
            with Twin(task.seed, size=size) as twin:
                true[i, j] = run_in_twin(policy, task, twin, hold=planner.k, seed=task.seed)
    radius = tasks[0].radius
    ps, ts = (pred < radius).mean(1), (true < radius).mean(1)
    rows = [
        {"policy": p.name, "predicted_success": float(a), "measured_success": float(b),
         "predicted_final_distance": float(c), "measured_final_distance": float(d)}
        for p, a, b, c, d in zip(POLICIES, ps, ts, pred.mean(1), true.mean(1), strict=True)
    ]  # fmt: skip
    return {
        "starts": run.policy_starts,
        "policies": rows,
        "spearman_success": spearman(ps, ts),
        "spearman_final_distance": spearman(pred.mean(1), true.mean(1)),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def write_report(path: Path, run: PlanRunConfig, summary: dict, results: dict, policy: dict | None) -> None:
    report = Report(f"worldsmith plan: {run.task}")
    sec = report.section(
        "Model-predictive control",
        f"{run.episodes} held-out {run.task} tasks on the pusher twin; the same planner with each model.",
    )
    sec.table(
        [{"planner": name, **{k: v for k, v in s.items() if v is not None}} for name, s in summary.items()]
    )
    for name, rs in results.items():
        shown = [r for r in rs if r.executed is not None]
        if not shown:
            continue
        vids = report.section(
            f"Episodes: {name}", "executed in the twin | imagined by the planner, plan by plan"
        )
        for r in shown:
            outcome = "success" if r.success else "fail"
            caption = f"seed {r.task.seed}: final distance {r.final_distance:.3f} m ({outcome})"
            vids.video(side_by_side(r.executed, r.imagined), fps=10, caption=caption, scale=3)
    if policy is not None:
        pol = report.section(
            "Policy evaluation",
            f"{policy['starts']} initial states; Spearman (success) {policy['spearman_success']:.2f}, "
            f"(final distance) {policy['spearman_final_distance']:.2f}.",
        )
        pol.table(policy["policies"])
    report.write(path)
