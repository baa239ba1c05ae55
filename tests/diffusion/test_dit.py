"""The Cosmos DiT: parity with diffusers' CosmosTransformer3DModel, checkpoints, presets, errors."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from worldsmith.diffusion import convert
from worldsmith.diffusion.dit import PRESETS, DiT, DiTConfig
from worldsmith.errors import CheckpointError, ConfigError

diffusers_cosmos = pytest.importorskip("diffusers.models.transformers.transformer_cosmos")


def _resize_shim():
    """torchvision is not installed; its tensor NEAREST resize is `F.interpolate(mode="nearest")`."""
    functional = types.SimpleNamespace(resize=lambda x, size, interpolation=None: F.interpolate(x, size=size))
    return types.SimpleNamespace(
        functional=functional, InterpolationMode=types.SimpleNamespace(NEAREST="nearest")
    )


def tiny_cfg(**kw) -> DiTConfig:
    base = dict(
        latent_channels=4, heads=2, head_dim=24, depth=2, text_dim=32, adaln_lora_dim=8, max_size=(8, 16, 16)
    )
    return DiTConfig(**{**base, **kw})


def randomized(cfg: DiTConfig, seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # zero-initialised layers would hide mapping mistakes
            p.copy_(torch.randn_like(p) * 0.2)
    return model


def reference(model: DiT, monkeypatch):
    monkeypatch.setattr(diffusers_cosmos, "transforms", _resize_shim(), raising=False)
    ref = diffusers_cosmos.CosmosTransformer3DModel(**convert.config_to_diffusers(model.cfg)).eval()
    ref.load_state_dict(convert.to_diffusers_state_dict(model), strict=True)
    return ref


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"video2world": True},
        {"learnable_pos_embed": False, "concat_padding_mask": False, "rope_scale": (1.0, 3.0, 3.0)},
        {"patch_size": (2, 2, 2)},
        # Cosmos 2.x: Predict 2 (RoPE only), Predict 2.5 (text projection), Transfer 2.5 (image context)
        {"learnable_pos_embed": False, "rope_scale": (1.0, 4.0, 4.0)},
        {
            "video2world": True,
            "learnable_pos_embed": False,
            "rope_scale": (1.0, 3.0, 3.0),
            "text_proj_dim": 40,
        },
        {"video2world": True, "learnable_pos_embed": False, "text_proj_dim": 40, "img_context_dim": 12},
    ],
    ids=["text2world", "video2world", "no-extras", "patch-2x2x2", "predict2", "predict2.5", "img-context"],
)
def test_parity_with_diffusers(kw, monkeypatch):
    cfg = tiny_cfg(**kw)
    model = randomized(cfg)
    ref = reference(model, monkeypatch)
    g = torch.Generator().manual_seed(1)
    B, T, H, W = 2, 4, 6, 8
    x = torch.randn(B, cfg.latent_channels, T, H, W, generator=g)
    c_noise = torch.tensor([-0.3, 0.9])
    text = torch.randn(B, 5, cfg.text_in_dim, generator=g)
    text_mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    img = torch.randn(B, 3, cfg.img_context_dim, generator=g) if cfg.img_context_dim else None
    if img is not None:
        text_mask = None  # diffusers' image-context processor cannot take a text mask tensor
    padding = torch.zeros(1, 1, 24, 32)
    padding[..., 20:, :] = 1.0
    cond = torch.zeros(B, 1, T, H, W)
    cond[:, :, :2] = 1.0
    with torch.no_grad():
        ours = model(
            x,
            c_noise,
            text,
            text_mask=text_mask,
            condition_mask=cond if cfg.video2world else None,
            padding_mask=padding,
            fps=30,
            img_context=img,
        )
        theirs = ref(
            hidden_states=x,
            timestep=c_noise,
            encoder_hidden_states=text if img is None else (text, img),
            attention_mask=text_mask,
            fps=30,
            condition_mask=cond if cfg.video2world else None,
            padding_mask=padding,
            return_dict=False,
        )[0]
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_parity_per_frame_noise_levels(monkeypatch):
    model = randomized(tiny_cfg(video2world=True), seed=3)
    ref = reference(model, monkeypatch)
    x = torch.randn(1, 4, 3, 4, 4)
    c_noise = torch.tensor([[-2.0, 0.5, 0.5]])  # a nearly clean first frame
    text = torch.randn(1, 3, 32)
    with torch.no_grad():
        ours = model(x, c_noise, text)
        theirs = ref(
            hidden_states=x,
            timestep=c_noise.view(1, 1, 3, 1, 1),
            encoder_hidden_states=text,
            condition_mask=torch.zeros(1, 1, 3, 4, 4),
            padding_mask=torch.zeros(1, 1, 4, 4),
            return_dict=False,
        )[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    model = randomized(tiny_cfg(video2world=True))
    model.save_pretrained(tmp_path / "ckpt")
    loaded = DiT.from_pretrained(tmp_path / "ckpt")
    assert loaded.cfg == model.cfg
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        DiT.from_pretrained(tmp_path)
    model = randomized(tiny_cfg())
    model.save_pretrained(tmp_path / "a")
    other = DiT(tiny_cfg(depth=3))
    with pytest.raises(CheckpointError, match="missing"):
        convert.from_diffusers_state_dict(other, convert.to_diffusers_state_dict(model))
    with pytest.raises(CheckpointError, match="img_context_dim_out"):
        convert.config_from_diffusers({"img_context_dim_in": 1152})  # 2048 != width 4096
    with pytest.raises(CheckpointError, match="ControlNet"):
        convert.config_from_diffusers({"controlnet_block_every_n": 7})


def test_diffusers_config_round_trip():
    for preset in PRESETS.values():
        for v2w in (False, True):
            cfg = preset(video2world=v2w)
            assert convert.config_from_diffusers(convert.config_to_diffusers(cfg)) == cfg


def test_presets_and_sizes():
    assert PRESETS["7b"]().dim == 4096 and PRESETS["14b"]().dim == 5120
    model = DiT(PRESETS["tiny"]())
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    with pytest.raises(ConfigError, match="head_dim"):
        DiTConfig(head_dim=7)
    with pytest.raises(ValueError, match="max_size"):
        model(torch.zeros(1, 16, 40, 8, 8), torch.zeros(1), torch.zeros(1, 1, 384))


def test_zero_init_output_and_gradients_reach_every_parameter():
    model = DiT(tiny_cfg(video2world=True))
    x = torch.randn(2, 4, 2, 4, 4)
    out = model(x, torch.zeros(2), torch.randn(2, 3, 32))
    assert torch.count_nonzero(out) == 0  # adaLN-Zero: F starts at 0, D starts at c_skip x
    model2 = randomized(tiny_cfg(video2world=True))
    model2(x, torch.zeros(2), torch.randn(2, 3, 32)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model2.parameters())
