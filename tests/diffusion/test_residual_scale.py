"""`DiTConfig.residual_scale`: the change from the last given latent denoised at std ~sigma_data.

With scale k the denoiser is ``a + D'(k (x - a); k sigma) / k``, the objective draws ``k sigma`` from
the family's distribution and the sampler runs its schedule divided by k. Checked here against
the unscaled model on k-times larger data (the same computation, exactly) and against the optimal
denoiser of Gaussian data (EDM Eq. 3 for N(a, s^2): ``a + (x - a) s^2 / (sigma^2 + s^2)``).
"""

from __future__ import annotations

import pytest
import torch

from worldsmith.diffusion import edm
from worldsmith.diffusion.conditioning import measure_residual_scale, residual_factor, video2world_denoise
from worldsmith.diffusion.dit import DiTConfig
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.errors import ConfigError, WorldsmithError

EDM = edm.EDMConfig()


def tiny(**kw) -> DiTConfig:
    base = dict(latent_channels=4, heads=2, head_dim=16, depth=1, text_dim=8, adaln_lora_dim=8)
    base["max_size"] = (8, 8, 8)
    return DiTConfig(**{**base, "video2world": True, "residual_to_given": True, **kw})


class GaussianNet(torch.nn.Module):
    """The F whose EDM denoiser is optimal for zero-mean Gaussian data of std `s` in the network's
    space (it reads sigma back from c_noise = ln(sigma) / 4 and x from c_in x); given frames unused."""

    def __init__(self, cfg: DiTConfig, s: float = 0.5):
        super().__init__()
        self.cfg, self.s = cfg, s
        self.w = torch.nn.Parameter(torch.zeros(1))  # samplers look up the device of the parameters

    def forward(self, x_in, c_noise, **kw):
        sigma = (4 * c_noise).exp().view(-1, 1, 1, 1, 1)
        x = x_in / edm.c_in(sigma)
        opt = x * self.s**2 / (sigma**2 + self.s**2)
        return (opt - edm.c_skip(sigma) * x) / edm.c_out(sigma)


def test_scaled_denoiser_is_the_optimal_one_for_the_smaller_change():
    k, s = 4.0, 0.5
    net = GaussianNet(tiny(residual_scale=k), s)
    x, y = torch.randn(2, 4, 4, 4, 4), torch.randn(2, 4, 4, 4, 4)
    sigma, n_cond = torch.tensor([0.3, 2.0]), torch.tensor([2, 0])
    D = video2world_denoise(net, x, sigma, cfg=EDM, cond_latents=y, n_cond=n_cond)
    a = y[0, :, 1:2]
    # with given frames: the optimal denoiser of a + N(0, (s / k)^2); Text2World (sample 1): unscaled
    expect = a + (x[0, :, 2:] - a) * (s / k) ** 2 / (0.3**2 + (s / k) ** 2)
    torch.testing.assert_close(D[0, :, 2:], expect)
    torch.testing.assert_close(D[1], x[1] * s**2 / (4.0 + s**2))
    torch.testing.assert_close(D[0, :, :2], y[0, :, :2])  # given frames come out as given
    assert residual_factor(net.cfg, n_cond, 2).tolist() == [k, 1.0]
    assert residual_factor(tiny(residual_scale=k, residual_to_given=False), 2, 1).tolist() == [1.0]
    with pytest.raises(ConfigError, match="residual_scale"):
        tiny(residual_scale=0.0)


@pytest.mark.parametrize("steps", [1, 6])
def test_generation_with_scale_k_is_generation_on_k_times_the_data(steps):
    k = 5.0
    y = torch.randn(2, 4, 2, 4, 4) * 0.3
    noise = torch.randn(2, 4, 5, 4, 4)
    kw = dict(n_cond=2, steps=steps, noise=noise)
    scaled = sample_latents(GaussianNet(tiny(residual_scale=k)), (2, 4, 5, 4, 4), cond_latents=y, **kw)
    plain = sample_latents(GaussianNet(tiny()), (2, 4, 5, 4, 4), cond_latents=k * y, **kw)
    torch.testing.assert_close(k * scaled, plain, rtol=1e-4, atol=1e-4)
    if steps == 1:  # one Euler step from sigma_max / k lands on the denoiser there
        s0, a = EDM.sigma_max / k, y[:, :, 1:2]
        x0 = noise[:, :, 2:] * s0
        torch.testing.assert_close(scaled[:, :, 2:], a + (x0 - a) * 0.1**2 / (s0**2 + 0.1**2))


def test_objective_with_scale_k_is_the_unscaled_objective_on_k_times_the_data():
    k = 3.0

    class Elementwise(torch.nn.Module):  # F of each element from its own input and the noise level
        def __init__(self, cfg):
            super().__init__()
            self.cfg = cfg

        def forward(self, x_in, c_noise, **kw):
            return torch.tanh(x_in) + c_noise.view(-1, 1, 1, 1, 1)

    y = torch.randn(16, 4, 4, 4, 4) * 0.2
    y[:, :, 1:] = y[:, :, :1] + 0.05 * torch.randn(16, 4, 3, 4, 4)  # a small change: the residual
    cfg = ObjectiveConfig(p_text2world=0.0, text_dropout=0.0)

    def loss(model, data):
        return DiffusionObjective(cfg, generator=torch.Generator().manual_seed(0))(model, {"latents": data})

    scaled, m_scaled = loss(Elementwise(tiny(residual_scale=k)), y)
    plain, m_plain = loss(Elementwise(tiny()), k * y)
    torch.testing.assert_close(scaled, plain)
    assert m_scaled["sigma_median"] == pytest.approx(m_plain["sigma_median"] / k)


def test_measure_residual_scale():
    y = torch.zeros(50, 4, 3, 4, 4)
    y[:, :, 0] = torch.randn(50, 4, 4, 4)  # the first frame: any content
    y[:, :, 2] = y[:, :, 1] + 0.1 * torch.randn(50, 4, 4, 4)  # the future changes by std 0.1
    assert measure_residual_scale(y, n_cond=2, sigma_data=0.5) == pytest.approx(5.0, rel=0.05)
    still = y.clone()
    still[:, :, 2] = still[:, :, 1]
    assert measure_residual_scale(still, n_cond=2, sigma_data=0.5) == 1.0  # nothing moves: off


def test_given_channels_carry_the_last_given_frame_and_its_change():
    """`DiTConfig.given_channels`: every frame's tokens see ``[a, k (a - a_prev)] / sigma_data``."""
    from worldsmith.diffusion.conditioning import given_context
    from worldsmith.diffusion.dit import DiT

    k = 2.0
    cfg = tiny(residual_scale=k, given_channels=True)
    assert cfg.in_channels == 4 + 2 + 8  # latents, condition and padding masks, a and its change
    y = torch.randn(3, 4, 4, 4, 4)
    ctx = given_context(cfg, y, torch.tensor([2, 1, 0]), EDM)  # [B, 2C, 1, H, W]
    torch.testing.assert_close(ctx[0], torch.cat([y[0, :, 1:2], k * (y[0, :, 1:2] - y[0, :, :1])]) / 0.5)
    torch.testing.assert_close(ctx[1], torch.cat([y[1, :, :1], torch.zeros_like(y[1, :, :1])]) / 0.5)
    assert not ctx[2].any()  # Text2World: nothing given
    seen = {}

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = cfg

        def forward(self, x_in, c_noise, **kw):
            seen.update(kw)
            return torch.zeros_like(x_in)

    video2world_denoise(Recorder(), torch.randn_like(y), 1.0, cfg=EDM, cond_latents=y, n_cond=2)
    torch.testing.assert_close(seen["given_context"][:2], given_context(cfg, y, 2, EDM)[:2])
    torch.manual_seed(0)
    net = DiT(cfg)
    torch.nn.init.normal_(net.proj_out.weight)  # a non-zero output (adaLN-Zero starts at zero)
    x, c = torch.randn(1, 4, 2, 4, 4), torch.zeros(1)
    text = torch.zeros(1, 1, 8)
    base = net(x, c, text, given_context=torch.zeros(1, 8, 1, 4, 4))
    torch.testing.assert_close(net(x, c, text), base)  # omitted = zeros
    assert not torch.allclose(net(x, c, text, given_context=torch.ones(1, 8, 1, 4, 4)), base)
    from worldsmith.diffusion.convert import config_to_diffusers
    from worldsmith.errors import CheckpointError

    with pytest.raises(CheckpointError, match="given_channels"):
        config_to_diffusers(tiny(residual_to_given=False, given_channels=True))


def test_channel_weights_weight_the_loss_per_latent_channel():
    class Elementwise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = tiny()

        def forward(self, x_in, c_noise, **kw):
            return torch.tanh(x_in)

    y = torch.randn(8, 4, 3, 4, 4) * 0.5

    def loss(weights):
        cfg = ObjectiveConfig(text_dropout=0.0, channel_weights=weights)
        return DiffusionObjective(cfg, generator=torch.Generator().manual_seed(0))(
            Elementwise(), {"latents": y}
        )[0]

    per_channel = torch.stack([loss(tuple(float(i == c) for i in range(4))) for c in range(4)])
    w = torch.tensor([1.0, 0.5, 0.0, 0.25])
    torch.testing.assert_close(loss(tuple(w.tolist())), (w * per_channel).sum() / w.sum())
    torch.testing.assert_close(loss(()), per_channel.mean())  # uniform
    with pytest.raises(WorldsmithError, match="channel_weights"):
        loss((1.0, 1.0))
    with pytest.raises(ConfigError, match="channel_weights"):
        ObjectiveConfig(channel_weights=(0.0, 0.0))


def test_decoder_channel_weights_measure_what_the_decoder_sees():
    from worldsmith.diffusion.recipes import decoder_channel_weights

    class Decoder(torch.nn.Module):  # pixels from channel 0 (x2) and channel 1; channels 2, 3 unused
        def decode(self, z):
            return 2 * z[:, :1] + z[:, 1:2]

    z = torch.randn(32, 4, 2, 8, 8) * torch.tensor([1.0, 1.0, 3.0, 1.0]).view(1, 4, 1, 1, 1)
    w = decoder_channel_weights(Decoder(), z, floor=0.01)
    assert w[0] == 1.0 and w[1] == pytest.approx(0.25, rel=0.1) and w[2:] == (0.01, 0.01)
