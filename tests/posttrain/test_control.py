"""ControlNet branches: parity with diffusers' CosmosControlNetModel + CosmosTransformer3DModel,
zero-initialised start, multi-control weights, frozen base, conversion round trip."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from worldsmith.diffusion import convert
from worldsmith.diffusion.dit import DiT, DiTConfig
from worldsmith.posttrain import control as ctl
from worldsmith.posttrain.controls import ControlError

cn = pytest.importorskip("diffusers.models.controlnets.controlnet_cosmos")
tf = pytest.importorskip("diffusers.models.transformers.transformer_cosmos")

BASE = DiTConfig(latent_channels=4, heads=2, head_dim=16, depth=4, text_dim=8, adaln_lora_dim=8,
                 max_size=(8, 8, 8), video2world=True)  # fmt: skip


def _shim(monkeypatch):
    """torchvision is not installed; its NEAREST tensor resize is `F.interpolate(mode="nearest")`."""
    resize = types.SimpleNamespace(
        functional=types.SimpleNamespace(
            resize=lambda x, size, interpolation=None: F.interpolate(x, size=size)
        ),
        InterpolationMode=types.SimpleNamespace(NEAREST="nearest"),
    )
    for mod in (cn, tf):
        monkeypatch.setattr(mod, "transforms", resize, raising=False)


def net_of(base_cfg: DiTConfig = BASE, controls=("edge",), blocks=2, every_n=2, seed=0, randomize=True):
    torch.manual_seed(seed)
    net = ctl.ControlDiT(
        DiT(base_cfg), ctl.ControlConfig(controls=controls, blocks=blocks, every_n=every_n, cell=2)
    )
    if randomize:
        with torch.no_grad():
            for p in net.parameters():  # zero-initialised layers would hide mapping mistakes
                p.copy_(torch.randn_like(p) * 0.2)
    return net.eval()


def inputs(cfg: DiTConfig, B=2, T=3, H=4, W=4, channels=4):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, cfg.latent_channels, T, H, W, generator=g)
    control = torch.randn(B, channels, T, H, W, generator=g)
    text = torch.randn(B, 3, cfg.text_in_dim, generator=g)
    return x, control, text, torch.tensor([0.3, -0.6])


def diffusers_pair(net, base_cfg: DiTConfig):
    """diffusers' transformer and ControlNet loaded with `net`'s base and edge-branch weights."""
    ref_tf = tf.CosmosTransformer3DModel(
        **convert.config_to_diffusers(base_cfg), controlnet_block_every_n=2
    ).eval()
    ref_tf.load_state_dict(convert.to_diffusers_state_dict(net.base), strict=True)
    branch = net.control["edge"]
    ref_cn = cn.CosmosControlNetModel(**ctl.control_config_to_diffusers(base_cfg, branch)).eval()
    ref_cn.load_state_dict(ctl.branch_to_diffusers(branch), strict=True)
    return ref_tf, ref_cn


@pytest.mark.parametrize(
    "kw",
    [{}, {"learnable_pos_embed": False, "rope_scale": (1.0, 3.0, 3.0), "text_proj_dim": 12}],
    ids=["predict2-like", "predict2.5-like"],
)
def test_parity_with_diffusers_controlnet(kw, monkeypatch):
    _shim(monkeypatch)
    base_cfg = DiTConfig(**{**BASE.__dict__, **kw})
    net = net_of(base_cfg, blocks=2, every_n=2)
    ref_tf, ref_cn = diffusers_pair(net, base_cfg)
    x, control, text, c_noise = inputs(base_cfg)
    cond = torch.zeros(2, 1, 3, 4, 4)
    cond[:, :, :1] = 1.0
    pad = torch.zeros(1, 1, 4, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    kwargs = dict(text_mask=mask, condition_mask=cond, padding_mask=pad, fps=10)
    with torch.no_grad():
        ours = net(x, c_noise, text, controls={"edge": control}, control_weights={"edge": 0.7}, **kwargs)
        residuals = ref_cn(controls_latents=control, latents=x, timestep=c_noise, encoder_hidden_states=text,
                           condition_mask=cond, conditioning_scale=0.7, padding_mask=pad, attention_mask=mask,
                           fps=10, return_dict=False)[0]  # fmt: skip
        theirs = ref_tf(hidden_states=x, timestep=c_noise, encoder_hidden_states=text,
                        block_controlnet_hidden_states=residuals, attention_mask=mask, fps=10,
                        condition_mask=cond, padding_mask=pad, return_dict=False)[0]  # fmt: skip
        base_only = net(x, c_noise, text, **kwargs)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert (ours - base_only).abs().max() > 1e-2  # the control changes the output
    # and the conversion is a round trip
    branch = net.control["edge"]
    fresh = ctl.ControlBranch(net.base, branch.control_channels, 2)
    ctl.branch_from_diffusers(fresh, ref_cn.state_dict())
    for k, v in branch.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_step_zero_is_the_base_and_only_branches_train():
    net = net_of(randomize=False, controls=("edge", "seg"))
    with torch.no_grad():
        for p in net.base.parameters():
            p.normal_(0, 0.2)
    x, control, text, c_noise = inputs(BASE)
    seg = torch.randn(2, 12, 3, 4, 4)
    out = net(x, c_noise, text, controls={"edge": control, "seg": seg})
    torch.testing.assert_close(out, net.base(x, c_noise, text), atol=0, rtol=0)
    assert not any(p.requires_grad for p in net.base.parameters())
    assert all(p.requires_grad for p in net.control.parameters())
    out.square().sum().backward()
    assert net.control["edge"].after_proj[0].weight.grad.abs().sum() > 0  # the zero layers get gradient


def test_multi_control_weights_scale_and_normalise_residuals():
    net = net_of(controls=("edge", "depth"), blocks=1, every_n=1)
    x, control, text, c_noise = inputs(BASE)
    base = net(x, c_noise, text)
    c = {"edge": control, "depth": control * 0.5}

    def delta(weights):
        return net(x, c_noise, text, controls=c, control_weights=weights) - base

    # weights summing > 1 are divided by their sum: (1, 1) and (3, 3) act as (0.5, 0.5)
    torch.testing.assert_close(delta({"edge": 1.0, "depth": 1.0}), delta({"edge": 0.5, "depth": 0.5}))
    torch.testing.assert_close(delta({"edge": 3.0, "depth": 3.0}), delta({"edge": 0.5, "depth": 0.5}))
    assert not torch.allclose(delta({"edge": 1.0, "depth": 0.0}), delta({"edge": 0.0, "depth": 1.0}))
    # a constant spatiotemporal map equals the scalar; a map over half the frame does not
    left = torch.zeros(1, 1, 3, 4, 4)
    left[..., :2] = 1.0
    torch.testing.assert_close(
        delta({"edge": torch.ones(1, 1, 3, 4, 4), "depth": 0.0}), delta({"edge": 1.0, "depth": 0.0})
    )
    per_sample = delta({"edge": torch.tensor([1.0, 0.0]), "depth": 0.0})
    assert per_sample[1].abs().max() == 0 and per_sample[0].abs().max() > 0  # dropped for sample 1
    assert not torch.allclose(delta({"edge": left, "depth": 0.0}), delta({"edge": 1.0, "depth": 0.0}))
    assert delta({"edge": 0.0, "depth": 0.0}).abs().max() == 0  # all dropped (training): the base
    with pytest.raises(ControlError, match="no --control seg"):
        net(x, c_noise, text, controls=c, control_weights={"seg": 1.0})
    with pytest.raises(ControlError, match="no 'blur' branch"):
        net(x, c_noise, text, controls={"blur": control})


def test_config_errors():
    with pytest.raises(ControlError, match="unknown control type 'normals'"):
        ctl.ControlConfig(controls=("normals",))
    with pytest.raises(Exception, match="every_n"):
        ctl.ControlDiT(DiT(BASE), ctl.ControlConfig(controls=("edge",), blocks=3, every_n=2))


def test_parity_per_frame_noise_levels(monkeypatch):
    _shim(monkeypatch)
    net = net_of(BASE, blocks=2, every_n=2, seed=3)
    ref_tf, ref_cn = diffusers_pair(net, BASE)
    x, control, text, _ = inputs(BASE, B=1)
    c_noise = torch.tensor([[-2.0, 0.5, 0.5]])  # a nearly clean first frame
    cond, pad = torch.zeros(1, 1, 3, 4, 4), torch.zeros(1, 1, 4, 4)
    with torch.no_grad():
        ours = net(x, c_noise, text, controls={"edge": control}, condition_mask=cond, padding_mask=pad)
        t5 = c_noise.view(1, 1, 3, 1, 1)
        res = ref_cn(controls_latents=control, latents=x, timestep=t5, encoder_hidden_states=text,
                     condition_mask=cond, padding_mask=pad, return_dict=False)[0]  # fmt: skip
        theirs = ref_tf(hidden_states=x, timestep=t5, encoder_hidden_states=text,
                        block_controlnet_hidden_states=res, condition_mask=cond, padding_mask=pad,
                        return_dict=False)[0]  # fmt: skip
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
