"""The one checkpoint format: every model class round-trips, old layouts load, mismatches are named."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from worldsmith import config as cfg
from worldsmith.autoregressive import gpt as gpt_mod
from worldsmith.autoregressive.diffusion_decoder import DecoderConfig, DiffusionDecoder
from worldsmith.autoregressive.gpt import GPT
from worldsmith.autoregressive.medusa import MedusaConfig, MedusaHeads
from worldsmith.checkpoint import FORMAT_VERSION, Pretrained
from worldsmith.diffusion import dit as dit_mod
from worldsmith.diffusion.dit import DiT
from worldsmith.errors import CheckpointError
from worldsmith.refine import ContextRefiner, RefinerConfig
from worldsmith.tokenizers import CausalTokenizer, get_preset

BUILDERS = {
    "dit": lambda: DiT(dit_mod.tiny(depth=1, heads=2, head_dim=12, text_dim=8, adaln_lora_dim=4)),
    "gpt": lambda: GPT(
        gpt_mod.tiny(
            codebook_size=40, dim=16, layers=1, heads=2, kv_heads=1, head_dim=8, ffn_hidden=16, text_dim=None
        )
    ),  # fmt: skip
    "medusa": lambda: MedusaHeads(MedusaConfig(dim=16, heads=2)),
    "tokenizer": lambda: CausalTokenizer(get_preset("tiny-cv4x8x8")),
    "refiner": lambda: ContextRefiner(RefinerConfig(width=8)),
    "decoder": lambda: DiffusionDecoder(
        DecoderConfig(fsq_levels=(4, 4), latent_channels=4, embed_dim=2),
        dit_mod.tiny(depth=1, heads=2, head_dim=12, text_dim=8, adaln_lora_dim=4, latent_channels=4 + 2 + 2),
    ),
}


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Non-zero everywhere, so zero-initialised layers cannot hide a load that did nothing."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_model_round_trips(tmp_path, name):
    model = _perturbed(BUILDERS[name]())
    assert isinstance(model, Pretrained)
    path = model.save_pretrained(tmp_path / name)
    assert {p.name for p in path.iterdir()} == {"config.json", "model.safetensors"}
    meta = json.loads((path / "config.json").read_text())
    assert meta["model"] == type(model).model_type and meta["format_version"] == FORMAT_VERSION
    back = type(model).from_pretrained(path)
    assert not back.training
    own, loaded = model.state_dict(), back.state_dict()
    assert own.keys() == loaded.keys() and all(torch.equal(own[k], loaded[k]) for k in own)


def test_mismatches_name_the_file_and_the_keys(tmp_path):
    model = BUILDERS["medusa"]()
    path = model.save_pretrained(tmp_path / "m")
    meta = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "heads": 3}}))
    with pytest.raises(CheckpointError, match=r"'.*m'.*missing \['heads.2"):
        MedusaHeads.from_pretrained(path)
    (path / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "dim": 8}}))
    with pytest.raises(CheckpointError, match=r"shape of 'heads.0.0.linear.weight' is \(16, 16\)"):
        MedusaHeads.from_pretrained(path)
    (path / "config.json").write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(CheckpointError, match="upgrade worldsmith"):
        MedusaHeads.from_pretrained(path)
    with pytest.raises(CheckpointError, match="describes a 'ar-medusa', not a dit"):
        DiT.from_pretrained(model.save_pretrained(tmp_path / "m2"))
    with pytest.raises(CheckpointError, match="no config.json"):
        DiT.from_pretrained(tmp_path / "nowhere")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    model = _perturbed(BUILDERS["medusa"]())
    path = model.save_pretrained(tmp_path / "m")
    before = (path / "model.safetensors").read_bytes()
    model.heads[0][0].linear.weight.data = torch.full((16, 16), float("nan"))

    class Boom(RuntimeError):
        pass

    def explode(tmp):
        raise Boom

    child = type("Exploding", (), {"save_pretrained": staticmethod(explode)})()
    with pytest.raises(Boom):
        model.save_pretrained(path, children={"x": child})
    assert (path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp directory left behind


def test_tied_weights_reload_equal_and_still_tied(tmp_path):
    class Tied(torch.nn.Module, Pretrained):
        model_type, config_class = "tied", MedusaConfig

        def __init__(self, config):
            super().__init__()
            self.config = config
            self.emb = torch.nn.Embedding(5, config.dim)
            self.out = torch.nn.Linear(config.dim, 5, bias=False)
            self.out.weight = self.emb.weight

    model = _perturbed(Tied(MedusaConfig(dim=4)))
    back = Tied.from_pretrained(model.save_pretrained(tmp_path / "t"))
    assert torch.equal(back.emb.weight, model.emb.weight)
    assert back.out.weight is back.emb.weight  # one parameter, as built


# --- checkpoints written before the one format (one test per old layout) --------------------------


def _write_old(path, config: dict, model: torch.nn.Module, weights: str = "model.safetensors") -> None:
    path.mkdir()
    (path / ("config.json" if weights == "model.safetensors" else "refiner.json")).write_text(
        json.dumps(config)
    )
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / weights))


@pytest.mark.parametrize(("name", "model_key"), [("dit", "dit"), ("gpt", "ar-gpt"), ("medusa", "ar-medusa")])
def test_flat_configs_of_before_format_1_load(tmp_path, name, model_key):
    model = _perturbed(BUILDERS[name]())
    _write_old(tmp_path / name, {"model": model_key, **cfg.to_dict(model.cfg)}, model)
    back = type(model).from_pretrained(tmp_path / name)
    assert back.cfg == model.cfg and torch.equal(next(back.parameters()), next(model.parameters()))


def test_tokenizer_format_worldsmith_tokenizer_1_loads(tmp_path):
    model = _perturbed(BUILDERS["tokenizer"]())
    old = {"format": "worldsmith.tokenizer/1", "config": cfg.to_dict(model.config), "latents_mean": [0.0]}
    _write_old(tmp_path / "tok", old, model)
    back = CausalTokenizer.from_pretrained(tmp_path / "tok")
    assert back.config == model.config and torch.equal(next(back.parameters()), next(model.parameters()))


def test_diffusion_decoder_of_before_format_1_loads(tmp_path):
    model = _perturbed(BUILDERS["decoder"]())
    old = {
        "model": "ar-diffusion-decoder",
        "decoder": cfg.to_dict(model.cfg),
        "dit": cfg.to_dict(model.dit.cfg),
    }
    _write_old(tmp_path / "dec", old, model)
    back = DiffusionDecoder.from_pretrained(tmp_path / "dec")
    assert back.cfg == model.cfg and back.dit.cfg == model.dit.cfg


def test_refiner_json_of_before_format_1_loads(tmp_path):
    model = _perturbed(ContextRefiner(RefinerConfig(width=8, mask="sigmoid")))
    _write_old(tmp_path / "ref", {"width": 8, "mask_bias": 2.0}, model, weights="refiner.safetensors")
    back = ContextRefiner.from_pretrained(tmp_path / "ref")
    assert (back.config.mask, back.config.given_frames, back.config.motion) == ("sigmoid", 2, False)
    assert torch.equal(back.head.weight, model.head.weight)
