"""`worldsmith plan`: model-predictive control with an action-conditioned world model on held-out
tasks of the pusher twin (random, simulator and copy-last-frame planners in the same run), and
policy evaluation inside the world model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worldsmith.cli.common import Out, Seed, print_result, run_command
from worldsmith.plan.run import PLANNERS, PlanRunConfig, plan_run
from worldsmith.plan.tasks import GoalError


def plan(
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Action world model (posttrain action on pusher).")],
    out: Out,
    task: Annotated[str, typer.Option("--task", help="reach | push.")] = "push",
    episodes: Annotated[int, typer.Option("--episodes", help="Held-out tasks per planner.")] = 20,
    search: Annotated[str, typer.Option("--search", help="cem | mppi.")] = "cem",
    iters: Annotated[int, typer.Option("--iters", help="Search iterations per replan.")] = 3,
    samples: Annotated[int, typer.Option("--samples", help="Action sequences per iteration.")] = 32,
    steps: Annotated[int, typer.Option("--steps", help="Diffusion steps per world-model rollout.")] = 4,
    planners: Annotated[
        str, typer.Option("--planners", help=f"Comma-separated, from: {', '.join(PLANNERS)}.")
    ] = ",".join(PLANNERS),
    policy_starts: Annotated[
        int, typer.Option("--policy-starts", help="Initial states for policy evaluation (0: skip).")
    ] = 0,
    goal: Annotated[
        str | None, typer.Option("--goal", help="x,y (m) on the table for every episode (default: drawn).")
    ] = None,
    task_steps: Annotated[
        int | None, typer.Option("--task-steps", help="Actions per episode (default 24 reach, 40 push).")
    ] = None,
    goal_image: Annotated[
        bool, typer.Option("--goal-image", help="Reach: the world model plans towards a goal image.")
    ] = False,
    record: Annotated[int, typer.Option("--record", help="Episodes per planner in the report.")] = 3,
    seed: Seed = 0,
) -> None:
    """Plan with a world model: success rate, final distance, planning seconds per action, report."""
    names = tuple(p.strip() for p in planners.split(",") if p.strip())
    run = PlanRunConfig(
        task=task, episodes=episodes, planners=names, steps=steps, record=record, seed=seed,
        policy_starts=policy_starts, goal=parse_goal(goal), task_steps=task_steps, goal_image=goal_image,
    )  # fmt: skip
    args = dict(
        ckpt=ckpt, task=task, episodes=episodes, search=search, iters=iters, samples=samples, steps=steps,
        planners=planners, policy_starts=policy_starts, goal=goal, task_steps=task_steps,
        goal_image=goal_image,
    )  # fmt: skip
    search_cfg = {"search": search, "iters": iters, "samples": samples, "elites": max(2, samples // 6)}
    print_result(run_command(out, "plan", args, seed, lambda: plan_run(ckpt, out, run=run, mpc=search_cfg)))


def parse_goal(goal: str | None) -> tuple[float, float] | None:
    if goal is None:
        return None
    try:
        x, y = (float(v) for v in goal.split(","))
    except ValueError:
        raise GoalError(f"--goal '{goal}' must be two numbers x,y in metres, e.g. --goal 0.1,0.05") from None
    return x, y


COMMANDS = {"plan": plan}
