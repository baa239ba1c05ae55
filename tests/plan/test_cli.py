"""`worldsmith plan` end to end on a tiny random action world model (one short episode per planner,
policy evaluation from one start), and the bad inputs of the issue: exit 2, one line naming the fix."""

from __future__ import annotations

import json

import pytest

from worldsmith.cli import main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def test_plan_writes_metrics_and_a_report(ckpts, tmp_path, capsys):
    out = tmp_path / "plan"
    args = ["plan", "--ckpt", ckpts[1], "--task", "reach", "--episodes", 1, "--task-steps", 4,
            "--iters", 1, "--samples", 4, "--steps", 1, "--policy-starts", 1, "--record", 1,
            "--out", out, "--seed", 3]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    assert exc.value.code in (0, None), capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["planners"]) == {"world model", "random", "simulator", "copy-last-frame"}
    wm = metrics["planners"]["world model"]
    assert wm["episodes"] == 1 and wm["rollouts_per_second"] > 0 and wm["plan_seconds_per_action_p90"] > 0
    assert metrics["planners"]["random"]["rollouts_per_second"] is None
    assert len(metrics["policy_evaluation"]["policies"]) == 5 and len(metrics["episodes"]) == 4
    html = (out / "report.html").read_text()
    assert "Policy evaluation" in html and html.count("image/gif") == 4  # one episode shown per planner
    assert json.loads((out / "run.json").read_text())["status"] == "ok"


@pytest.mark.parametrize(
    "which, extra, message",
    [
        (0, [], "no action conditioning to plan with"),
        (2, [], "3-D actions but the task's robot"),
        (1, ["--goal", "0.9,0.0"], "outside the workspace"),
        (1, ["--goal", "a,b"], "two numbers x,y"),
    ],
)
def test_bad_inputs_exit_2_naming_the_fix(ckpts, tmp_path, capsys, which, extra, message):
    code, out = run_cli(["plan", "--ckpt", ckpts[which], "--out", tmp_path / "p", *extra], capsys)
    assert code == 2 and message in out.replace("\n", " ")
