"""What a newcomer meets in the first hour (issue 32): flags that agree across commands, errors
before slow work, progress that reads in 80 columns and in a log, a compile notice."""

from __future__ import annotations

import io
import json

import pytest
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import TextColumn
from torch.utils.data import TensorDataset

import worldsmith.console as ws_console
from synthetic_inputs import moving_square, save_tokenizers  # noqa: E402  (tests/, see conftest)
from worldsmith.cli import main
from worldsmith.distributed.parallel_dims import ParallelConfig
from worldsmith.train import TrainConfig, Trainer
from worldsmith.train.metrics import read_metrics


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


class Blocks(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(8, 8), torch.nn.Linear(8, 4)])

    def forward(self, x):
        return self.blocks[1](self.blocks[0](x).relu())


def mse(model, batch):
    x, y = batch
    return F.mse_loss(model(x), y)


def data(n=16):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randn(n, 4, generator=g))


# --- item 4: --steps on every training command ---------------------------------------------------


@pytest.mark.parametrize(
    ("command", "target", "extra"),
    [
        ("diffusion", "train_diffusion", ["--tokenizer", "T"]),
        ("ar", "train_ar", ["--tokenizer", "T"]),
        ("medusa", "train_medusa", ["--base", "B"]),
        ("diffusion-decoder", "train_diffusion_decoder", ["--dv", "D", "--cv", "C"]),
        ("posttrain action", "posttrain_action", ["--init", "I"]),
        ("posttrain camera", "posttrain_camera", ["--init", "I"]),
    ],
)
def test_every_training_command_takes_steps(command, target, extra, monkeypatch, tmp_path, capsys):
    seen = {}
    module = "posttrain" if command.startswith("posttrain") else "train"
    monkeypatch.setattr(f"worldsmith.cli.{module}.{target}", lambda *a, **kw: seen.update(kw) or {})
    words = command.split() if module == "posttrain" else ["train", command]
    args = [*words, *extra, "--data", tmp_path, "--out", tmp_path / "run"]
    code, _, err = run_cli([*args, "--set", "train.lr=0.1", "--steps", 7], capsys)
    assert code == 0, err
    last = (
        ["train.lr=0.1", "train.steps=7"] if module == "train" else ["lr=0.1", "steps=7"]
    )  # posttrain: TrainConfig
    assert seen["overrides"][-2:] == last
    assert json.loads((tmp_path / "run" / "run.json").read_text())["args"]["set"][-1] == "train.steps=7"


# --- item 7: a bad override is reported before the data is encoded -------------------------------


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    from worldsmith.video import io as vio

    root = tmp_path_factory.mktemp("inputs")
    save_tokenizers(root, tok="tiny-cv4x8x8", dv="tiny-dv4x8x8")
    vio.write(root / "videos" / "a.mp4", moving_square(9, 32, 32, 0), fps=10)
    return root


@pytest.mark.parametrize(
    ("command", "bad", "message"),
    [
        ("diffusion", ["--set", "train.stepz=3"], "unknown config key 'stepz'"),
        ("diffusion", ["--steps", "-1"], "'steps' = -1"),
        ("diffusion", ["--set", "model.dept=2"], "unknown config key 'dept'"),
        ("ar", ["--set", "objective.nope=1"], "unknown config key 'nope'"),
        ("ar", ["--steps", "0"], "'steps' = 0"),
    ],
)
def test_bad_overrides_fail_before_encoding(command, bad, message, tiny_inputs, monkeypatch, tmp_path,
                                            capsys):  # fmt: skip
    def encode(*args, **kwargs):
        raise AssertionError("the data was encoded before the overrides were checked")

    monkeypatch.setattr("worldsmith.diffusion.recipes.encode_clips", encode)
    monkeypatch.setattr("worldsmith.autoregressive.recipes.encode_clips", encode)
    tok = tiny_inputs / ("tok" if command == "diffusion" else "dv")
    args = ["train", command, "--tokenizer", tok, "--data", tiny_inputs / "videos", "--out", tmp_path / "r"]
    code, _, err = run_cli([*args, "--text-encoder", "none", *bad], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_generate_checks_the_video_before_loading_guards(monkeypatch, tmp_path, capsys):
    def guard(name):
        raise AssertionError("guard models loaded before the video was checked")

    import worldsmith.cli.generate  # noqa: F401  (its imports bind the real build_guard before the patch)

    monkeypatch.setattr("worldsmith.diffusion.pipeline.build_guard", guard)
    args = ["generate", "video2world", "--video", tmp_path / "missing.mp4", "--prompt", "a box"]
    code, _, err = run_cli([*args, "--ckpt", tmp_path, "--out", tmp_path / "g"], capsys)
    assert code == 2 and "missing.mp4" in err and "does not exist" in err


# --- item 3 and 9: the compile notice, distinct first/last losses --------------------------------


def test_compile_is_announced_before_the_first_step(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: None)  # the notice, not inductor
    cfg = TrainConfig(steps=2, batch_size=4, tensorboard=False, parallel=ParallelConfig(compile=True))
    Trainer(cfg, Blocks(), mse, data(), out=tmp_path).fit()
    err = capsys.readouterr().err
    assert "compiling, ~60 s" in err and "compiled in" in err
    assert err.index("compiling, ~") < err.index("compiled in")


def test_short_runs_log_their_first_step(tmp_path):
    cfg = TrainConfig(steps=3, batch_size=4, log_every=25, tensorboard=False)
    Trainer(cfg, Blocks(), mse, data(), out=tmp_path).fit()
    losses = {r["step"]: r["loss"] for r in read_metrics(tmp_path) if "loss" in r}
    assert sorted(losses) == [1, 3] and losses[1] != losses[3]


# --- item 9: progress in 80 columns and in a log -----------------------------------------------


def test_progress_fits_80_columns_on_a_terminal(monkeypatch):
    term = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    monkeypatch.setattr(ws_console, "console", term)
    monkeypatch.setenv("WORLDSMITH_PROGRESS", "1")
    bar = ws_console.progress(TextColumn("{task.fields[stats]}"))
    bar.add_task("train", total=20000, completed=19999, stats="loss 0.1234 350 ms/step")
    bar.add_task("world model predictions to refine", total=1000, completed=999, stats="")
    term.print(bar.make_tasks_table(bar.tasks))
    text = term.file.getvalue()
    assert "…" not in text and "19999/20000" in text and "999/1000" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_progress_in_a_log_is_plain_lines(monkeypatch):
    log = Console(file=io.StringIO(), width=80)  # not a terminal: a log file
    monkeypatch.setattr(ws_console, "console", log)
    monkeypatch.setenv("WORLDSMITH_PROGRESS", "1")
    with ws_console.progress(TextColumn("{task.fields[stats]}")) as bar:
        task = bar.add_task("train", total=200, stats="")
        for i in range(200):
            bar.update(task, completed=i + 1, stats="loss 0.5 12 ms/step")
    lines = log.file.getvalue().splitlines()
    assert 10 <= len(lines) <= 12  # started, every 10 %, done: not one line per step
    assert lines[-1].startswith("train  200/200") and "loss 0.5" in lines[-1]
    assert all(len(line) <= 80 and "…" not in line and "\x1b" not in line for line in lines)


def test_sim_drive_defaults_to_its_camera_rig():
    from worldsmith.cli.sim import default_cameras

    assert default_cameras(("drive",)) == 6
    assert default_cameras(("collision",)) == 1 and default_cameras(("drive", "collision")) == 1


# --- item 9: shots --out, curate on nothing, not-a-video, a shards folder without its manifest ----


def test_shots_out_writes_the_clips(tmp_path, capsys):
    import numpy as np

    from worldsmith.video import io as vio

    frames = np.concatenate([np.full((25, 32, 32, 3), v, np.uint8) for v in (30, 220)])  # one hard cut
    raw = vio.write(tmp_path / "raw.mp4", frames, fps=10)
    code, out, err = run_cli(
        ["shots", raw, "--json", "--min-seconds", 1, "--out", tmp_path / "clips"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["clips"] == [[0, 25], [25, 50]]
    written = sorted((tmp_path / "clips").glob("clip_*.mp4"))
    assert [vio.probe(p).num_frames for p in written] == [25, 25] and "wrote 2 clips" in err
    assert json.loads((tmp_path / "clips" / "run.json").read_text())["status"] == "ok"


def test_not_a_video_and_nothing_to_curate_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["curate", tmp_path / "empty", "--out", tmp_path / "cur"], capsys)
    assert code == 2 and "holds no video files" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cur").exists()
    (tmp_path / "notes.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    code, _, err = run_cli(["shots", tmp_path / "notes.srt"], capsys)
    assert code == 2 and "is not a video" in err
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "shard-00000.tar").write_bytes(b"")
    code, _, err = run_cli(["train", "ar", "--tokenizer", tmp_path, "--data", tmp_path / "shards",
                            "--out", tmp_path / "r"], capsys)  # fmt: skip
    assert code == 2 and "manifest.parquet" in err and "PosixPath" not in err


def test_nproc_relaunches_the_line_main_was_given(monkeypatch, tmp_path, capsys):
    """In-process `main(argv)` (the README test, the Studio) re-runs argv under torchrun, not sys.argv."""
    seen = {}

    def relaunch(nproc, argv=None):
        seen["argv"] = argv
        return 0

    monkeypatch.setattr("worldsmith.distributed.launch.relaunch", relaunch)
    args = ["train", "diffusion", "--tokenizer", tmp_path, "--data", tmp_path, "--out", tmp_path / "r"]
    code, _, _ = run_cli([*args, "--nproc", 2], capsys)
    assert code == 0 and seen["argv"] == [str(a) for a in [*args, "--nproc", 2]]
