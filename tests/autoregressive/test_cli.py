"""End to end on the command line: videos -> token cache -> `train ar` -> `train medusa` -> generate."""

from __future__ import annotations

import json

import pytest
import torch

from synthetic_inputs import moving_square, save_tokenizers  # noqa: E402  (tests/, see conftest)
from worldsmith.autoregressive.bundle import ARWorld
from worldsmith.cli import main
from worldsmith.video import io

TINY = ["model.dim=32", "model.heads=2", "model.kv_heads=1", "model.head_dim=16", "model.layers=1",
        "model.ffn_hidden=64", "train.steps=3", "train.batch_size=2"]  # fmt: skip


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ar_e2e")
    save_tokenizers(root, tok="tiny-dv4x8x8", cv="tiny-cv4x8x8")
    for i in range(2):
        io.write(root / "data" / f"clip{i}.mp4", moving_square(18, 32, 40, 7 * i), fps=12)
    (root / "data" / "clip0.txt").write_text("an orange box slides to the right")
    return root


def test_train_ar_medusa_then_generate(root, capsys):
    args = ["train", "ar", "--tokenizer", root / "tok", "--data", root / "data", "--out", root / "run"]
    args += ["--frames", 9, "--size", "32x32", "--text-encoder", "none"]
    for s in TINY:
        args += ["--set", s]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    run = json.loads((root / "run" / "run.json").read_text())
    assert run["status"] == "ok" and run["results"]["clips"] == 4  # 2 videos x 2 clips of 9 frames
    assert run["results"]["token_grid"] == [3, 4, 4]
    world = ARWorld.from_pretrained(root / "run" / "model")
    assert world.gpt.cfg.vocab_size == 1000 and world.gpt.cfg.text_dim is None and world.tokenizer.discrete
    # with captions and the offline MiniLM encoder the model gets cross-attention to 384-d text
    text_run = [*args[: args.index("--text-encoder")], *args[args.index("--text-encoder") + 2 :]]
    text_run[text_run.index("--out") + 1] = root / "run_text"
    code, _, err = run_cli([*text_run, "--cache", root / "run" / "token_cache"], capsys)
    assert code == 0, err
    text_world = root / "run_text" / "model"
    assert ARWorld.from_pretrained(text_world).gpt.cfg.text_dim == 384
    code, _, err = run_cli(args, capsys)  # second run: the token cache is reused
    assert code == 0 and "token cache hit" in err

    med = ["train", "medusa", "--base", root / "run" / "model", "--data", root / "data", "--heads", 2]
    med += ["--out", root / "med", "--set", "train.steps=2", "--set", "train.batch_size=2"]
    code, _, err = run_cli(med, capsys)
    assert code == 0, err
    assert (root / "med" / "medusa" / "model.safetensors").is_file()
    # the heads read the base run's token cache: no second tokenization, nothing written beside it
    assert (
        f"token cache hit: {root / 'run' / 'token_cache'}" in err
        and not (root / "med" / "token_cache").exists()
    )

    gen = [
        "generate",
        "ar-video2world",
        "--ckpt",
        root / "run" / "model",
        "--video",
        root / "data" / "clip1.mp4",
    ]
    gen += ["--guard", "none", "--temperature", 0]
    code, _, err = run_cli([*gen, "--out", root / "g1"], capsys)
    assert code == 0, err
    assert "guardrails are OFF" in err
    facts = json.loads((root / "g1" / "run.json").read_text())["results"]
    assert (
        facts["given_latent_frames"] == 1 and facts["latent_frames"] == 3 and facts["tokens_generated"] == 32
    )
    assert io.probe(root / "g1" / "video.mp4").num_frames == 9
    code, _, err = run_cli([*gen, "--medusa", root / "med" / "medusa", "--out", root / "g2"], capsys)
    assert code == 0, err
    # greedy Medusa decodes exactly what greedy decoding does
    from safetensors.torch import load_file

    a = load_file(str(root / "g1" / "tokens.safetensors"))["tokens"]
    b = load_file(str(root / "g2" / "tokens.safetensors"))["tokens"]
    assert torch.equal(a, b)
    assert json.loads((root / "g2" / "run.json").read_text())["results"]["medusa"] is True

    gen_text = [*gen, "--prompt", "a box slides", "--out", root / "g3"]
    gen_text[gen_text.index("--ckpt") + 1] = text_world
    code, _, err = run_cli(gen_text, capsys)
    assert code == 0, err

    code, _, err = run_cli([*gen, "--cond-frames", 3, "--out", root / "bad"], capsys)
    assert code == 2 and "1 + k*4" in err


def test_errors_name_the_input(root, capsys, tmp_path):
    base = ["train", "ar", "--tokenizer", root / "tok", "--out", tmp_path / "r"]
    code, _, err = run_cli([*base, "--data", tmp_path], capsys)
    assert code == 2 and "no video files" in err
    code, _, err = run_cli([*base, "--data", root / "data", "--size", "big"], capsys)
    assert code == 2 and "--size" in err
    code, _, err = run_cli([*base, "--data", root / "data", "--preset", "huge", "--size", "32x32"], capsys)
    assert code == 2 and "preset" in err
    cv = ["train", "ar", "--tokenizer", root / "cv", "--data", root / "data", "--out", tmp_path / "c"]
    code, _, err = run_cli(cv, capsys)
    assert code == 2 and "discrete" in err
    gen = ["generate", "ar-video2world", "--ckpt", tmp_path, "--video", root / "data" / "clip0.mp4"]
    code, _, err = run_cli([*gen, "--out", tmp_path / "g", "--guard", "none"], capsys)
    assert code == 2 and "world.json" in err
    code, _, err = run_cli([*gen, "--out", tmp_path / "g", "--guard", "blocklist", "--prompt",
                            "soldiers massacre a village"], capsys)  # fmt: skip
    assert code == 2 and "blocked" in err.lower()


def test_train_diffusion_decoder_then_generate_through_it(root, capsys):
    from worldsmith.autoregressive.diffusion_decoder import load_decoder

    ar = ["train", "ar", "--tokenizer", root / "tok", "--data", root / "data", "--out", root / "dd_ar"]
    ar += ["--frames", 9, "--size", "32x32", "--text-encoder", "none"]
    for s in TINY:
        ar += ["--set", s]
    code, _, err = run_cli(ar, capsys)
    assert code == 0, err
    dec = ["train", "diffusion-decoder", "--dv", root / "tok", "--cv", root / "cv", "--data", root / "data"]
    dec += ["--out", root / "dd", "--frames", 9, "--size", "32x32"]
    sets = ("model.depth=1", "decoder.steps=2", "decoder.samples=2", "train.steps=2", "train.batch_size=2")
    for s in sets:
        dec += ["--set", s]
    code, _, err = run_cli(dec, capsys)
    assert code == 0, err
    facts = json.loads((root / "dd" / "run.json").read_text())["results"]
    assert facts["clips"] == 4 and facts["token_grid"] == [3, 4, 4] and facts["latent_grid"] == [3, 4, 4]
    decoder, cv = load_decoder(root / "dd" / "model")
    assert not cv.discrete and decoder.cfg.steps == 2 and len(decoder.cfg.latent_std) == 16
    # SDEdit from the DV decode (init_sigma > 0, the default): decode_video needs the DV tokenizer, then
    # starts from its decode, CV-encoded, noised to init_sigma (the generate command below passes it),
    # and averages the latents of `samples` draws
    from worldsmith.autoregressive.diffusion_decoder import decode_video
    from worldsmith.errors import WorldsmithError
    from worldsmith.tokenizers.model import CausalTokenizer

    dv = CausalTokenizer.from_pretrained(root / "tok").eval()
    codes = int(torch.tensor(dv.config.fsq_levels).prod())
    tokens = torch.randint(0, codes, (1, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    with pytest.raises(WorldsmithError, match="DV tokenizer"):
        decode_video(decoder, cv, tokens)
    assert decoder.cfg.init_sigma == 0.5 and decoder.cfg.samples == 2
    video = decode_video(decoder, cv, tokens, dv=dv, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        init = cv.encode(dv.decode(tokens).clamp(-1, 1))
        g = torch.Generator().manual_seed(1)
        z = [decoder.sample(tokens, init=init, sigma_start=0.5, generator=g) for _ in range(2)]
        torch.testing.assert_close(video, cv.decode((z[0] + z[1]) / 2))
        assert not torch.equal(z[0], z[1])  # two draws of the generator, not one repeated

    gen = [
        "generate",
        "ar-video2world",
        "--ckpt",
        root / "dd_ar" / "model",
        "--video",
        root / "data" / "clip1.mp4",
    ]
    gen += ["--guard", "none", "--temperature", 0, "--diffusion-decoder", root / "dd" / "model"]
    code, _, err = run_cli([*gen, "--out", root / "dd_g"], capsys)
    assert code == 0, err
    facts = json.loads((root / "dd_g" / "run.json").read_text())["results"]
    assert facts["diffusion_decoder"] is True and facts["diffusion_decoder_seconds"] > 0
    assert io.probe(root / "dd_g" / "video.mp4").num_frames == 9
    # a continuous tokenizer passed as --dv is refused by name
    bad = [*dec[: dec.index("--out")], "--out", root / "dd_bad", "--size", "32x32", "--frames", 9]
    bad[bad.index("--dv") + 1] = root / "cv"
    code, _, err = run_cli(bad, capsys)
    assert code == 2 and "continuous" in err
