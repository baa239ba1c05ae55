"""Every training command reads `--data` through `worldsmith.data`: bad curated input is one line, exit 2."""

from __future__ import annotations

import json
import shutil

import pytest

from worldsmith.cli import main

# Each training command with what it needs besides --data/--out; none gets past reading the data.
COMMANDS = {
    "tokenizer train": ["tokenizer", "train", "--steps", "1"],
    "train diffusion": ["train", "diffusion", "--tokenizer", "{tok}"],
    "train ar": ["train", "ar", "--tokenizer", "{tok}"],
    "train medusa": ["train", "medusa", "--base", "{ar}"],
    "train diffusion-decoder": ["train", "diffusion-decoder", "--dv", "{tok}", "--cv", "{tok}"],
    "train refiner": ["train", "refiner", "--world", "{tok}"],
}


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_training_command_reads_data_through_the_data_module(command, curated, tmp_path, capsys):
    """A filter that selects nothing stops each command with the data module's one line, before any
    model is loaded (the checkpoints named here do not exist)."""
    root, _ = curated
    args = [a.format(tok=tmp_path / "no_tok", ar=tmp_path / "no_ar") for a in COMMANDS[command]]
    args += ["--data", root, "--select", "motion=0.95:", "--out", tmp_path / "run"]
    code, err = run_cli(args, capsys)
    assert code == 2 and "selects none of its 3 kept clips" in err and "24x48_ar2.00_0-4s" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "failed" and run["args"]["select"] == ["motion=0.95:"]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        ("manifest", "holds webdataset shards but no manifest.parquet; pass the folder"),
        ("shards", "names 1 shard(s) that are missing"),
        ("select", "--select 'motion' must be bucket=B"),
        ("plain", "is not the output folder of `worldsmith curate`"),
    ],
)
def test_bad_curated_input_one_line_exit_2(break_it, message, curated, videos, tmp_path, capsys):
    root, _ = curated
    data, select = root, ["bucket=32x48_ar1.50_0-4s"]
    if break_it == "manifest":
        (root / "manifest.parquet").unlink()
        (root / "manifest.jsonl").unlink()
    elif break_it == "shards":
        shutil.rmtree(root / "shards" / "24x48_ar2.00_0-4s")
        select = []
    elif break_it == "select":
        select = ["motion"]
    else:
        data = videos
    args = ["tokenizer", "train", "--data", data, "--out", tmp_path / "run", "--steps", "1"]
    code, err = run_cli([*args, *(x for s in select for x in ("--select", s))], capsys)
    assert code == 2 and message in err.replace("\n", " ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_tokenizer_eval_on_curated_clips_chosen_by_bucket(curated, tmp_path, capsys):
    from worldsmith.tokenizers.model import CausalTokenizer
    from worldsmith.tokenizers.presets import get_preset

    CausalTokenizer(get_preset("tiny-cv4x8x8")).save_pretrained(tmp_path / "tok")
    args = ["tokenizer", "eval", "--ckpt", tmp_path / "tok", "--data", curated[0], "--out", tmp_path / "ev"]
    code, err = run_cli([*args, "--select", "bucket=32x48_ar1.50_0-4s"], capsys)
    assert code == 0, err
    run = json.loads((tmp_path / "ev" / "run.json").read_text())
    assert run["results"]["videos"] == 2 and run["args"]["select"] == ["bucket=32x48_ar1.50_0-4s"]
