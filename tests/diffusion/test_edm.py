"""EDM preconditioning and loss against the closed forms of Karras et al. 2022, Table 1."""

from __future__ import annotations

import math

import pytest
import torch

from worldsmith.diffusion import edm
from worldsmith.errors import ConfigError

SIGMAS = [0.0002, 0.01, 0.5, 1.0, 7.3, 80.0]


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("sd", [0.5, 1.0])
def test_scalings_closed_form(sigma, sd):
    r = math.sqrt(sigma**2 + sd**2)
    assert edm.c_skip(sigma, sd).item() == pytest.approx(sd**2 / r**2, rel=1e-6)
    assert edm.c_out(sigma, sd).item() == pytest.approx(sigma * sd / r, rel=1e-6)
    assert edm.c_in(sigma, sd).item() == pytest.approx(1 / r, rel=1e-6)
    assert edm.c_noise(sigma).item() == pytest.approx(math.log(sigma) / 4, rel=1e-6, abs=1e-7)
    assert edm.loss_weight(sigma, sd).item() == pytest.approx(r**2 / (sigma * sd) ** 2, rel=1e-5)
    # lambda * c_out^2 = 1: the effective training target of F has unit weight (EDM Eq. 8).
    assert (edm.loss_weight(sigma, sd) * edm.c_out(sigma, sd) ** 2).item() == pytest.approx(1.0, rel=1e-5)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x, c_noise):
        return self.lin(x.movedim(1, -1)).movedim(-1, 1) + c_noise.view(-1, 1, 1)


def test_denoiser_is_identity_as_sigma_goes_to_zero():
    torch.manual_seed(0)
    D = edm.EDMDenoiser(_Net())
    x = torch.randn(3, 4, 5)
    for sigma, tol in [(1e-3, 1e-2), (1e-5, 1e-4)]:
        out = D(x, torch.full((3,), sigma))
        torch.testing.assert_close(out, x, atol=tol, rtol=0)


def test_denoiser_formula_matches_hand_composition():
    torch.manual_seed(1)
    net = _Net()
    D = edm.EDMDenoiser(net)
    x = torch.randn(2, 4, 3)
    sigma = torch.tensor([0.3, 5.0])
    s = sigma.view(-1, 1, 1)
    expect = edm.c_skip(s) * x + edm.c_out(s) * net(edm.c_in(s) * x, edm.c_noise(sigma))
    torch.testing.assert_close(D(x, sigma), expect)


def test_loss_zero_for_perfect_denoiser_and_weighted_mse_for_zero_denoiser():
    cfg = edm.EDMConfig()
    y = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.1, 0.5, 2.0, 10.0])
    perfect = edm.denoising_loss(lambda x, s: y, y, cfg, sigma=sigma)
    assert perfect.item() == 0.0
    zero = edm.denoising_loss(lambda x, s: torch.zeros_like(x), y, cfg, sigma=sigma)
    expect = (edm.loss_weight(sigma).view(-1, 1, 1) * y**2).mean()
    torch.testing.assert_close(zero, expect)
    # A mask selects what counts: only the second half of the last axis.
    mask = torch.tensor([0.0, 1.0]).view(1, 1, 2)
    masked = edm.denoising_loss(lambda x, s: torch.zeros_like(x), y, cfg, sigma=sigma, mask=mask)
    torch.testing.assert_close(masked, (edm.loss_weight(sigma).view(-1, 1, 1) * y**2)[..., 1].mean())


def test_training_sigma_is_log_normal():
    cfg = edm.EDMConfig(P_mean=-0.5, P_std=1.3)
    s = edm.sample_training_sigma(200_000, cfg, generator=torch.Generator().manual_seed(0))
    assert s.log().mean().item() == pytest.approx(-0.5, abs=0.01)
    assert s.log().std().item() == pytest.approx(1.3, abs=0.01)


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="sigma_data"):
        edm.EDMConfig(sigma_data=0.0)
    with pytest.raises(ConfigError, match="sigma_min"):
        edm.EDMConfig(sigma_min=100.0)
