"""Video2World conditioning, the training objective (overfit one batch) and latent sampling."""

from __future__ import annotations

import pytest
import torch

from worldsmith.diffusion import edm
from worldsmith.diffusion.conditioning import frame_indicator, video2world_denoise
from worldsmith.diffusion.dit import DiT, DiTConfig
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.errors import ConfigError, WorldsmithError


def tiny(**kw) -> DiTConfig:
    base = dict(
        latent_channels=4, heads=2, head_dim=16, depth=2, text_dim=8, adaln_lora_dim=8, max_size=(8, 8, 8)
    )
    return DiTConfig(**{**base, "video2world": True, **kw})


def randomized(cfg: DiTConfig) -> DiT:
    torch.manual_seed(0)
    model = DiT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


class Spy(torch.nn.Module):
    """Records what the network sees; returns a constant F."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.seen = cfg, {}

    def forward(self, x_in, c_noise, **kw):
        self.seen = {"x_in": x_in.clone(), "c_noise": c_noise.clone(), **kw}
        return torch.full_like(x_in, 0.5)


def test_frame_indicator():
    ind = frame_indicator(torch.tensor([0, 2]), 2, 4)
    assert ind.shape == (2, 1, 4, 1, 1)
    assert ind.flatten(1).tolist() == [[0, 0, 0, 0], [1, 1, 0, 0]]


def test_denoiser_feeds_given_frames_clean_at_their_own_scale():
    cfg = edm.EDMConfig()
    spy = Spy(tiny())
    x, y = torch.randn(2, 4, 3, 4, 4) * 5, torch.randn(2, 4, 3, 4, 4)
    sigma, aug = torch.tensor([5.0, 5.0]), 0.01
    g = torch.Generator().manual_seed(0)
    D = video2world_denoise(spy, x, sigma, cfg=cfg, cond_latents=y, n_cond=1, augment_sigma=aug, generator=g)
    noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    expect_given = edm.c_in(aug) * (y + aug * noise)
    torch.testing.assert_close(spy.seen["x_in"][:, :, :1], expect_given[:, :, :1])
    torch.testing.assert_close(spy.seen["x_in"][:, :, 1:], edm.c_in(5.0) * x[:, :, 1:])
    assert (
        spy.seen["condition_mask"][:, :, 0].eq(1).all() and spy.seen["condition_mask"][:, :, 1:].eq(0).all()
    )
    torch.testing.assert_close(D[:, :, :1], y[:, :, :1])  # given frames: D = y
    torch.testing.assert_close(D[:, :, 1:], edm.c_skip(5.0) * x[:, :, 1:] + edm.c_out(5.0) * 0.5)
    # Given frames stay given even below the augmentation level (unlike diffusers' pipeline).
    D = video2world_denoise(spy, x, torch.tensor([1e-4, 1e-4]), cfg=cfg, cond_latents=y, n_cond=1)
    assert spy.seen["condition_mask"][:, :, 0].eq(1).all()
    torch.testing.assert_close(D[:, :, :1], y[:, :, :1])


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_given_frames_come_out_unchanged(sampler):
    model = randomized(tiny())
    y = torch.randn(2, 4, 4, 4, 4)
    out = sample_latents(
        model, (2, 4, 4, 4, 4), cond_latents=y[:, :, :2], n_cond=2, steps=4, sampler=sampler, guidance=3.0,
        text=torch.randn(2, 3, 8), generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    torch.testing.assert_close(out[:, :, :2], y[:, :, :2], atol=1e-6, rtol=0)
    assert out[:, :, 2:].abs().max() < 50 and torch.isfinite(out).all()


def test_sampling_is_reproducible_and_guidance_changes_the_result():
    model = randomized(tiny())
    text = torch.randn(1, 3, 8)
    run = lambda w: sample_latents(  # noqa: E731
        model, (1, 4, 2, 4, 4), text=text, steps=3, guidance=w, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(run(1.0), run(1.0))
    assert not torch.allclose(run(1.0), run(4.0))


def test_sample_latents_errors():
    model = randomized(tiny())
    with pytest.raises(WorldsmithError, match="sampler"):
        sample_latents(model, (1, 4, 2, 4, 4), sampler="ddim")
    with pytest.raises(WorldsmithError, match="given latent frames"):
        sample_latents(model, (1, 4, 2, 4, 4), n_cond=1)
    with pytest.raises(WorldsmithError, match="nothing to generate"):
        sample_latents(model, (1, 4, 2, 4, 4), n_cond=2, cond_latents=torch.zeros(1, 4, 2, 4, 4))


def test_objective_masks_given_frames_and_mixes_tasks():
    torch.manual_seed(0)
    model = DiT(tiny())
    obj = DiffusionObjective(
        ObjectiveConfig(max_cond_frames=2, p_text2world=0.5), generator=torch.Generator()
    )
    batch = {"latents": torch.randn(64, 4, 3, 4, 4) * 0.5, "text": torch.randn(64, 2, 8)}
    loss, metrics = obj(model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert 0.3 < metrics["n_cond_mean"] < 1.5  # half Text2World, half 1..2 given frames
    with pytest.raises(WorldsmithError, match="text"):
        obj(model, {"latents": batch["latents"], "text": torch.randn(64, 2, 5)})
    fixed = DiffusionObjective(
        ObjectiveConfig(min_cond_frames=2, max_cond_frames=2, p_text2world=0.0), generator=torch.Generator()
    )
    assert fixed(model, batch)[1]["n_cond_mean"] == 2.0  # always 2 given frames
    with pytest.raises(ConfigError, match="min_cond_frames"):
        ObjectiveConfig(min_cond_frames=3, max_cond_frames=2)


@pytest.mark.parametrize(
    "extra", [{}, {"residual_to_given": True, "residual_scale": 4.0, "given_channels": True}]
)
def test_overfit_one_batch(extra):
    torch.manual_seed(0)
    model = DiT(tiny(video2world=True, **extra))
    g = torch.Generator()
    obj = DiffusionObjective(ObjectiveConfig(max_cond_frames=1, text_dropout=0.0), generator=g)
    y = torch.randn(2, 4, 3, 4, 4) * 0.5
    batch = {"latents": y, "text": torch.randn(2, 3, 8)}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        g.manual_seed(0)  # the same noise, sigma and given frames every step: one batch to memorise
        loss, _ = obj(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_residual_to_given_denoises_relative_to_the_last_given_frame():
    cfg = edm.EDMConfig()
    spy = Spy(tiny(residual_to_given=True))
    x, y = torch.randn(2, 4, 4, 4, 4) * 5, torch.randn(2, 4, 4, 4, 4)
    n_cond, sigma = torch.tensor([2, 0]), torch.tensor([5.0, 3.0])
    D = video2world_denoise(spy, x, sigma, cfg=cfg, cond_latents=y, n_cond=n_cond, augment_sigma=1e-3)
    s = sigma.view(2, 1, 1, 1, 1)
    anchor = torch.stack([y[0, :, 1:2], torch.zeros_like(y[1, :, :1])])  # sample 1 is Text2World
    # D = a + c_skip (x - a) + c_out F on generated frames, with F seeing c_in (x - a)
    expect = anchor + edm.c_skip(s) * (x - anchor) + edm.c_out(s) * 0.5
    torch.testing.assert_close(D[0, :, 2:], expect[0, :, 2:])
    torch.testing.assert_close(D[1], expect[1])
    torch.testing.assert_close(spy.seen["x_in"][0, :, 2:], edm.c_in(5.0) * (x[0, :, 2:] - y[0, :, 1:2]))
    torch.testing.assert_close(D[0, :, :2], y[0, :, :2])  # given frames come out as given
    # off (Cosmos): the same call is the plain EDM denoiser
    plain = video2world_denoise(Spy(tiny()), x, sigma, cfg=cfg, cond_latents=y, n_cond=n_cond)
    torch.testing.assert_close(plain[0, :, 2:], (edm.c_skip(s) * x + edm.c_out(s) * 0.5)[0, :, 2:])
    # at very high noise a zero network output predicts "nothing moves": the last given frame
    zero = Spy(tiny(residual_to_given=True))
    zero.forward = lambda x_in, c_noise, **kw: torch.zeros_like(x_in)
    far = video2world_denoise(zero, x, torch.tensor([1e4, 1e4]), cfg=cfg, cond_latents=y, n_cond=2)
    torch.testing.assert_close(far[:, :, 2:], y[:, :, 1:2].expand(-1, -1, 2, -1, -1), atol=1e-3, rtol=0)
    from worldsmith.diffusion.convert import config_to_diffusers

    with pytest.raises(WorldsmithError, match="no diffusers equivalent"):
        config_to_diffusers(tiny(residual_to_given=True))
