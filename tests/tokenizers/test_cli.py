"""`worldsmith tokenizer ...` end to end on a tiny model and a real clip."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from worldsmith.cli import main
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset
from worldsmith.video import io


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    c = replace(
        get_preset("tiny-dv4x8x8"),
        encoder_channels=(8, 16, 16, 16),
        decoder_channels=(8, 16, 16, 16),
        latent_channels=8,
        num_res_blocks=1,
    )
    return CausalTokenizer(c).save_pretrained(tmp_path_factory.mktemp("ckpt") / "tok")


def _run(*args: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code in (0, None), f"exit {exit_info.value.code}"


def test_encode_decode_reconstruct_eval(tmp_path, bikes, tiny_ckpt):
    common = ["--ckpt", str(tiny_ckpt), "--size", "32", "--max-frames", "11"]
    _run("tokenizer", "encode", str(bikes), *common, "--chunk-frames", "4", "--out", str(tmp_path / "enc"))
    info = json.loads((tmp_path / "enc" / "run.json").read_text())
    assert info["status"] == "ok" and info["results"]["shape"] == [1, 3, 4, 9]  # 9 frames, 32x72 -> 3x4x9
    _run(
        "tokenizer",
        "decode",
        str(tmp_path / "enc" / "tokens.safetensors"),
        "--ckpt",
        str(tiny_ckpt),
        "--out",
        str(tmp_path / "dec"),
    )
    assert io.probe(tmp_path / "dec" / "decoded.mp4").num_frames == 9
    _run("tokenizer", "reconstruct", str(bikes), *common, "--out", str(tmp_path / "rec"))
    probe = io.probe(tmp_path / "rec" / "reconstruction.mp4")
    assert (probe.width, probe.height) == (2 * 72, 32)  # original | reconstruction
    _run(
        "tokenizer",
        "eval",
        "--ckpt",
        str(tiny_ckpt),
        "--data",
        str(bikes),
        "--size",
        "32",
        "--max-frames",
        "9",
        "--out",
        str(tmp_path / "eval"),
    )
    results = json.loads((tmp_path / "eval" / "run.json").read_text())["results"]
    assert {"psnr", "ssim", "flicker", "naive_psnr", "compression_ratio", "frames_per_s"} <= set(results)


def test_train_few_steps(tmp_path, bikes):
    _run(
        "tokenizer",
        "train",
        "--data",
        str(bikes),
        "--preset",
        "tiny-cv4x8x8",
        "--steps",
        "2",
        "--size",
        "16",
        "--batch-size",
        "2",
        "--out",
        str(tmp_path / "train"),
    )
    tok = CausalTokenizer.from_pretrained(tmp_path / "train" / "tokenizer")
    assert tok.config == get_preset("tiny-cv4x8x8")
    args = ["tokenizer", "train", "--data", str(bikes), "--steps", "1", "--size", "16", "--batch-size", "1"]
    _run(*args, "--lowpass-shortcut", "--precision", "bf16", "--out", str(tmp_path / "lp"))
    assert CausalTokenizer.from_pretrained(tmp_path / "lp" / "tokenizer").config.lowpass_shortcut


def test_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "tokenizer",
                "encode",
                str(tmp_path / "none.mp4"),
                "--ckpt",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
            ]
        )
    assert exit_info.value.code == 2
    assert "no config.json" in capsys.readouterr().err
