"""Every `.venv/bin/worldsmith ...` line of the README runs as written (issue 32).

The README's ```bash blocks are parsed (the "From raw videos to a world model" block is run by
tests/test_readme_path.py); each command line is looked up in `COVER` (kept in sync by
`test_every_readme_command_is_covered`) and run in-process, in a scratch folder holding every input
the README names (`clip.mp4`, `videos/`, `TOK`, `raw/`, `start.mp4`, ...), made tiny by this test.
A `...` after the subcommand stands for the options of the README line above it with the same
subcommand that the line does not give itself (`--prompt "..."` is run as written). `COVER`
appends only size flags (fewer steps, frames, episodes), the last of a repeated option winning.
Commands that take minutes by nature run in `test_slow_readme_commands`.
"""

# ruff: noqa: E501  (COVER's keys are the README's lines, longer than our 110 columns)

from __future__ import annotations

import json
import os
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from synthetic_inputs import moving_square, save_tokenizers  # noqa: E402  (tests/, see conftest)
from worldsmith.cli import main
from worldsmith.video import io

README = Path(__file__).parents[1] / "README.md"
PREFIX = ".venv/bin/worldsmith"
TINY_DIT = ["--frames", "9", "--size", "32x32", "--steps", "2", "--set", "model.depth=1"]
TINY_AR = ["--frames", "9", "--size", "32x32", "--steps", "2"]

# README line (without the prefix and comment) -> flags appended to it. In run order: inputs first.
COVER: dict[str, list[str]] = {
    "--help": [],
    "version": [],
    "probe clip.mp4 --json": [],
    "sim list": [],
    "sim run physics --episodes 200 --size 64 --workers 2 --out runs/physics": ["--episodes", "1", "--frames",
                                                                               "13", "--workers", "1"],
    "sim run drive --episodes 2 --size 96 --out runs/drive": ["--episodes", "1", "--frames", "6"],
    "sim footage --videos 2 --out runs/footage": ["--videos", "1", "--seconds", "14", "--height", "48", "--width", "64"],
    "shots raw.mp4 --json": [],
    "shots raw.mp4 --out runs/shots": [],
    "curate raw/ --out runs/curated": [],
    "tokenizer presets": [],
    "tokenizer train --preset tiny-cv4x8x8 --data videos/ --steps 500 --out runs/tok": ["--steps", "2"],
    "tokenizer reconstruct clip.mp4 --ckpt runs/tok/tokenizer --size 256 --out runs/rec": [],
    "tokenizer convert Cosmos-1.0-Tokenizer-CV8x8x8/vae --out ckpt/cv8x8x8": [],
    "train diffusion --tokenizer TOK --data videos/ --preset tiny --out runs/dit": TINY_DIT,
    "train diffusion --data runs/curated --select motion=0.02: ...": [*TINY_DIT, "--out", "runs/dit_select"],
    "train diffusion ... --set objective.family=flow": [*TINY_DIT, "--out", "runs/dit_flow"],
    'generate video2world --video clip.mp4 --cond-frames 5 --prompt "..." --ckpt runs/dit/model --out runs/v2w':
        ["--steps", "2"],
    "generate video2world ... --refiner runs/demo/refiner/model": ["--steps", "2", "--out", "runs/v2w_refined"],
    "train refiner --world runs/dit/model --data runs/curated2 --out runs/ref": ["--steps", "2", "--sample-steps", "1"],
    "convert diffusers Cosmos-1.0-Diffusion-7B-Video2World/ --out ckpt/cosmos7b": [],
    "convert diffusers Cosmos-Predict2.5-2B-diffusers/ --out ckpt/p25": [],
    "posttrain action --init runs/dit/model --data runs/robot --lora-rank 16 --out runs/act": ["--set", "train.steps=2"],
    "generate action2world --video start.mp4 --actions actions.npy --ckpt runs/act/model --out runs/a2w": ["--steps", "2"],
    "posttrain camera --init runs/dit/model --data runs/cams --out runs/cam": ["--set", "train.steps=2"],
    "generate camera2world --video start.mp4 --camera path.json --ckpt runs/cam/model --out runs/c2w": ["--steps", "2"],
    "posttrain control --init runs/dit/model --data runs/twins --controls depth,seg,edge --out runs/ctl": ["--set", "train.steps=2", "--appearances", "1", "--blocks", "1"],
    'generate transfer --control depth=d.mp4 --control seg=s.mp4 --weight depth=0.5 --prompt "a warehouse" --ckpt runs/ctl/model --out runs/tr': ["--steps", "2"],
    "posttrain multiview --init runs/dit/model --data runs/drive --out runs/mv": ["--set", "train.steps=2"],
    "generate multiview --rig runs/drive/episode_000000 --trajectory traj.json --ckpt runs/mv/model --out runs/mvgen":
        ["--steps", "2"],
    "plan --ckpt runs/act/model --task push --episodes 20 --out runs/plan": [
        "--episodes", "1", "--task-steps", "4", "--iters", "1", "--samples", "4", "--steps", "1",
        "--policy-starts", "1", "--record", "1"],
    'guard prompt "a robot stacks boxes"': [],
    "guard video clip.mp4 --out runs/guard": [],
    "train ar --tokenizer DV_TOK --data videos/ --preset tiny --out runs/ar": TINY_AR,
    "train medusa --base runs/ar/model --data videos/ --heads 4 --out runs/medusa": ["--steps", "2"],
    "generate ar-video2world --video clip.mp4 --ckpt runs/ar/model --medusa runs/medusa/medusa --out runs/arv2w":
        ["--cond-frames", "5"],
    "eval physics pred.mp4 --episode runs/physics/episode_000000 --cond 9": [],
    "eval physics ... --lpips-backbone ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth": [],
    "eval geometry clip.mp4": [],
    "eval geometry ... --upscale 3 --contrast-threshold 0.01": [],
    "eval multiview runs/drive/episode_000000": [],
}  # fmt: skip
# A server that runs until it is stopped: tests/studio/test_cli.py starts it on a free port.
NOT_RUN = {"studio --runs runs/": "tests/studio/test_cli.py"}
# Minutes by nature (the whole demo, torch.compile, two torchrun ranks): run with `-m slow`.
SLOW: dict[str, list[str]] = {
    "train diffusion ... --nproc 2 --cp 2 --ac": [*TINY_DIT, "--out", "runs/dit_cp"],
    "tokenizer train ... --precision bf16 --compile": ["--steps", "2", "--out", "runs/tok_compiled"],
    "demo --out runs/demo": ["--quick"],
}


def readme_commands() -> list[str]:
    """The README's command lines (prefix and trailing comment removed), in README order."""
    lines = []
    text = re.sub(
        r"## From raw videos to a world model.*?```bash\n.*?```", "", README.read_text(), flags=re.S
    )
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith(PREFIX + " "):
                command = re.sub(r"\s+#.*$", "", line[len(PREFIX) :])  # no '#' inside the commands
                lines.append(" ".join(command.split()))
    return lines


def _options(words: list[str]) -> list[list[str]]:
    """Arguments grouped: each option with its values; a positional alone."""
    groups: list[list[str]] = []
    for w in words:
        if w.startswith("-") or not groups or not groups[-1][0].startswith("-"):
            groups.append([w])
        else:
            groups[-1].append(w)
    return groups


def _elision(words: list[str]) -> int | None:
    """Where `...` stands for earlier options (not the README's placeholder prompt `--prompt "..."`)."""
    return next((i for i, w in enumerate(words) if w == "..." and words[i - 1] != "--prompt"), None)


def expand(line: str, earlier: list[str]) -> list[str]:
    """`line` as argv: `...` takes the options of the last earlier line with the same subcommand
    that this line does not give; `~` is the home folder."""
    words = shlex.split(line)
    if (i := _elision(words)) is not None:
        given = {w for w in words if w.startswith("-")}
        above = next(
            e for e in map(shlex.split, reversed(earlier)) if e[:2] == words[:2] and _elision(e) is None
        )
        keep = [w for g in _options(above[2:]) if g[0] not in given for w in g]
        words = [*words[:i], *keep, *words[i + 1 :]]
    return [os.path.expanduser(w) if w.startswith("~") else w for w in words]


def test_every_readme_command_is_covered():
    """A command added to the README must be added to COVER (or SLOW) here, and run."""
    readme = readme_commands()
    missing = [c for c in readme if c not in COVER and c not in SLOW and c not in NOT_RUN]
    stale = [c for c in [*COVER, *SLOW, *NOT_RUN] if c not in readme]
    assert not missing, f"README commands not run by tests/test_readme.py (add them to COVER): {missing}"
    assert not stale, f"COVER lists commands the README no longer has: {stale}"


def make_inputs(root: Path) -> None:
    """Every input the README names, tiny."""
    from worldsmith.refine import ContextRefiner, RefinerConfig

    io.write(root / "clip.mp4", moving_square(17, 32, 40, 3), fps=10)
    for i in range(2):
        io.write(root / "videos" / f"v{i}.mp4", moving_square(18, 32, 40, 7 * i), fps=10)
    (root / "videos" / "v0.txt").write_text("an orange box slides to the right")
    cut = np.concatenate([moving_square(25, 32, 40, 0), 255 - moving_square(25, 32, 40, 5)])
    io.write(root / "raw.mp4", cut, fps=10)
    save_tokenizers(root, TOK="tiny-cv4x8x8", DV_TOK="tiny-dv4x8x8")
    ContextRefiner(RefinerConfig(width=8)).save_pretrained(root / "runs" / "demo" / "refiner" / "model")
    released_weights(root)


def released_weights(root: Path) -> None:
    """Tiny random stand-ins, in diffusers' layout, for the released Cosmos folders."""
    from dataclasses import replace

    diffusers = pytest.importorskip("diffusers")
    from diffusers.models.transformers.transformer_cosmos import CosmosTransformer3DModel

    from worldsmith.tokenizers.convert import config_to_diffusers
    from worldsmith.tokenizers.presets import get_preset

    src = root / "Cosmos-1.0-Diffusion-7B-Video2World"
    CosmosTransformer3DModel(
        in_channels=5, out_channels=4, num_attention_heads=2, attention_head_dim=12, num_layers=1,
        text_embed_dim=8, adaln_lora_dim=4, max_size=(4, 8, 8),
    ).save_pretrained(src / "transformer")  # fmt: skip
    vae_kw = config_to_diffusers(replace(get_preset("tiny-cv4x8x8"), latent_channels=4))
    diffusers.AutoencoderKLCosmos(**vae_kw).save_pretrained(src / "vae")
    diffusers.AutoencoderKLCosmos(**config_to_diffusers(get_preset("tiny-cv4x8x8"))).save_pretrained(
        root / "Cosmos-1.0-Tokenizer-CV8x8x8" / "vae"
    )


def _predict25(folder: Path) -> None:
    """A tiny random Cosmos Predict 2.5 pipeline saved by diffusers (tests/diffusion/test_cosmos2.py's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cosmos2", Path(__file__).parent / "diffusion" / "test_cosmos2.py"
    )
    cosmos2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cosmos2)
    cosmos2._predict25_pipe().save_pretrained(folder)


def before(line: str, root: Path) -> None:
    """Inputs made from earlier commands' outputs, or too slow to make for every test run."""
    import shutil

    from worldsmith.sim.dataset import DatasetConfig, load_episode, write_dataset

    tiny = dict(episodes=2, frames=9, size=32, depth=False, masks=False)
    if line.startswith("curate raw/"):  # raw footage with shots curate keeps: the twin's
        shutil.copytree(root / "runs" / "footage", root / "raw", ignore=shutil.ignore_patterns("*.json"))
    if line.startswith("train refiner"):
        shutil.copytree(root / "runs" / "curated", root / "runs" / "curated2")
    if line.startswith("convert diffusers Cosmos-Predict2.5"):
        _predict25(root / "Cosmos-Predict2.5-2B-diffusers")
    if line.startswith("posttrain action"):  # the pusher: the robot `plan` plans for
        write_dataset(DatasetConfig(scenarios=("pusher",), **tiny), root / "runs" / "robot")
    if line.startswith("generate action2world"):
        shutil.copy(root / "runs" / "robot" / "episode_000000" / "cam0.mp4", root / "start.mp4")
        np.save(root / "actions.npy", np.zeros((8, 2), np.float32))
    if line.startswith("posttrain camera"):
        write_dataset(
            DatasetConfig(scenarios=("collision",), camera_mode="truck", **tiny), root / "runs" / "cams"
        )
    if line.startswith("generate camera2world"):
        from worldsmith.posttrain.camera_path import write_path_json

        ep = load_episode(root / "runs" / "cams" / "episode_000000")
        write_path_json(root / "path.json", ep.states["K"][0], ep.states["world_to_cam"][0], (32, 32))
    if line.startswith("posttrain control"):  # twins with depth and masks
        write_dataset(DatasetConfig(scenarios=("tower",), **{**tiny, "episodes": 1, "depth": True, "masks": True}),
                      root / "runs" / "twins")  # fmt: skip
    if line.startswith("generate transfer"):
        from worldsmith.posttrain.controls import depth_video, seg_video

        ep = load_episode(root / "runs" / "twins" / "episode_000000")
        io.write(root / "d.mp4", depth_video(ep.depth[0]), fps=10)
        io.write(root / "s.mp4", seg_video(ep.masks[0]), fps=10)
    if line.startswith("posttrain multiview"):  # six-camera rigs long enough for the base's 9 frames
        shutil.rmtree(root / "runs" / "drive")
        write_dataset(
            DatasetConfig(scenarios=("drive",), cameras=6, **{**tiny, "frames": 10}), root / "runs" / "drive"
        )
    if line.startswith("generate multiview"):
        from worldsmith.posttrain.rig_data import write_trajectory

        write_trajectory(root / "traj.json", np.stack([np.arange(1.0, 9.0), np.zeros(8), np.zeros(8)], -1))
    if line.startswith("eval physics pred.mp4"):
        truth = io.read(root / "runs" / "physics" / "episode_000000" / "cam0.mp4").frames
        io.write(root / "pred.mp4", truth[9:], fps=10)
    if "--lpips-backbone" in line:
        from worldsmith.eval.lpips import LPIPS

        torch.manual_seed(0)  # random weights in torchvision's layout: the wiring, not the quality
        path = Path(os.path.expanduser("~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth"))
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({f"features.{k}": v for k, v in LPIPS("alex").features.state_dict().items()}, path)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORLDSMITH_PROGRESS", "1")  # a log's plain progress lines: checked below
    make_inputs(tmp_path)
    return tmp_path


# Commands whose job is a short answer on stdout (measured: each takes under 0.3 s alone).
ANSWERS = {"--help", "version", "probe", "sim list", "shots", "tokenizer presets", "guard prompt"}


def run_all(table: dict[str, list[str]], root: Path, capsys) -> dict[str, float]:
    readme, seconds = readme_commands(), {}
    for line, extra in table.items():
        before(line, root)
        argv = [*expand(line, readme[: readme.index(line)]), *extra]
        t0 = time.perf_counter()
        with pytest.raises(SystemExit) as exc:
            main(argv)
        seconds[line] = time.perf_counter() - t0
        out, err = capsys.readouterr()
        assert exc.value.code == 0, f"`worldsmith {line}` exited {exc.value.code} ({seconds}):\n{err[-2000:]}"
        # long work says what it is doing on stderr. Asked of every command but the few whose whole job is
        # to print a short answer on stdout, rather than of those that ran over 2 s: timing them failed
        # on a loaded machine (eval physics, silent for 4 s, now says what it scores)
        if line.split()[0] in ANSWERS or " ".join(line.split()[:2]) in ANSWERS:
            assert out.strip(), f"`worldsmith {line}` printed no answer"
        else:
            assert err.strip(), f"`worldsmith {line}` ran {seconds[line]:.0f} s without a word on stderr"
        assert "…" not in err, f"`worldsmith {line}` cut a line short:\n{err}"  # readable in a log
    return seconds


def test_readme_commands_run_as_written(workspace, capsys):
    seconds = run_all(COVER, workspace, capsys)
    assert (workspace / "runs" / "v2w_refined" / "video.mp4").is_file()
    assert len(list((workspace / "runs" / "drive" / "episode_000000").glob("cam*.mp4"))) == 6
    assert len(list((workspace / "runs" / "shots").glob("clip_*.mp4"))) == 2
    report = json.dumps({k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])[:8]})
    print(f"slowest README commands (s): {report}")


@pytest.mark.slow
def test_slow_readme_commands(workspace, capfd):
    """capfd: the torchrun ranks write to the process's stderr, not to sys.stderr."""
    first = {k: v for k, v in COVER.items() if k.startswith("train diffusion --tokenizer")}
    run_all(first, workspace, capfd)
    run_all(SLOW, workspace, capfd)
