"""AR action post-training end to end: robot episodes + a pretrained AR world model -> `posttrain_ar_action`
(LoRA: adapters apart; full) -> the checkpoint loads as an `ActionGPT`, predicts clips, merges to the
same logits, resumes exactly; on the command line `posttrain action` picks the AR recipe from `--init`
and `generate action2world` / `posttrain merge` take its checkpoint; bad bases, options and actions fail
naming the fix (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from posttrain_helpers import run_cli  # noqa: E402  (tests/posttrain, see conftest)
from safetensors.torch import load_file

from worldsmith.autoregressive.bundle import ARSpec, ARWorld
from worldsmith.autoregressive.gpt import GPT, get_preset
from worldsmith.data.episodes import read_action_clips
from worldsmith.errors import CheckpointError, WorldsmithError
from worldsmith.posttrain.ar_action import ActionGPT, encode_tokens, predict_ar_with_actions
from worldsmith.posttrain.ar_recipes import is_ar_world, posttrain_ar_action
from worldsmith.posttrain.recipes import ActionPosttrainConfig
from worldsmith.posttrain.world import load_action_world, merge_export
from worldsmith.sim.dataset import DatasetConfig, write_dataset
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset as tokenizer_preset
from worldsmith.video import io


def save_tiny_ar_base(path) -> None:
    """A tiny AR world model: 9 frames at 32x32, a random DV4x8x8 tokenizer (3x4x4 tokens, 1,000 codes)."""
    torch.manual_seed(0)
    tok = CausalTokenizer(tokenizer_preset("tiny-dv4x8x8")).eval()
    cfg = get_preset("tiny", dim=32, layers=2, heads=2, kv_heads=1, head_dim=16, ffn_hidden=64,
                     latent_shape=(3, 4, 4), codebook_size=tok.fsq.codebook_size, text_dim=None)  # fmt: skip
    ARWorld(GPT(cfg).eval(), tok, ARSpec(frames=9, size=(32, 32), fps=10.0)).save_pretrained(path)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ar_posttrain")
    save_tiny_ar_base(root / "base")
    cfg = DatasetConfig(scenarios=("explore_ou",), episodes=2, frames=9, size=32, depth=False, masks=False)
    write_dataset(cfg, root / "arm")
    return root


def _run(root, name: str, rank: int, steps: int = 2, **train):
    cfg = ActionPosttrainConfig(lora_rank=rank, action_dropout=0.0)
    sets = [f"steps={steps}", "batch_size=2", "log_every=1"] + [f"{k}={v}" for k, v in train.items()]
    return posttrain_ar_action(
        root / "base", root / "arm", root / name, config=cfg, overrides=sets, threads=1
    )


def test_lora_run_saves_adapters_apart_predicts_and_merges_to_the_same_logits(root):
    metrics = _run(root, "lora", rank=4)
    assert metrics["action_dim"] == 3 and metrics["clips"] == 2 and metrics["trainable_fraction"] < 1
    model = root / "lora" / "model"
    info = json.loads((model / "posttrain.json").read_text())
    assert info == {"condition": "action", "adapter": True, "family": "ar"} and is_ar_world(model)
    base = load_file(root / "base" / "model.safetensors")
    saved = load_file(model / "model.safetensors")  # under LoRA the GPT's own weights stay the base's
    assert set(saved) == set(base) and all(torch.equal(saved[k], base[k]) for k in base)

    world, net = load_action_world(model)
    assert isinstance(world, ARWorld) and isinstance(net, ActionGPT)
    clips = read_action_clips(root / "arm", frames=9)
    video = predict_ar_with_actions(world, net, clips.frames[:, :1], clips.actions)
    assert video.shape == clips.frames.shape and video.dtype == torch.uint8
    assert torch.equal(video[:, 0], clips.frames[:, 0])

    merge_export(model, root / "merged")
    _, merged = load_action_world(root / "merged")
    assert not (root / "merged" / "adapter").exists()
    tokens = encode_tokens(world, clips.frames).flatten(1)  # [N, 48]
    with torch.no_grad():
        want = net(tokens[:, :-1], actions=clips.actions)
        torch.testing.assert_close(merged(tokens[:, :-1], actions=clips.actions), want, rtol=1e-4, atol=1e-4)


def test_full_fine_tuning_resumes_exactly(root):
    a = _run(root, "full_a", rank=0, steps=4, ckpt_every=2)
    b_dir = root / "full_b" / "train" / "checkpoints"
    b_dir.mkdir(parents=True)
    (root / "full_a" / "train" / "checkpoints" / "step_0000002").rename(b_dir / "step_0000002")
    cfg = ActionPosttrainConfig(lora_rank=0, action_dropout=0.0)
    sets = ["steps=4", "batch_size=2", "log_every=1", "ckpt_every=2"]
    posttrain_ar_action(root / "base", root / "arm", root / "full_b", config=cfg, overrides=sets, threads=1,
                        resume=True)  # fmt: skip
    assert a["trainable_fraction"] == 1.0
    for part in ("model.safetensors", "action/model.safetensors"):
        wa, wb = load_file(root / "full_a" / "model" / part), load_file(root / "full_b" / "model" / part)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), part


def test_bad_bases_and_options_name_the_fix(root):
    diffusion_like = root / "not_ar"
    diffusion_like.mkdir()
    (diffusion_like / "world.json").write_text("{}")
    arm = root / "arm"
    with pytest.raises(CheckpointError, match="not an AR world model.*train ar"):
        posttrain_ar_action(diffusion_like, arm, root / "x")
    if (root / "lora" / "model").is_dir():
        with pytest.raises(CheckpointError, match="already post-trained.*merge"):
            posttrain_ar_action(root / "lora" / "model", arm, root / "x")
    with pytest.raises(WorldsmithError, match="--frames.*do not apply to the AR world model"):
        posttrain_ar_action(root / "base", arm, root / "x", config=ActionPosttrainConfig(frames=17))
    with pytest.raises(WorldsmithError, match="--inject/--motion-weight are options of the diffusion recipe"):
        posttrain_ar_action(root / "base", arm, root / "x", config=ActionPosttrainConfig(inject="tokens"))


# --- the command line: `posttrain action` picks the AR recipe from --init ---------------------------


def test_posttrain_generate_merge_with_an_ar_base(root, capsys):
    args = ["posttrain", "action", "--init", root / "base", "--data", root / "arm", "--out", root / "act"]
    code, _, err = run_cli([*args, "--lora-rank", 4, "--set", "train.steps=2"], capsys)
    assert code == 0, err
    assert json.loads((root / "act" / "model" / "posttrain.json").read_text())["family"] == "ar"
    assert json.loads((root / "act" / "run.json").read_text())["results"]["action_dim"] == 3

    np.save(root / "acts.npy", np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32))
    video = root / "arm" / "episode_000000" / "cam0.mp4"
    gen = ["generate", "action2world", "--video", video, "--ckpt", root / "act" / "model", "--guard", "none"]
    code, _, err = run_cli([*gen, "--actions", root / "acts.npy", "--out", root / "a2w"], capsys)
    assert code == 0, err
    assert io.probe(root / "a2w" / "video.mp4").num_frames == 9

    code, _, err = run_cli(
        ["posttrain", "merge", "--ckpt", root / "act" / "model", "--out", root / "m"], capsys
    )
    assert code == 0, err
    assert not (root / "m" / "model" / "adapter").exists()


@pytest.mark.parametrize(
    "actions, extra, message",
    [
        (np.zeros((8, 2), np.float32), [], "dimension 2, the model was post-trained with 3"),
        (np.zeros((5, 3), np.float32), [], "5 actions for a clip that needs 8"),
        (np.full((8, 3), np.nan, np.float32), [], "NaN"),
        (np.zeros((8, 3), np.float32), ["--guidance", 3], "no guidance on actions"),
    ],
    ids=["dimension", "too-few", "nan", "guidance"],
)
def test_bad_actions_exit_2_naming_the_fix(root, capsys, actions, extra, message):
    if not (root / "act" / "model").is_dir():
        pytest.skip("needs the model of test_posttrain_generate_merge_with_an_ar_base")
    np.save(root / "bad.npy", actions)
    video = root / "arm" / "episode_000000" / "cam0.mp4"
    args = ["generate", "action2world", "--video", video, "--ckpt", root / "act" / "model", "--guard", "none"]
    code, _, err = run_cli([*args, "--actions", root / "bad.npy", "--out", root / "bad", *extra], capsys)
    assert code == 2 and message in err, err
    assert extra or "bad.npy" in err, err


def test_options_of_the_diffusion_recipe_are_refused_for_an_ar_base(root, capsys):
    args = ["posttrain", "action", "--init", root / "base", "--data", root / "arm", "--out", root / "x"]
    code, _, err = run_cli([*args, "--frames", 17], capsys)
    assert code == 2 and "do not apply to the AR world model" in err, err
