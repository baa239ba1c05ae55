"""Cosmos Predict 2 / 2.5 through worldsmith: tiny random pipelines saved by diffusers itself are
converted, and a converted Predict 2.5 generates the same latents as diffusers' own pipeline."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from worldsmith.diffusion import convert
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.world import WorldModel
from worldsmith.tokenizers.wan import WanTokenizer

diffusers = pytest.importorskip("diffusers")
cosmos_tf = pytest.importorskip("diffusers.models.transformers.transformer_cosmos")
predict25 = pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos2_5_predict")

MEAN, STD = [0.1, -0.2, 0.3, 0.0], [1.5, 0.8, 1.2, 1.0]


class _Safe:
    """Stands in for cosmos_guardrail (not installed); prompts are given as embeddings here."""

    def to(self, *args, **kwargs):
        return self


@pytest.fixture
def shim(monkeypatch):
    """torchvision is not installed; its NEAREST tensor resize is `F.interpolate(mode="nearest")`."""
    fn = types.SimpleNamespace(resize=lambda x, size, interpolation=None: F.interpolate(x, size=size))
    resize = types.SimpleNamespace(functional=fn, InterpolationMode=types.SimpleNamespace(NEAREST=0))
    monkeypatch.setattr(cosmos_tf, "transforms", resize, raising=False)


def _parts(predict: str):
    torch.manual_seed(0)
    extra = dict(use_crossattn_projection=True, crossattn_proj_in_channels=20) if predict == "2.5" else {}
    tr = diffusers.CosmosTransformer3DModel(
        in_channels=5, out_channels=4, num_attention_heads=2, attention_head_dim=12, num_layers=2,
        text_embed_dim=8, encoder_hidden_states_channels=8, adaln_lora_dim=4, max_size=(8, 8, 8),
        rope_scale=(1.0, 3.0, 3.0), extra_pos_embed_type=None, **extra,
    ).eval()  # fmt: skip
    with torch.no_grad():
        for p in tr.parameters():  # away from zero-initialised layers, which would hide mistakes
            p.normal_(0, 0.2)
    vae = diffusers.AutoencoderKLWan(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1, latents_mean=MEAN, latents_std=STD
    ).eval()
    return tr, vae


def _predict25_pipe():
    tr, vae = _parts("2.5")
    sched = diffusers.UniPCMultistepScheduler(  # Cosmos Predict 2.5's (diffusers' conversion script)
        use_karras_sigmas=True, use_flow_sigmas=True, prediction_type="flow_prediction", sigma_max=200.0,
        sigma_min=0.01,
    )  # fmt: skip
    return predict25.Cosmos2_5_PredictBasePipeline(
        text_encoder=None, tokenizer=None, transformer=tr, vae=vae, scheduler=sched, safety_checker=_Safe()
    )


def _transformer_step(pipe):
    """Inputs ``(x, t [B, T], text, condition mask)`` with the first latent frame given, and diffusers'
    transformer output on them (the time per latent frame, as the 2.5 pipeline passes it)."""
    x, text, t = torch.randn(1, 4, 3, 4, 4), torch.randn(1, 5, 20), torch.tensor([[1e-4, 0.7, 0.7]])
    cond = torch.zeros(1, 1, 3, 4, 4)
    cond[:, :, 0] = 1
    with torch.no_grad():
        out = pipe.transformer(
            hidden_states=x, timestep=t.view(1, 1, 3, 1, 1), encoder_hidden_states=text, condition_mask=cond,
            padding_mask=torch.zeros(1, 1, 4, 4), return_dict=False,
        )[0]  # fmt: skip
    return (x, t, text, cond), out


def test_convert_predict25_pipeline_saved_by_diffusers(tmp_path, shim):
    pipe = _predict25_pipe()
    pipe.save_pretrained(tmp_path / "p25")
    summary = convert.convert_diffusers(tmp_path / "p25", tmp_path / "out")
    assert summary["family"] == "flow" and summary["video2world"] and summary["tokenizer"]
    world = WorldModel.from_pretrained(tmp_path / "out")
    assert isinstance(world.tokenizer, WanTokenizer)  # the Wan VAE, copied in diffusers' layout
    spec = world.spec
    assert spec.family == "flow" and (spec.flow.sigma_min, spec.flow.sigma_max) == (0.01, 200.0)
    assert spec.model_fps is None and spec.text_encoder.startswith("qwen:")
    assert world.dit.cfg.text_proj_dim == 20 and not world.dit.cfg.learnable_pos_embed
    z = torch.randn(1, 4, 2, 3, 3)
    expect = (z - torch.tensor(MEAN).view(1, 4, 1, 1, 1)) / torch.tensor(STD).view(1, 4, 1, 1, 1)
    torch.testing.assert_close(world.normalize(z), expect)  # the pipeline's latent scaling (sigma_data 1)
    (x, t, text, cond), theirs = _transformer_step(pipe)
    with torch.no_grad():
        torch.testing.assert_close(world.dit(x, t, text, condition_mask=cond), theirs, atol=1e-5, rtol=1e-5)


def test_convert_predict2_pipeline_saved_by_diffusers(tmp_path, shim):
    from diffusers.pipelines.cosmos.pipeline_cosmos2_video2world import Cosmos2VideoToWorldPipeline

    tr, vae = _parts("2")
    sched = diffusers.FlowMatchEulerDiscreteScheduler(use_karras_sigmas=True)
    Cosmos2VideoToWorldPipeline(
        text_encoder=None, tokenizer=None, transformer=tr, vae=vae, scheduler=sched, safety_checker=_Safe()
    ).save_pretrained(tmp_path / "p2")  # the pipeline registers sigma 0.002..80 on its scheduler
    convert.convert_diffusers(tmp_path / "p2", tmp_path / "out")
    spec = WorldModel.from_pretrained(tmp_path / "out").spec
    assert spec.family == "flow" and (spec.flow.sigma_min, spec.flow.sigma_max) == (0.002, 80.0)
    assert spec.model_fps == 16.0 and spec.text_encoder.startswith("t5:")


@pytest.mark.parametrize("given", [0, 1], ids=["text2world", "video2world"])
def test_converted_predict25_generates_what_diffusers_generates(tmp_path, shim, given):
    """Same weights, same starting noise, same prompt and negative-prompt embeddings, UniPC 6 steps,
    guidance w = 3 (scale 4 here): the generated latents agree to 5e-5 (measured 8e-6, |x| <= 4)."""
    pipe = _predict25_pipe()
    pipe.save_pretrained(tmp_path / "p25")
    convert.convert_diffusers(tmp_path / "p25", tmp_path / "out")
    world = WorldModel.from_pretrained(tmp_path / "out")
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(1, 4, 3, 4, 4, generator=g)
    emb, neg = torch.randn(1, 6, 20, generator=g), torch.randn(1, 6, 20, generator=g)
    video = torch.rand(1, 3, 9, 32, 32, generator=g) * 2 - 1
    kw = dict(video=video, num_latent_conditional_frames=1) if given else {}
    theirs = pipe(
        prompt_embeds=emb, negative_prompt_embeds=neg, height=32, width=32, num_frames=9,
        num_inference_steps=6, guidance_scale=3.0, latents=noise.clone(), output_type="latent", **kw,
    ).frames  # fmt: skip
    cond = None
    if given:  # the given frame, padded with itself to the clip length, through the same VAE
        padded = torch.cat([video[:, :, -1:]] * 9, dim=2)
        with torch.no_grad():
            cond = world.normalize(pipe.vae.encode(padded).latent_dist.mode())
    ours = sample_latents(
        world.dit, (1, 4, 3, 4, 4), text=emb, neg_text=neg, cond_latents=cond, n_cond=given, steps=6,
        sampler="unipc", guidance=4.0, noise_cfg=world.spec.noise, noise=noise, fps=world.spec.model_fps,
    )  # fmt: skip
    torch.testing.assert_close(ours[:, :, given:], theirs[:, :, given:], atol=5e-5, rtol=0)  # measured 8e-6
    if given:  # ours returns the given latents exactly; diffusers' start x_t = n is off their line by
        # (1 - t_max)(n - y), so its given frames come out near, not at, the given latents
        torch.testing.assert_close(ours[:, :, :1], cond[:, :, :1], atol=1e-6, rtol=0)
        assert 1e-4 < (theirs[:, :, :1] - cond[:, :, :1]).abs().max() < 0.05


def test_converted_predict25_generates_the_same_video_through_both_pipelines(tmp_path, shim):
    """Text2World end to end: our `generate_world` (sampling, denormalising, Wan decoding, uint8) and
    diffusers' pipeline (``output_type="np"``) from the same seed's noise, UniPC 6 steps, the null
    prompt on both sides: the videos agree to one 8-bit level."""
    from dataclasses import replace

    from worldsmith.diffusion.pipeline import generate_world

    pipe = _predict25_pipe()
    pipe.save_pretrained(tmp_path / "p25")
    convert.convert_diffusers(tmp_path / "p25", tmp_path / "out")
    world = WorldModel.from_pretrained(tmp_path / "out")
    world.spec = replace(world.spec, latent_size=(3, 4, 4), text_encoder="none")  # 9 frames at 32x32
    ours = generate_world(world, "", steps=6, sampler="unipc", seed=5).frames  # [9, 32, 32, 3] uint8
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    theirs = pipe(
        prompt_embeds=torch.zeros(1, 1, 20),
        height=32,
        width=32,
        num_frames=9,
        num_inference_steps=6,
        guidance_scale=1.0,
        latents=noise,
        output_type="np",
    ).frames[0]  # [9, 32, 32, 3] in [0, 1]
    diff = (ours.float() / 255 - torch.from_numpy(theirs)).abs().max().item()
    assert ours.shape == (9, 32, 32, 3) and diff <= 1.01 / 255, diff


def test_post_training_inits_from_a_converted_predict25(tmp_path, shim):
    """`--init` from a converted Predict 2.5: action post-training (with LoRA) starts exactly at
    diffusers' own transformer output, and trains with the base's flow objective."""
    from worldsmith.diffusion.objective import ObjectiveConfig
    from worldsmith.posttrain.action import ActionConfig, ActionDiT, ActionObjective
    from worldsmith.posttrain.lora import LoRAConfig, add_lora
    from worldsmith.posttrain.world import load_base
    from worldsmith.train import TrainConfig, Trainer

    pipe = _predict25_pipe()
    pipe.save_pretrained(tmp_path / "p25")
    convert.convert_diffusers(tmp_path / "p25", tmp_path / "out")
    world = load_base(tmp_path / "out")
    net = ActionDiT(world.dit, ActionConfig(action_dim=7, frames_per_latent=1))
    add_lora(net.base, LoRAConfig(rank=2))
    (x, t, text, cond), expect = _transformer_step(pipe)
    with torch.no_grad():
        got = net(x, t, text, condition_mask=cond, actions=torch.randn(1, 2, 7))
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=1e-5)
    spec = world.spec
    obj = ActionObjective(ObjectiveConfig(family=spec.family, flow=spec.flow, max_cond_frames=1))
    data = [{"latents": torch.randn(4, 3, 4, 4), "actions": torch.randn(2, 7)}]
    Trainer(TrainConfig(steps=2, batch_size=1, tensorboard=False), net, obj, data, out=tmp_path / "run").fit()
