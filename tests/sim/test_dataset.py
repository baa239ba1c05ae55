"""Episode folders on disk: format, round trip, resume, atomicity, workers, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from worldsmith.cli import main
from worldsmith.sim import SimError, make_episode
from worldsmith.sim import dataset as ds
from worldsmith.sim.dataset import DatasetConfig, load_episode, write_dataset, write_episode


def test_written_episode_reads_back(tmp_path):
    ep = make_episode("instruct", 1, frames=5, size=(32, 48), cameras=2)
    folder = write_episode(ep, tmp_path / "episode_000001")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "cam0.mp4", "cam1.mp4", "depth_cam0.npz", "depth_cam1.npz", "masks_cam0.npz", "masks_cam1.npz",
        "meta.json", "states.npz",
    ]  # fmt: skip
    back = load_episode(folder)
    assert back.meta == json.loads(json.dumps(ep.meta))
    assert back.meta["instruction"] and back.meta["caption"]
    np.testing.assert_array_equal(back.masks, ep.masks)
    np.testing.assert_array_equal(back.depth, ep.depth)
    for key, value in ep.states.items():
        np.testing.assert_array_equal(back.states[key], value, err_msg=key)
    assert back.frames.shape == ep.frames.shape
    psnr = 10 * np.log10(255**2 / np.mean((back.frames.astype(float) - ep.frames) ** 2))
    assert psnr > 28  # H.264 at crf 18
    assert not list(tmp_path.glob(".*"))  # no temporary folders left behind


def test_rerun_skips_finished_episodes_and_refuses_other_arguments(tmp_path, monkeypatch):
    config = DatasetConfig(scenarios=("pendulum", "slide"), episodes=3, frames=3, size=32, depth=False)
    first = write_dataset(config, tmp_path)
    assert first["written"] == 3 and first["skipped"] == 0
    index = json.loads((tmp_path / "index.json").read_text())
    assert [e["scenario"] for e in index["episodes"]] == ["pendulum", "slide", "pendulum"]
    assert len({e["seed"] for e in index["episodes"]}) == 3
    assert not (tmp_path / "episode_000000" / "depth_cam0.npz").exists()

    # a crash while writing leaves no episode folder; the rerun renders only what is missing
    import shutil

    shutil.rmtree(tmp_path / "episode_000002")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ds.np, "savez_compressed", crash)
    with pytest.raises(RuntimeError):
        write_dataset(config, tmp_path)
    assert not (tmp_path / "episode_000002").exists()
    monkeypatch.undo()
    second = write_dataset(config, tmp_path)
    assert second["written"] == 1 and second["skipped"] == 2

    with pytest.raises(SimError, match="other arguments"):
        write_dataset(DatasetConfig(scenarios=("pendulum",), episodes=1, frames=4, size=32), tmp_path)


def test_two_workers_write_the_same_episodes_as_one(tmp_path):
    config = DatasetConfig(scenarios=("projectile",), episodes=2, frames=3, size=32, masks=False, depth=False)
    write_dataset(config, tmp_path / "one", workers=1)
    summary = write_dataset(config, tmp_path / "two", workers=2)
    assert summary["written"] == 2
    for i in range(2):
        a = np.load(tmp_path / "one" / f"episode_{i:06d}" / "states.npz")
        b = np.load(tmp_path / "two" / f"episode_{i:06d}" / "states.npz")
        np.testing.assert_array_equal(a["obj_pos"], b["obj_pos"])


def test_bad_dataset_config():
    with pytest.raises(SimError, match="unknown scenario"):
        DatasetConfig(scenarios=("juggle",))
    with pytest.raises(SimError, match="positive"):
        DatasetConfig(episodes=0)
    with pytest.raises(SimError, match="camera mode 'spin'"):
        DatasetConfig(camera_mode="spin")
    with pytest.raises(SimError, match="size"):
        DatasetConfig(size=5000)
    assert ds.scenario_list("physics") == tuple(ds.PHYSICS_ALIGNMENT)
    with pytest.raises(SimError, match="not an episode folder"):
        load_episode("/nonexistent")


def _cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def test_cli_sim_list_run_and_errors(tmp_path, capsys):
    code, out, _ = _cli(["sim", "list"], capsys)
    assert code == 0 and "free_fall" in out and "drive" in out
    assert len(out.strip().splitlines()) == len(ds.SCENARIOS)
    code, _, err = _cli(
        ["sim", "run", "drive", "--episodes", "1", "--frames", "2", "--size", "32", "--cameras", "3",
         "--out", str(tmp_path / "run"), "--seed", "4"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "ok" and run["results"]["written"] == 1
    meta = json.loads((tmp_path / "run" / "episode_000000" / "meta.json").read_text())
    assert meta["cameras"] == ["front", "back", "left"] and meta["scenario"] == "drive"
    code, _, err = _cli(["sim", "run", "drive", "--cameras", "9", "--out", str(tmp_path / "bad")], capsys)
    assert code == 2 and "rig of 6 cameras" in err


def test_cli_sim_footage(tmp_path, capsys):
    out = tmp_path / "footage"
    args = [
        "sim",
        "footage",
        "--seconds",
        "6",
        "--height",
        "24",
        "--width",
        "32",
        "--out",
        str(out),
        "--seed",
        "1",
    ]
    code, _, err = _cli(args, capsys)
    assert code == 0, err
    truth = json.loads((out / "footage_000.json").read_text())
    assert truth["num_frames"] > 40 and len(truth["shots"]) == len(truth["boundaries"]) + 1


def test_demo_dataset_writes_physics_episodes(tmp_path):
    from worldsmith.sim import demo_dataset

    summary = demo_dataset(tmp_path / "demo", seed=1, episodes=3, frames=3, size=32, workers=1)
    assert summary["written"] == 3 and summary["frames_rendered"] == 9
    assert set(summary["scenarios"]) == {"free_fall", "projectile", "collision"}
    assert (tmp_path / "demo" / "episode_000002" / "masks_cam0.npz").is_file()


def test_mixed_camera_moves_draw_a_mode_and_speed_per_episode(tmp_path):
    """camera_mode="mixed": each episode a moving camera mode at a speed in 0.6-1.4x, drawn from its
    seed (so held-out seeds get held-out paths), recorded in meta.json."""
    cfg = DatasetConfig(scenarios=("ramp",), episodes=4, frames=2, size=16, masks=False, depth=False,
                        camera_mode="mixed", seed=3)  # fmt: skip
    ds.write_dataset(cfg, tmp_path)
    metas = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("episode_*/meta.json"))]
    assert len(metas) == 4
    for m in metas:
        assert m["camera_mode"] in ("orbit", "pan", "dolly", "truck", "crane")
        assert 0.6 <= m["camera_speed"] <= 1.4
        assert ds.camera_move(cfg, m["seed"]) == (m["camera_mode"], m["camera_speed"])
    assert len({m["camera_speed"] for m in metas}) == 4
