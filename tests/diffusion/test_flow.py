"""Rectified flow (Cosmos 2.x): scalings and loss against their formulas, the training time
distribution, and the flow samplers step for step against diffusers' FlowMatchEuler and UniPC."""

from __future__ import annotations

import math

import pytest
import torch

from worldsmith.diffusion import edm, flow
from worldsmith.diffusion.samplers import SAMPLERS, flow_sigmas, karras_sigmas, sample_euler
from worldsmith.errors import ConfigError


def velocity(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth, nonlinear stand-in for a trained velocity network F(x_t, t)."""
    t = t.view(-1, *([1] * (x_t.ndim - 1))).to(x_t.dtype)
    return torch.tanh(x_t) * (1 + t) - 0.3 * x_t * t + 0.1


def flow_denoiser(dtype=torch.float32):
    return edm.EDMDenoiser(lambda x_in, c_noise: velocity(x_in, c_noise), flow.FlowConfig())


@pytest.mark.parametrize("sigma", [1e-3, 0.2, 1.0, 7.0, 200.0])
def test_scalings_are_cosmos_rectified_flow_scaling(sigma):
    s = torch.tensor(sigma, dtype=torch.float64)
    t = sigma / (1 + sigma)
    c_skip, c_out, c_in, c_noise = flow.FlowConfig().scalings(s)
    assert (c_skip.item(), c_out.item(), c_in.item(), c_noise.item()) == pytest.approx((1 - t, -t, 1 - t, t))
    assert flow.t_to_sigma(flow.sigma_to_t(s)).item() == pytest.approx(sigma)


def test_denoiser_recovers_x0_from_the_true_velocity_and_loss_is_velocity_mse():
    g = torch.Generator().manual_seed(0)
    x0, n = (
        torch.randn(3, 2, 5, generator=g, dtype=torch.float64),
        torch.randn(3, 2, 5, generator=g, dtype=torch.float64),
    )
    sigma = torch.tensor([0.05, 1.0, 30.0], dtype=torch.float64)
    s = sigma.view(-1, 1, 1)
    cfg = flow.FlowConfig()
    # The flow state x_t = (1 - t) x0 + t n is c_in * (x0 + sigma n); an oracle F returns v = n - x0.
    t = s / (1 + s)
    oracle = edm.EDMDenoiser(lambda x_in, c: n - x0 + 0 * x_in, cfg)
    torch.testing.assert_close(oracle(x0 + s * n, sigma), x0, rtol=1e-5, atol=1e-5)  # sigma in float32
    # For any F: lambda(sigma) ||D - x0||^2 = ||F - v||^2.
    F = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    D = edm.EDMDenoiser(lambda x_in, c: F, cfg)(x0 + s * n, sigma)
    torch.testing.assert_close(cfg.loss_weight(s) * (D - x0) ** 2, (F - (n - x0)) ** 2, rtol=1e-4, atol=1e-5)
    assert torch.allclose(((1 - t) * x0 + t * n), cfg.scalings(s)[2] * (x0 + s * n))


def test_training_time_is_shifted_logit_normal():
    cfg = flow.FlowConfig(shift=3.0, logit_mean=0.5, logit_std=0.8)
    t = flow.sigma_to_t(cfg.sample_sigma(200_000, generator=torch.Generator().manual_seed(0)))
    # Undo the shift s t / (1 + (s - 1) t): u = t / (s - (s - 1) t); logit(u) ~ N(0.5, 0.8^2).
    u = t / (3.0 - 2.0 * t)
    z = torch.log(u / (1 - u))
    assert z.mean().item() == pytest.approx(0.5, abs=0.01) and z.std().item() == pytest.approx(0.8, abs=0.01)
    # shift 1 and uniform: t ~ U(0, 1).
    u = flow.sigma_to_t(flow.FlowConfig(t_distribution="uniform", shift=1.0).sample_sigma(100_000))
    assert u.mean().item() == pytest.approx(0.5, abs=0.01) and u.var().item() == pytest.approx(
        1 / 12, abs=0.005
    )


def test_shift_and_reweight_formulas():
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    torch.testing.assert_close(flow.shift_time(t, 5.0), torch.tensor([0.0, 1.25 / 2.0, 2.5 / 3.0, 1.0]))
    torch.testing.assert_close(flow.shift_time(t, 1.0), t)
    grid = torch.linspace(0, 1, 1000)
    w = flow.reweight(grid)
    assert w.mean().item() == pytest.approx(1.0, rel=1e-5)
    assert w.argmax().item() in (499, 500) and w[0].item() == pytest.approx(0.0, abs=1e-6)
    s = torch.tensor([0.5, 2.0])
    torch.testing.assert_close(
        flow.FlowConfig(weighting="reweight").loss_weight(s),
        flow.FlowConfig().loss_weight(s) * flow.reweight(flow.sigma_to_t(s)),
    )


def test_flow_config_rejects_bad_values():
    for kw in ({"shift": 0.0}, {"sigma_min": 300.0}, {"cond_t": 1.0}, {"logit_std": -1.0}):
        with pytest.raises(ConfigError):
            flow.FlowConfig(**kw)


def test_flow_euler_is_euler_on_the_same_ode():
    x_T = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 81
    sig = karras_sigmas(12, 0.01, 80.0).double()
    den = edm.EDMDenoiser(lambda x_in, c: velocity(x_in, c), flow.FlowConfig())
    torch.testing.assert_close(SAMPLERS["flow_euler"](den, x_T, sig), sample_euler(den, x_T, sig))


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_euler_matches_diffusers_flow_match_euler(shift):
    schedulers = pytest.importorskip("diffusers.schedulers")
    sched = schedulers.FlowMatchEulerDiscreteScheduler(shift=shift)
    sched.set_timesteps(10)
    noise = torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    ref = noise.clone()
    for i, ts in enumerate(sched.timesteps):
        ref = sched.step(velocity(ref, sched.sigmas[i].expand(2)), ts, ref).prev_sample
    # diffusers' default ramp ends at its shifted training minimum shift(1/1000), then shifts again.
    sigmas = flow_sigmas(10, shift, t_min=flow.shift_time(torch.tensor(1e-3), shift).item())
    torch.testing.assert_close(
        flow.sigma_to_t(sigmas), sched.sigmas.clamp(max=1 - flow.T_EPS), rtol=1e-6, atol=1e-7
    )
    cfg = flow.FlowConfig()
    ours = SAMPLERS["flow_euler"](flow_denoiser(), noise * cfg.prior_scale(sigmas[0]), sigmas)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 3, 12])
def test_unipc_matches_diffusers_unipc_with_predict25_config(steps):
    schedulers = pytest.importorskip("diffusers.schedulers")
    # Cosmos Predict 2.5's scheduler (diffusers' conversion script).
    sched = schedulers.UniPCMultistepScheduler(
        use_karras_sigmas=True,
        use_flow_sigmas=True,
        prediction_type="flow_prediction",
        sigma_max=200.0,
        sigma_min=0.01,
    )
    sched.set_timesteps(steps)
    noise = torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    ref = noise.clone()
    for i, ts in enumerate(sched.timesteps):
        ref = sched.step(velocity(ref, sched.sigmas[i].expand(2)), ts, ref).prev_sample
    cfg = flow.FlowConfig()
    sigmas = karras_sigmas(steps, cfg.sigma_min, cfg.sigma_max)
    torch.testing.assert_close(flow.sigma_to_t(sigmas.double()).float(), sched.sigmas, rtol=1e-5, atol=1e-7)
    ours = SAMPLERS["unipc"](flow_denoiser(), noise * cfg.prior_scale(sigmas[0]), sigmas)
    torch.testing.assert_close(ours, ref, rtol=0, atol=2e-5)


def test_unipc_converges_faster_than_euler_on_gaussian_data():
    mu, S = 0.7, 0.3

    def gaussian(x, sigma):  # exact E[y | y + sigma n = x] for y ~ N(mu, S^2)
        s2 = sigma.view(-1, 1) ** 2
        return mu + S**2 / (S**2 + s2) * (x - mu)

    x_T = torch.randn(500, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 80
    exact = mu + (x_T - mu) * S / math.sqrt(S**2 + 80.0**2)
    err = {}
    for name in ("euler", "unipc"):
        run = [SAMPLERS[name](gaussian, x_T, karras_sigmas(n, 0.002, 80.0).double()) for n in (16, 32)]
        err[name] = [(out - exact).abs().max() for out in run]
    assert err["unipc"][1] < err["euler"][1] / 5  # measured: 9.0e-3 vs 8.9e-2
    assert (err["unipc"][0] / err["unipc"][1]).item() > 4.0  # at least second order (measured 9x)


# --- the flow family through Video2World conditioning, the objective, sampling and the Trainer ------


def v2w_cfg():
    from worldsmith.diffusion.dit import DiTConfig

    dims = dict(heads=2, head_dim=16, depth=2, text_dim=8, adaln_lora_dim=8, max_size=(8, 8, 8))
    return DiTConfig(latent_channels=4, video2world=True, **dims)


def recording_net():
    """A stand-in network F = 0.5 that records its inputs in `net.seen`."""

    def net(x_in, c_noise, **kw):
        net.seen = {"x_in": x_in.clone(), "c_noise": c_noise.clone(), **kw}
        return torch.full_like(x_in, 0.5)

    net.cfg = v2w_cfg()
    return net


def test_video2world_flow_feeds_given_frames_clean_at_cond_t():
    from worldsmith.diffusion.conditioning import video2world_denoise

    cfg, spy = flow.FlowConfig(cond_t=1e-3), recording_net()
    x, y = torch.randn(2, 4, 3, 4, 4) * 5, torch.randn(2, 4, 3, 4, 4)
    sigma = torch.tensor([4.0, 0.5])
    D = video2world_denoise(spy, x, sigma, cfg=cfg, cond_latents=y, n_cond=torch.tensor([1, 2]))
    t = (sigma / (1 + sigma)).view(2, 1, 1, 1, 1)
    torch.testing.assert_close(spy.seen["x_in"][0, :, :1], y[0, :, :1])  # clean, not augmented
    torch.testing.assert_close(spy.seen["x_in"][0, :, 1:], ((1 - t) * x)[0, :, 1:])
    expect_c = torch.tensor([[1e-3, 0.8, 0.8], [1e-3, 1e-3, 1 / 3]])  # per frame: cond_t or t
    torch.testing.assert_close(spy.seen["c_noise"], expect_c)
    torch.testing.assert_close(D[1, :, :2], y[1, :, :2])
    torch.testing.assert_close(D[0, :, 1:], ((1 - t) * x - t * 0.5)[0, :, 1:])  # x_t - t F


def test_flow_objective_overfits_one_batch():
    from worldsmith.diffusion.dit import DiT
    from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig

    torch.manual_seed(0)
    model = DiT(v2w_cfg())
    g = torch.Generator()
    obj = DiffusionObjective(ObjectiveConfig(family="flow", max_cond_frames=1, text_dropout=0.0), generator=g)
    batch = {"latents": torch.randn(2, 4, 3, 4, 4), "text": torch.randn(2, 3, 8)}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        g.manual_seed(0)
        loss, _ = obj(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert 0.5 < losses[0] < 10  # velocity MSE starts near E||n - x0||^2 = 2 for unit data
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("sampler", ["unipc", "flow_euler", "euler"])
def test_flow_sampling_keeps_given_frames(sampler):
    from worldsmith.diffusion.dit import DiT
    from worldsmith.diffusion.generate import sample_latents

    torch.manual_seed(0)
    model = DiT(v2w_cfg()).eval()
    with torch.no_grad():
        for p in model.parameters():  # away from the zero-initialised output
            p.add_(torch.randn_like(p) * 0.1)
    y = torch.randn(2, 4, 4, 4, 4)
    out = sample_latents(
        model, (2, 4, 4, 4, 4), cond_latents=y[:, :, :2], n_cond=2, steps=4, sampler=sampler,
        guidance=2.0, text=torch.randn(2, 3, 8), noise_cfg=flow.FlowConfig(),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    torch.testing.assert_close(out[:, :, :2], y[:, :, :2], atol=1e-6, rtol=0)
    assert torch.isfinite(out).all() and out[:, :, 2:].abs().max() < 50


def test_train_flow_world_model_through_the_trainer(tmp_path):
    from worldsmith.diffusion.dit import PRESETS
    from worldsmith.diffusion.objective import ObjectiveConfig
    from worldsmith.diffusion.pipeline import predict_latents
    from worldsmith.diffusion.recipes import train_world_model
    from worldsmith.diffusion.world import WorldModel

    latents = torch.randn(4, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 + 1
    cfg = PRESETS["tiny"](video2world=True, max_size=(8, 8, 8))
    world, metrics = train_world_model(
        latents, tmp_path / "run", dit_cfg=cfg, train={"steps": 3, "seed": 0}, text_encoder="none",
        objective=ObjectiveConfig(family="flow", max_cond_frames=1), threads=1,
    )  # fmt: skip
    assert metrics["loss_first"] is not None
    loaded = WorldModel.from_pretrained(tmp_path / "run" / "model")
    assert loaded.spec.family == "flow" and loaded.spec.noise.name == "flow"
    torch.testing.assert_close(loaded.normalize(latents).std().item(), 1.0, atol=0.05, rtol=0)  # sigma_data 1
    pred = predict_latents(loaded, latents[:1, :, :1], steps=2, sampler="unipc")
    assert torch.equal(pred[:, :, :1], latents[:1, :, :1]) and torch.isfinite(pred).all()
