"""World-model bundle, train_world_model + predict_latents on latents in memory, and converting
a diffusers Cosmos pipeline directory."""

from __future__ import annotations

import json
import types

import pytest
import torch
import torch.nn.functional as F

from worldsmith.diffusion import convert
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.generate import decode_relative
from worldsmith.diffusion.pipeline import predict_latents
from worldsmith.diffusion.recipes import fit_preset, train_world_model
from worldsmith.diffusion.world import WorldModel, latent_stats
from worldsmith.errors import CheckpointError, WorldsmithError


def test_latent_stats_and_normalisation_round_trip():
    z = torch.randn(6, 4, 3, 2, 2) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1, 1) + 5
    mean, std = latent_stats(z)
    per_channel = z.transpose(0, 1).reshape(4, -1)  # [C, N*T*H*W]
    assert mean == pytest.approx(per_channel.mean(1).tolist(), rel=1e-5)
    assert std == pytest.approx(per_channel.std(1).tolist(), rel=1e-5)


def _train(latents, out, *, steps, seed=0, prompts=None, scale=None, **model):
    """`train diffusion`'s DiT and training on latents in memory (one torch thread)."""
    cfg = fit_preset("tiny", tuple(latents.shape[1:]), **model)
    return train_world_model(latents, out, dit_cfg=cfg, train={"steps": steps, "seed": seed}, prompts=prompts,
                             threads=1, residual_scale=scale)  # fmt: skip


def test_fit_preset_covers_the_latents_and_rounds_to_the_patch():
    cfg = fit_preset("tiny", (16, 3, 70, 9), patch_size=(1, 4, 4))
    assert cfg.video2world and cfg.latent_channels == 16 and cfg.patch_size == (1, 4, 4)
    assert cfg.max_size == (32, 72, 64)  # the preset's (32, 64, 64), H rounded up to a multiple of 4
    assert fit_preset("tiny", (16, 5, 16, 16), max_size=(8, 16, 16)).max_size == (8, 16, 16)  # given: kept
    with pytest.raises(WorldsmithError, match="unknown DiT preset"):
        fit_preset("huge", (16, 1, 1, 1))


def test_train_patch_size_reaches_the_saved_model(tmp_path):
    """A (1, 4, 4) patch (the demo's knob for 4x spatially compressed latents): a 16x16 latent frame
    is 16 tokens, and the saved world model keeps the patch."""
    latents = torch.randn(2, 16, 2, 16, 16)
    world, _ = _train(latents, tmp_path / "run", steps=2, patch_size=(1, 4, 4))
    loaded = WorldModel.from_pretrained(tmp_path / "run" / "model")
    assert tuple(loaded.dit.cfg.patch_size) == (1, 4, 4)
    assert predict_latents(loaded, latents[:1, :, :1], steps=1).shape == (1, 16, 2, 16, 16)


def test_residual_scale_is_measured_on_the_training_latents_and_saved(tmp_path):
    """``residual_scale="measure"``: the change is scaled to std sigma_data by the scale measured on
    the normalised latents (futures after 1..2 given frames, the default objective), and the saved
    config holds it; by default a DiT keeps its config's scale."""
    from worldsmith.diffusion.conditioning import measure_residual_scale

    z = torch.randn(4, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    latents = z.clone()
    latents[:, :, 1:] = z[:, :, :1] + 0.1 * z[:, :, 1:]  # the scene changes little after frame 0
    world, _ = _train(latents, tmp_path / "a", steps=1, residual_to_given=True, scale="measure")
    expect = measure_residual_scale(world.normalize(latents), (1, 2), 0.5)
    saved = WorldModel.from_pretrained(tmp_path / "a" / "model").dit.cfg.residual_scale
    assert saved == pytest.approx(expect) and saved > 2
    kept, _ = _train(latents, tmp_path / "b", steps=1, residual_to_given=True, residual_scale=3.0)
    assert kept.dit.cfg.residual_scale == 3.0  # None (the default): the config's own


def test_training_is_reproducible_whatever_the_process_drew_before(tmp_path):
    """One seed, one model: the DiT's initial weights come from the seed, not from the global RNG
    state left by whatever ran before (the demo's DiT differed between runs before this)."""
    latents = torch.randn(2, 16, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    weights, metrics = [], []
    for i, before in enumerate((3, 4)):
        torch.manual_seed(before)
        world, m = _train(latents, tmp_path / f"run{i}", steps=2, seed=0)
        weights.append(world.dit.state_dict())
        metrics.append(m["loss_first"])
    assert metrics[0] == metrics[1]
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
    torch.manual_seed(3)
    different, _ = _train(latents, tmp_path / "run_seed1", steps=2, seed=1)
    other = different.dit.state_dict()
    assert any(not torch.equal(other[k], weights[0][k]) for k in other)  # the seed does matter


def test_train_then_predict_latents(tmp_path):
    torch.manual_seed(0)
    latents = torch.randn(4, 16, 3, 4, 4) * 2 + 1
    world, metrics = _train(latents, tmp_path / "run", steps=4)
    assert (
        metrics["latent_shape"] == [16, 3, 4, 4]
        and metrics["steps"] == 4
        and metrics["params"] > 0
        and metrics["loss_last"] is not None
    )
    assert (tmp_path / "run" / "model" / "world.json").is_file()
    n = world.normalize(latents)
    torch.testing.assert_close(n.std().item(), 0.5, atol=0.05, rtol=0)  # sigma_data
    torch.testing.assert_close(world.denormalize(n), latents, atol=1e-5, rtol=1e-5)
    loaded = WorldModel.from_pretrained(tmp_path / "run" / "model")
    pred = predict_latents(loaded, latents[:2, :, :1], steps=2)
    assert pred.shape == (2, 16, 3, 4, 4)
    assert torch.equal(pred[:, :, :1], latents[:2, :, :1])  # given frames are kept exactly
    again = predict_latents(loaded, latents[:2, :, :1], steps=2)
    torch.testing.assert_close(pred, again)  # seeded
    assert not torch.equal(pred, predict_latents(loaded, latents[:2, :, :1], steps=2, seed=1))
    assert predict_latents(loaded, batch=3, steps=2).shape == (3, 16, 3, 4, 4)  # Text2World
    with pytest.raises(WorldsmithError, match="latents must be"):
        train_world_model(
            torch.randn(4, 3, 2, 2), tmp_path / "bad", dit_cfg=fit_preset("tiny", (16, 2, 4, 4))
        )


def test_training_with_captions_uses_minilm_and_empty_captions_are_null(tmp_path, monkeypatch):
    from worldsmith.diffusion import recipes

    seen = {}
    real = recipes.LatentDataset.__init__

    def spy(self, latents, text=None, mask=None):
        seen["text"] = text
        real(self, latents, text, mask)

    monkeypatch.setattr(recipes.LatentDataset, "__init__", spy)
    latents = torch.randn(4, 16, 2, 4, 4)
    prompts = ["", "a red cube slides", "", "a ball falls"]
    world, _ = _train(latents, tmp_path / "run", steps=2, prompts=prompts)
    assert world.spec.text_encoder == "minilm" and seen["text"].shape[-1] == 384
    assert seen["text"][0].abs().max() == 0 and seen["text"][1].abs().max() > 0
    pred = predict_latents(world, latents[:1, :, :1], steps=2, prompts=["a ball falls"])
    assert torch.equal(pred[:, :, :1], latents[:1, :, :1])
    with pytest.raises(WorldsmithError, match="one prompt per video"):
        predict_latents(world, latents[:2, :, :1], steps=1, prompts=["only one"])
    with pytest.raises(WorldsmithError, match="one prompt per clip"):
        _train(latents, tmp_path / "r2", steps=1, prompts=["only one"])


def test_convert_a_diffusers_pipeline_directory(tmp_path, monkeypatch):
    tc = pytest.importorskip("diffusers.models.transformers.transformer_cosmos")
    shim = types.SimpleNamespace(resize=lambda x, size, interpolation=None: F.interpolate(x, size=size))
    resize = types.SimpleNamespace(functional=shim, InterpolationMode=types.SimpleNamespace(NEAREST=0))
    monkeypatch.setattr(tc, "transforms", resize, raising=False)
    torch.manual_seed(0)
    ref = tc.CosmosTransformer3DModel(
        in_channels=5, out_channels=4, num_attention_heads=2, attention_head_dim=12, num_layers=1,
        text_embed_dim=8, adaln_lora_dim=4, max_size=(4, 8, 8),
    ).eval()  # fmt: skip
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.2)
    src = tmp_path / "cosmos"
    ref.save_pretrained(src / "transformer")
    # A tiny random AutoencoderKLCosmos as the pipeline's vae/, with per-channel-and-frame statistics.
    from dataclasses import replace

    from diffusers import AutoencoderKLCosmos

    from worldsmith.tokenizers.convert import config_to_diffusers
    from worldsmith.tokenizers.presets import get_preset

    vae_kw = config_to_diffusers(replace(get_preset("tiny-cv4x8x8"), latent_channels=4))
    mean, std = [0.1 * i for i in range(8)], [1.0 + 0.1 * i for i in range(8)]  # C=4 x F=2
    AutoencoderKLCosmos(**vae_kw, latents_mean=mean, latents_std=std).save_pretrained(src / "vae")
    (src / "scheduler").mkdir()
    (src / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"sigma_max": 80.0, "sigma_min": 0.002})
    )
    summary = convert.convert_diffusers(src, tmp_path / "out")
    assert summary["video2world"] and summary["tokenizer"]
    world = WorldModel.from_pretrained(tmp_path / "out")
    assert world.tokenizer is not None and world.spec.model_fps == 30.0 and world.spec.edm.sigma_min == 0.002
    z = torch.randn(1, 4, 2, 3, 3)
    expect = (z - torch.tensor(mean).view(1, 4, 2, 1, 1)) * 0.5 / torch.tensor(std).view(1, 4, 2, 1, 1)
    torch.testing.assert_close(world.normalize(z), expect)  # the diffusers pipeline's latent scaling
    ours = DiT.from_pretrained(tmp_path / "out" / "dit").eval()
    x, t, text = torch.randn(1, 4, 2, 4, 4), torch.tensor([0.3]), torch.randn(1, 3, 8)
    cond = torch.zeros(1, 1, 2, 4, 4)
    with torch.no_grad():
        expect = ref(hidden_states=x, timestep=t, encoder_hidden_states=text, condition_mask=cond,
                     padding_mask=torch.zeros(1, 1, 4, 4), return_dict=False)[0]  # fmt: skip
        torch.testing.assert_close(ours(x, t, text, condition_mask=cond), expect, atol=1e-5, rtol=1e-5)
    with pytest.raises(CheckpointError, match="transformer/"):
        convert.convert_diffusers(tmp_path, tmp_path / "o2")


class _RepeatDecoder(torch.nn.Module):
    """Causal 4x temporal 'decoder': latent 0 -> frame 0, latent k -> frames 4k-3..4k."""

    def decode(self, z):
        return torch.cat([z[:, :, :1], z[:, :, 1:].repeat_interleave(4, dim=2)], dim=2)


def test_decode_relative_adds_only_the_decoded_change_to_the_last_given_frame():
    g = torch.Generator().manual_seed(0)
    lat = torch.rand(2, 3, 5, 6, 6, generator=g) - 0.5  # decoder output = latent values (3 channels)
    given = torch.rand(2, 3, 5, 6, 6, generator=g) * 2 - 1  # true frames, not the decoded latents
    held = lat.clone()
    held[:, :, 2:] = lat[:, :, 1:2]
    out = decode_relative(_RepeatDecoder(), given, held, 2)
    assert out.shape == (2, 3, 17, 6, 6)
    torch.testing.assert_close(out[:, :, :5], given)
    torch.testing.assert_close(out[:, :, 5:], given[:, :, -1:].expand(-1, -1, 12, -1, -1))  # exact copy-last
    moved = held.clone()
    moved[:, :, 3] += 0.1  # the DiT predicts a change in latent frame 3 = frames 9..12
    out = decode_relative(_RepeatDecoder(), given, moved, 2)
    expect = (given[:, :, -1:] + 0.1).clamp(-1, 1).expand(-1, -1, 4, -1, -1)
    torch.testing.assert_close(out[:, :, 9:13], expect)
    torch.testing.assert_close(out[:, :, 5:9], given[:, :, -1:].expand(-1, -1, 4, -1, -1))
    with pytest.raises(WorldsmithError, match="n_cond"):
        decode_relative(_RepeatDecoder(), given, moved, 0)
