"""The README's "From raw videos to a world model": its commands, as written, run end to end at tiny size.

The commands are read from the README; only documented flags are appended (a later flag overrides an
earlier one) to make them tiny, and ``runs/`` points into a temporary folder.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from safetensors.torch import load_file

from worldsmith.cli import main

README = Path(__file__).parents[1] / "README.md"
TINY = {  # per command: documented flags that shrink it
    "sim footage": ["--videos", "1", "--seconds", "14", "--height", "48", "--width", "64"],
    "curate": [],
    "tokenizer train": ["--steps", "8", "--size", "32"],
    "train diffusion": ["--frames", "9", "--size", "32x32", "--set", "train.steps=8"],
    "generate video2world": ["--steps", "2"],
    "eval geometry": [],
}


def readme_commands() -> list[list[str]]:
    text = README.read_text()
    section = text.split("## From raw videos to a world model", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True)[1:] for line in block.splitlines() if line.strip()]


def test_readme_lists_the_documented_path():
    names = [" ".join(c[:2]) if c[0] in ("sim", "tokenizer", "train", "generate", "eval") else c[0]
             for c in readme_commands()]  # fmt: skip
    assert names == list(TINY)


def test_raw_footage_to_world_model_through_curated_shards(tmp_path, capsys):
    results = {}
    for args in readme_commands():
        name = " ".join(args[:2]) if args[0] != "curate" else "curate"
        args = [a.replace("runs/", f"{tmp_path}/runs/") for a in args] + TINY[name]
        with pytest.raises(SystemExit) as exc:
            main(args)
        out = capsys.readouterr()
        assert exc.value.code == 0, f"{name}: {out.err}"
        results[name] = out.out
    runs = tmp_path / "runs"
    curated = json.loads((runs / "curated" / "summary.json").read_text())
    assert curated["clips_kept"] >= 1 and curated["clips_without_caption"] == 0
    # the tokenizer and the DiT trained on the curated shards, with their captions
    tok = json.loads((runs / "tok" / "run.json").read_text())
    assert tok["status"] == "ok" and tok["results"]["windows"] > 0
    index = json.loads((runs / "dit" / "latent_cache" / "index.json").read_text())
    assert index["data"] == f"--data '{runs / 'curated'}'" and index["clips"] > 0
    captions = {
        json.loads(r)["caption"] for r in (runs / "curated" / "manifest.jsonl").read_text().splitlines()
    }
    assert set(index["captions"]) <= captions and all(index["captions"])
    latents = load_file(runs / "dit" / "latent_cache" / "latents.safetensors")["latents"]
    assert latents.shape[0] == index["clips"] and latents.shape[2] == 3  # 9 frames -> 3 latent frames
    world = json.loads((runs / "dit" / "model" / "world.json").read_text())
    assert world["text_encoder"] == "minilm"  # captions reached the model
    assert (runs / "v2w" / "video.mp4").is_file()
    assert json.loads(results["eval geometry"])["frames"] == 9
    # not in the README's five: the context refiner trains from the same --data, and generation uses it
    refiner = ["train", "refiner", "--world", runs / "dit" / "model", "--data", runs / "curated",
               "--steps", "4", "--sample-steps", "2", "--out", runs / "ref"]  # fmt: skip
    generate = ["generate", "video2world", "--ckpt", runs / "dit" / "model", "--video", runs / "raw" /
                "footage_000.mp4", "--cond-frames", "5", "--prompt", "A ball.", "--steps", "2", "--refiner",
                runs / "ref" / "model", "--out", runs / "v2w_ref"]  # fmt: skip
    for args in (refiner, generate):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 0, capsys.readouterr().err
    ref = json.loads((runs / "ref" / "run.json").read_text())["results"]
    assert (
        ref["clips"] == index["clips"] and ref["frames"] == 9 and (runs / "v2w_ref" / "video.mp4").is_file()
    )
