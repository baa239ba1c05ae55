"""Action conditioning: where the DiT hook enters, step 0 = the base, the time layout, bad actions,
training through the Trainer (full and LoRA, exact resume), checkpoints and `--init`."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from posttrain_helpers import CFG, inputs, randomized  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.diffusion.conditioning import video2world_denoise
from worldsmith.diffusion.dit import DiT, DiTConfig
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.errors import CheckpointError
from worldsmith.nn.embed import sinusoidal_embedding
from worldsmith.posttrain.action import (
    ActionConfig,
    ActionDiT,
    ActionError,
    ActionObjective,
    action_chunks,
    check_actions,
)
from worldsmith.posttrain.lora import LoRAConfig, add_lora, lora_state_dict
from worldsmith.posttrain.world import load_action_world, load_base, merge_export, save_action_world
from worldsmith.train import TrainConfig, Trainer


def _t_embed(model: DiT, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    feat = sinusoidal_embedding(c.reshape(-1), model.cfg.dim)
    return feat, model.t_fc2(F.silu(model.t_fc1(feat)))


def test_extra_embedding_enters_before_the_norm_and_into_the_shared_term():
    """Adding (sin(c2) - sin(c1), shared(c2) - shared(c1)) per latent frame must turn the network at
    noise level c1 into the network at per-frame noise levels c2: the hook sits where Cosmos adds
    its action MLPs (the timestep embedding before its RMSNorm, the AdaLN-LoRA term)."""
    model = randomized()
    x, c1, text = inputs()
    c2 = torch.rand(2, 3)  # per latent frame
    with torch.no_grad():
        f1, s1 = _t_embed(model, c1)  # [B, *]
        f2, s2 = _t_embed(model, c2)  # [B*T, *]
        extra = (f2.view(2, 3, -1) - f1[:, None], s2.view(2, 3, -1) - s1[:, None])  # [B, T, *]
        torch.testing.assert_close(
            model(x, c1, text, extra_emb=extra), model(x, c2, text), atol=2e-5, rtol=2e-5
        )
        zero = (torch.zeros(2, 3, CFG.dim), torch.zeros(2, 3, 3 * CFG.dim))
        # Equal up to the rounding of the AdaLN matmuls, whose batch shape per-frame embeddings change.
        torch.testing.assert_close(model(x, c1, text, extra_emb=zero), model(x, c1, text), atol=1e-5, rtol=0)


def test_chunks_follow_the_cosmos_time_layout():
    a = torch.arange(2 * 9 * 2, dtype=torch.float32).view(2, 9, 2)  # [B, F, A], F > needed
    ch = action_chunks(a, latent_frames=3, k=4)  # latent 1 <- actions 0..3, latent 2 <- 4..7
    assert ch.shape == (2, 3, 8)
    assert torch.equal(ch[:, 0], torch.zeros(2, 8))
    assert torch.equal(ch[0, 1], a[0, 0:4].flatten()) and torch.equal(ch[1, 2], a[1, 4:8].flatten())


def test_bad_actions_name_the_problem_and_the_fix():
    with pytest.raises(ActionError, match=r"dimension 3, the model was post-trained with 2"):
        check_actions(torch.zeros(1, 8, 3), 2, 8, "acts.npy")
    with pytest.raises(ActionError, match=r"acts.npy: 5 actions for a clip that needs 8"):
        check_actions(torch.zeros(1, 5, 2), 2, 8, "acts.npy")
    bad = torch.zeros(1, 8, 2)
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ActionError, match="NaN"):
        check_actions(bad, 2, 8, "acts.npy")


@pytest.mark.parametrize("inject", ["adaln", "tokens", "both"])
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_step_zero_reproduces_the_base_exactly(lora, inject):
    base = randomized()
    x, c, text = inputs()
    with torch.no_grad():
        expect = base(x, c, text)
    net = ActionDiT(base, ActionConfig(action_dim=3, frames_per_latent=2, action_mean=(1.0, 0.0, 0.0),
                                       action_std=(2.0, 1.0, 1.0), inject=inject))  # fmt: skip
    if lora:
        add_lora(net.base, LoRAConfig(rank=4))
    actions = torch.randn(2, 4, 3)
    with torch.no_grad():
        assert torch.equal(net(x, c, text, actions=actions), expect)
        shape = (2, 4, 3, 4, 4)
        a = sample_latents(base, shape, steps=3, generator=torch.Generator().manual_seed(0))
        b = sample_latents(net, shape, steps=3, guidance=3.0, generator=torch.Generator().manual_seed(0),
                           cond_kwargs={"actions": actions})  # fmt: skip
        assert torch.equal(a, b)


def _data(n: int = 4, T: int = 3, A: int = 2):
    g = torch.Generator().manual_seed(0)
    actions = torch.randn(n, 2 * (T - 1), A, generator=g)
    # Latent frames that depend on the actions: a model must read them to fit the data.
    lat = torch.randn(n, 4, 1, 4, 4, generator=g).expand(n, 4, T, 4, 4).clone() * 0.3
    lat[:, 0, 1:] += actions.view(n, T - 1, 2 * A).sum(-1)[:, :, None, None]
    return [{"latents": lat[i], "actions": actions[i]} for i in range(n)]


def _net(lora: bool) -> ActionDiT:
    net = ActionDiT(randomized(), ActionConfig(action_dim=2, frames_per_latent=2))  # a "pretrained" base
    if lora:
        add_lora(net.base, LoRAConfig(rank=4))
    return net


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_post_training_fits_and_lora_leaves_the_base_untouched(tmp_path, lora):
    net = _net(lora)
    base_before = {k: v.clone() for k, v in net.base.state_dict().items() if "lora_" not in k}
    cfg = TrainConfig(steps=150, batch_size=4, lr=3e-3, log_every=1, tensorboard=False, seed=0)
    # Noise levels in a narrow band, so that the loss curve shows the fit, not the sigma draws.
    obj = ActionObjective(ObjectiveConfig(edm=EDMConfig(P_mean=-1.0, P_std=0.2)), action_dropout=0.0)
    Trainer(cfg, net, obj, _data(), out=tmp_path).fit()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    # The fit comes from reading the actions: the same noisy latents denoise worse under other actions.
    batch = {k: torch.stack([d[k] for d in _data()]) for k in ("latents", "actions")}
    y, a = batch["latents"], batch["actions"]
    x = y + 0.4 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    net.eval()
    text = torch.zeros(len(y), 1, CFG.text_dim)
    kw = dict(cfg=EDMConfig(), cond_latents=y, n_cond=1, text=text)
    with torch.no_grad():
        err = [
            (video2world_denoise(net, x, 0.4, actions=acts, **kw) - y)[:, :, 1:].pow(2).mean()
            for acts in (a, a.roll(1, 0))
        ]
    assert err[0] < 0.5 * err[1], err
    after = net.base.state_dict()
    changed = [k for k, v in base_before.items() if not torch.equal(after[k], v)]
    assert (changed == []) == lora  # LoRA: base frozen; full fine-tuning: the base moves
    assert any(v.abs().sum() > 0 for v in lora_state_dict(net).values()) == lora


def test_resume_is_exact(tmp_path):
    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, tensorboard=False, ckpt_every=2, seed=0)
    a = _net(True)
    Trainer(cfg, a, ActionObjective(action_dropout=0.5), _data(), out=tmp_path / "a").fit()
    c = _net(True)
    step2 = tmp_path / "a" / "checkpoints" / "step_0000002"
    Trainer(cfg, c, ActionObjective(action_dropout=0.5), _data(), out=tmp_path / "c").fit(resume=step2)
    for k, v in a.state_dict().items():
        assert torch.equal(v, c.state_dict()[k]), k


def _world(dit: DiT) -> WorldModel:
    return WorldModel(dit, WorldSpec(latent_mean=(0.0,) * 4, latent_std=(1.0,) * 4, latent_size=(3, 4, 4)))


def test_checkpoint_round_trip_adapter_apart_and_merged_export(tmp_path):
    net = ActionDiT(randomized(), ActionConfig(action_dim=2, frames_per_latent=2, action_std=(0.5, 2.0),
                                               action_mean=(0.1, 0.2)))  # fmt: skip
    add_lora(net.base, LoRAConfig(rank=4))
    with torch.no_grad():
        for p in [*lora_state_dict(net).values(), *net.action.parameters()]:
            p.normal_(0, 0.1)
    x, c, text = inputs()
    actions = torch.randn(2, 4, 2)
    with torch.no_grad():
        expect = net(x, c, text, actions=actions)
    save_action_world(_world(net.base), net, tmp_path / "m", lora=LoRAConfig(rank=4))
    assert (tmp_path / "m" / "adapter" / "adapter.safetensors").is_file()
    assert DiT.from_pretrained(tmp_path / "m" / "dit")  # the base alone, in the base's format
    _, loaded = load_action_world(tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(loaded(x, c, text, actions=actions), expect)
    merge_export(tmp_path / "m", tmp_path / "merged")
    assert not (tmp_path / "merged" / "adapter").exists()
    _, merged = load_action_world(tmp_path / "merged")
    with torch.no_grad():
        torch.testing.assert_close(merged(x, c, text, actions=actions), expect, atol=1e-5, rtol=1e-5)
    with pytest.raises(CheckpointError, match="already post-trained"):
        load_base(tmp_path / "m")
    with pytest.raises(CheckpointError, match="not a 'action' post-trained world model"):
        load_action_world(tmp_path / "m" / "dit")


def test_init_from_a_converted_diffusers_checkpoint(tmp_path, monkeypatch):
    """A tiny random CosmosTransformer3DModel saved by diffusers, converted, then post-trained: the
    same path as our own base, and its step 0 equals diffusers' own output."""
    import types

    tc = pytest.importorskip("diffusers.models.transformers.transformer_cosmos")
    shim = types.SimpleNamespace(resize=lambda x, size, interpolation=None: F.interpolate(x, size=size))
    resize = types.SimpleNamespace(functional=shim, InterpolationMode=types.SimpleNamespace(NEAREST=0))
    monkeypatch.setattr(tc, "transforms", resize, raising=False)
    from worldsmith.diffusion.convert import config_to_diffusers, convert_diffusers

    torch.manual_seed(0)
    cfg = DiTConfig(latent_channels=4, heads=2, head_dim=12, depth=1, text_dim=8, adaln_lora_dim=4,
                    max_size=(4, 8, 8), video2world=True)  # fmt: skip
    ref = tc.CosmosTransformer3DModel(**config_to_diffusers(cfg)).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.2)
    ref.save_pretrained(tmp_path / "cosmos" / "transformer")
    with pytest.raises(CheckpointError, match="convert it first"):
        load_base(tmp_path / "cosmos")
    with pytest.raises(CheckpointError, match="CosmosTransformer3DModel"):
        load_base(tmp_path / "cosmos" / "transformer")
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text('{"model": "ar-gpt"}')
    with pytest.raises(CheckpointError, match="'ar-gpt' checkpoint, not a diffusion world model"):
        load_base(tmp_path / "gpt")
    convert_diffusers(tmp_path / "cosmos", tmp_path / "converted")
    world = load_base(tmp_path / "converted")
    net = ActionDiT(world.dit, ActionConfig(action_dim=7, frames_per_latent=1))
    add_lora(net.base, LoRAConfig(rank=2))
    x, t, text, cond = (
        torch.randn(1, 4, 2, 4, 4),
        torch.tensor([0.3]),
        torch.randn(1, 3, 8),
        torch.zeros(1, 1, 2, 4, 4),
    )
    with torch.no_grad():
        expect = ref(hidden_states=x, timestep=t, encoder_hidden_states=text, condition_mask=cond,
                     padding_mask=torch.zeros(1, 1, 4, 4), return_dict=False)[0]  # fmt: skip
        got = net(x, t, text, condition_mask=cond, actions=torch.randn(1, 1, 7))
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=1e-5)
    cfg = TrainConfig(steps=2, batch_size=1, tensorboard=False)
    data = [{"latents": torch.randn(4, 2, 4, 4), "actions": torch.randn(1, 7)}]
    Trainer(cfg, net, ActionObjective(), data, out=tmp_path / "run").fit()
