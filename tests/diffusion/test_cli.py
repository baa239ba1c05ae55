"""End to end on the command line: videos -> latent cache -> `train diffusion` -> `generate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthetic_inputs import moving_square, save_tokenizers  # noqa: E402  (tests/, see conftest)
from worldsmith.cli import main
from worldsmith.diffusion.world import WorldModel
from worldsmith.refine import ContextRefiner, RefinerConfig
from worldsmith.video import io
from worldsmith.video.transforms import resize_center_crop


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    save_tokenizers(root, tok="tiny-cv4x8x8")
    data = root / "data"
    for i in range(2):
        io.write(data / f"clip{i}.mp4", moving_square(18, 32, 40, 7 * i), fps=12)
    (data / "clip0.txt").write_text("an orange box slides to the right")
    return root


def test_train_then_generate_text2world_and_video2world(trained, capsys):
    root = trained
    args = ["train", "diffusion", "--tokenizer", root / "tok", "--data", root / "data", "--out", root / "run"]
    args += ["--frames", 9, "--size", "32x32", "--text-encoder", "none"]
    args += ["--set", "train.steps=3", "--set", "train.batch_size=2", "--set", "model.depth=1"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    run = json.loads((root / "run" / "run.json").read_text())
    assert run["status"] == "ok" and run["results"]["clips"] == 4  # 2 videos x 2 clips of 9 frames
    world = WorldModel.from_pretrained(root / "run" / "model")
    assert world.dit.cfg.depth == 1 and world.spec.latent_size == (3, 4, 4) and world.tokenizer is not None
    cache_index = root / "run" / "latent_cache" / "index.json"
    stamp = cache_index.stat().st_mtime_ns
    code, _, err = run_cli(args, capsys)  # second run: the cache is reused, not rebuilt
    assert code == 0 and "latent cache hit" in err and cache_index.stat().st_mtime_ns == stamp

    ckpt = root / "run" / "model"
    gen = ["--ckpt", ckpt, "--steps", 2, "--guard", "none", "--prompt", "a box"]
    code, _, err = run_cli(["generate", "text2world", *gen, "--out", root / "t2w"], capsys)
    assert code == 0, err
    assert "guardrails are OFF" in err  # never silently off
    assert io.probe(root / "t2w" / "video.mp4").num_frames == 9

    v2w = ["generate", "video2world", *gen, "--video", root / "data" / "clip1.mp4", "--cond-frames", 5]
    code, _, err = run_cli([*v2w, "--out", root / "v2w"], capsys)
    assert code == 0, err
    facts = json.loads((root / "v2w" / "run.json").read_text())["results"]
    assert facts["given_latent_frames"] == 2 and facts["guard"] == "none"
    assert facts["guard_policy"]["relaxations"] == ["every guard is off (--guard none)"]  # with who set it
    assert facts["guard_policy"]["set_by"]

    code, _, err = run_cli([*v2w[:-2], "--cond-frames", 4, "--out", root / "bad"], capsys)
    assert code == 2 and "1 + k*4" in err

    # --refiner: one that copies the last given frame (mask logit +30, no correction) freezes the future
    copier = ContextRefiner(RefinerConfig(width=8))
    with torch.no_grad():
        copier.head.weight.zero_()
        copier.head.bias.copy_(torch.tensor([30.0, 0.0, 0.0, 0.0]))
    copier.save_pretrained(root / "copier")
    code, _, err = run_cli([*v2w, "--refiner", root / "copier", "--out", root / "v2w_ref"], capsys)
    assert code == 0, err
    assert json.loads((root / "v2w_ref" / "run.json").read_text())["results"]["refined"] is True
    frames = io.read(root / "v2w_ref" / "video.mp4").frames.numpy().astype(np.float32)  # [9, H, W, 3]
    given = resize_center_crop(io.read(root / "data" / "clip1.mp4").frames[:5], (32, 32))[4].numpy()
    err = np.abs(frames[5:] - given.astype(np.float32)).mean()
    assert err < 3  # every predicted frame is the last given one (up to mp4 coding)
    plain = io.read(root / "v2w" / "video.mp4").frames.numpy().astype(np.float32)
    assert np.abs(plain[5:] - given.astype(np.float32)).mean() > 3 * err

    # --relative-decode: the given frames come back as given (not decoded), the future is the last
    # given frame plus the decoded change
    code, _, err = run_cli([*v2w, "--relative-decode", "--out", root / "v2w_rel"], capsys)
    assert code == 0, err
    assert json.loads((root / "v2w_rel" / "run.json").read_text())["results"]["relative_decode"] is True
    rel = io.read(root / "v2w_rel" / "video.mp4").frames.numpy().astype(np.float32)
    first = resize_center_crop(io.read(root / "data" / "clip1.mp4").frames[:5], (32, 32)).numpy()
    rel_err = np.abs(rel[:5] - first.astype(np.float32)).mean()
    assert rel_err < 3 and np.abs(plain[:5] - first.astype(np.float32)).mean() > 2 * rel_err


def test_guard_blocks_a_prompt_before_any_work(trained, capsys, tmp_path):
    args = ["generate", "text2world", "--ckpt", tmp_path / "missing", "--out", tmp_path / "g"]
    code, _, err = run_cli([*args, "--prompt", "soldiers massacre a village", "--guard", "blocklist"], capsys)
    assert code == 2 and "blocked" in err.lower()
    assert not (tmp_path / "g" / "video.mp4").exists()
    code, _, err = run_cli([*args, "--prompt", "a box", "--guard", "blocklist"], capsys)
    assert code == 2 and "world.json" in err  # allowed prompt: then the missing checkpoint is reported


def test_train_errors_name_the_input(trained, capsys, tmp_path):
    base = ["train", "diffusion", "--tokenizer", trained / "tok", "--out", tmp_path / "r"]
    code, _, err = run_cli([*base, "--data", tmp_path], capsys)
    assert code == 2 and "no video files" in err
    code, _, err = run_cli([*base, "--data", trained / "data", "--size", "big"], capsys)
    assert code == 2 and "--size" in err
    code, _, err = run_cli([*base, "--data", trained / "data", "--preset", "huge"], capsys)
    assert code == 2 and "preset" in err


def test_guard_sets():
    from worldsmith.diffusion.pipeline import build_guard
    from worldsmith.errors import WorldsmithError
    from worldsmith.guardrails.pipeline import GuardPipeline

    assert isinstance(build_guard("default"), GuardPipeline)  # models load lazily: cheap to build
    assert isinstance(build_guard("blocklist"), GuardPipeline)
    assert build_guard("none") is None
    with pytest.raises(WorldsmithError, match="guard set"):
        build_guard("off")


def test_train_a_rectified_flow_world_model_from_the_command_line(trained, capsys):
    """`--set objective.family=flow` trains Cosmos 2.x's rectified flow through the same Trainer; the
    world model records its family and `generate --sampler unipc` samples it."""
    root = trained
    args = ["train", "diffusion", "--tokenizer", root / "tok", "--data", root / "data"]
    args += [
        "--out",
        root / "flow",
        "--frames",
        9,
        "--size",
        "32x32",
        "--text-encoder",
        "none",
        "--set",
        "objective.family=flow",
    ]
    args += ["--set", "objective.flow.shift=3", "--set", "train.steps=3", "--set", "model.depth=1"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    world = WorldModel.from_pretrained(root / "flow" / "model")
    assert world.spec.family == "flow" and world.spec.flow.shift == 3.0
    gen = ["--ckpt", root / "flow" / "model", "--steps", 2, "--sampler", "unipc", "--guard", "none"]
    gen += ["--prompt", "a box", "--out", root / "f2w"]
    code, _, err = run_cli(["generate", "text2world", *gen], capsys)
    assert code == 0, err
    code, _, err = run_cli([*args[:-2], "--set", "objective.family=ddpm"], capsys)
    assert code == 2 and "'family' = 'ddpm' must be one of ['edm', 'flow']" in err


def test_generate_takes_the_tokenizer_a_world_model_lacks(trained, capsys, tmp_path):
    """A world model saved without its tokenizer/ (as the demo's was) decodes with --tokenizer."""
    import shutil

    args = ["train", "diffusion", "--tokenizer", trained / "tok", "--data", trained / "data"]
    args += ["--out", tmp_path / "run", "--frames", 9, "--size", "32x32", "--text-encoder", "none"]
    code, _, err = run_cli([*args, "--steps", 1, "--set", "model.depth=1"], capsys)
    assert code == 0, err
    shutil.rmtree(tmp_path / "run" / "model" / "tokenizer")
    gen = ["generate", "video2world", "--ckpt", tmp_path / "run" / "model", "--steps", 1, "--guard", "none"]
    gen += ["--prompt", "a box", "--video", trained / "data" / "clip1.mp4", "--cond-frames", 5]
    code, _, err = run_cli([*gen, "--out", tmp_path / "a"], capsys)
    assert code == 2 and "--tokenizer DIR" in err
    code, _, err = run_cli([*gen, "--tokenizer", trained / "tok", "--out", tmp_path / "b"], capsys)
    assert code == 0, err
    assert io.probe(tmp_path / "b" / "video.mp4").num_frames == 9
