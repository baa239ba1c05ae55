"""`worldsmith studio` on the command line, and a Studio generation equal to the CLI's own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from test_server import POST, wait

from worldsmith.cli import main
from worldsmith.studio.server import create_app


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_bad_runs_folder_and_guard_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["studio", "--runs", tmp_path / "nope"], capsys)
    assert code == 2 and "does not exist" in err and "--runs" in err
    code, _, err = run_cli(["studio", "--runs", tmp_path, "--guard", "none"], capsys)
    assert code == 2 and "default, blocklist" in err


@pytest.mark.parametrize("host, loud", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_binds_loopback_unless_told_and_then_warns(tmp_path, capsys, monkeypatch, host, loud):
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw))
    code, _, err = run_cli(
        ["studio", "--runs", tmp_path, "--host", host, "--port", 9123, "--guard", "blocklist"], capsys
    )
    assert code == 0
    assert served["host"] == host and served["port"] == 9123
    assert ("WARNING" in err and "no login" in err.replace("\n", " ")) == loud


def test_studio_generation_matches_the_cli_byte_for_byte(runs_root, tmp_path, capsys):
    with TestClient(create_app(runs_root, guard="blocklist")) as client:
        body = {"ckpt": "wm/model", "video": "clips/input.mp4", "prompt": "a box", "steps": 2, "seed": 7}
        job = wait(client, client.post("/api/generate", json=body, headers=POST).json())
    assert job["status"] == "ok", job["error"]
    args = [
        "generate",
        "video2world",
        "--ckpt",
        runs_root / "wm/model",
        "--video",
        runs_root / "clips/input.mp4",
    ]
    args += [
        "--prompt",
        "a box",
        "--steps",
        2,
        "--seed",
        7,
        "--guard",
        "blocklist",
        "--out",
        tmp_path / "cli",
    ]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    studio_run = runs_root / job["run"]
    assert (studio_run / "video.mp4").read_bytes() == (tmp_path / "cli" / "video.mp4").read_bytes()
    cli_info = json.loads((tmp_path / "cli" / "run.json").read_text())
    studio_info = json.loads((studio_run / "run.json").read_text())
    assert studio_info["command"] == cli_info["command"] and studio_info["seed"] == cli_info["seed"]
    same = ("given_latent_frames", "frames", "steps", "sampler", "guard")
    assert {k: studio_info["results"][k] for k in same} == {k: cli_info["results"][k] for k in same}


def test_studio_action_generation_matches_the_cli_byte_for_byte(runs_root, tmp_path, capsys):
    actions = [[0.3, -0.1 * i, 0.0] for i in range(8)]
    with TestClient(create_app(runs_root, guard="blocklist")) as client:
        body = {"ckpt": "robot/model", "video": "clips/input.mp4", "actions": actions, "steps": 2, "seed": 4}
        job = wait(client, client.post("/api/generate", json=body, headers=POST).json())
    assert job["status"] == "ok", job["error"]
    np.save(tmp_path / "acts.npy", np.asarray(actions, np.float32))
    args = [
        "generate",
        "action2world",
        "--ckpt",
        runs_root / "robot/model",
        "--video",
        runs_root / "clips/input.mp4",
    ]
    args += ["--actions", tmp_path / "acts.npy", "--steps", 2, "--sampler", "euler", "--seed", 4]
    code, _, err = run_cli([*args, "--guard", "blocklist", "--out", tmp_path / "cli"], capsys)
    assert code == 0, err
    assert (runs_root / job["run"] / "video.mp4").read_bytes() == (
        tmp_path / "cli" / "video.mp4"
    ).read_bytes()
