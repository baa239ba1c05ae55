"""Adversarial stage: hinge losses against their formulas, the 3D PatchGAN's shapes, the objective
with the flag on (the discriminator learns; its state rides in Trainer checkpoints) and off."""

from __future__ import annotations

import pytest
import torch

from worldsmith.tokenizers.discriminator import (
    PatchDiscriminator3D,
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
)
from worldsmith.tokenizers.model import CausalTokenizer, TokenizerConfig
from worldsmith.tokenizers.objective import ObjectiveConfig, TokenizerObjective

TINY = TokenizerConfig(
    encoder_channels=(8, 8, 8, 8),
    decoder_channels=(8, 8, 8, 8),
    latent_channels=4,
    num_res_blocks=1,
    resolution=16,
    attention_resolutions=(),
    temporal_compression=4,
    spatial_compression=8,
)


def test_hinge_losses_match_formulas():
    real = torch.tensor([2.0, 0.5, -1.0, 0.0])
    fake = torch.tensor([-2.0, -0.5, 1.0, 0.25])
    # L_D = mean(max(0, 1 - r)) + mean(max(0, 1 + f)) by hand
    d = (0 + 0.5 + 2.0 + 1.0) / 4 + (0 + 0.5 + 2.0 + 1.25) / 4
    assert hinge_d_loss(real, fake).item() == pytest.approx(d)
    assert hinge_g_loss(fake).item() == pytest.approx(-(-2.0 - 0.5 + 1.0 + 0.25) / 4)
    # a confident, correct discriminator (margin >= 1) has zero loss
    assert hinge_d_loss(torch.full((3,), 1.5), torch.full((3,), -1.0)).item() == 0.0


@pytest.mark.parametrize("norm", ["group", "spectral"])
def test_discriminator_shapes_video_and_image(norm):
    torch.manual_seed(0)
    disc = PatchDiscriminator3D(3, channels=8, layers=3, norm=norm)
    video = disc(torch.randn(2, 3, 17, 64, 48))
    # T: 17 -> 9 -> 5 (two temporal halvings); H: 64 / 8 - 2 = 6; W: 48 / 8 - 2 = 4
    assert video.shape == (2, 1, 5, 6, 4)
    assert disc.output_shape(17, 64, 48) == (5, 6, 4)
    image = disc(torch.randn(2, 3, 32, 32))  # an image is a one-frame clip
    assert image.shape == (2, 1, 1, 2, 2) and disc.output_shape(1, 32, 32) == (1, 2, 2)
    assert torch.isfinite(video).all()


def test_discriminator_is_not_causal_but_local():
    # patch logits see neighbouring frames on both sides, but not the far end of the clip
    # (spectral norm: GroupNorm's statistics would span the whole clip)
    torch.manual_seed(0)
    disc = PatchDiscriminator3D(3, channels=8, layers=2, norm="spectral").eval()
    x = torch.randn(1, 3, 33, 32, 32)
    y = disc(x)
    x2 = x.clone()
    x2[:, :, -1] += 1.0
    y2 = disc(x2)
    assert torch.equal(y[:, :, 0], y2[:, :, 0]) and not torch.equal(y[:, :, -1], y2[:, :, -1])
    x3 = x.clone()
    x3[:, :, 1] += 1.0  # a later frame changes the first patch row: not causal
    assert not torch.equal(disc(x3)[:, :, 0], y[:, :, 0])


def test_adaptive_weight_is_gradient_norm_ratio():
    w = torch.randn(4, 3, requires_grad=True)
    x = torch.randn(5, 4)
    out = x @ w
    rec, g = out.abs().mean(), -(out * 2).mean()
    gw_rec = torch.autograd.grad(rec, w, retain_graph=True)[0]
    gw_g = torch.autograd.grad(g, w, retain_graph=True)[0]
    expected = gw_rec.norm() / (gw_g.norm() + 1e-4)
    torch.testing.assert_close(adaptive_weight(rec, g, w), expected)


def test_discriminator_overfits_a_fixed_batch():
    torch.manual_seed(0)
    objective = TokenizerObjective(
        ObjectiveConfig(stage=2, adversarial_weight=0.1, disc_channels=8, disc_layers=1, disc_lr=2e-3)
    )
    real = torch.rand(2, 3, 3, 16, 16) * 2 - 1
    fake = torch.zeros_like(real)  # a blurry "reconstruction"
    losses = [objective.discriminator_step(real, fake).item() for _ in range(30)]
    assert losses[0] > 1.5  # ~2 at random init
    assert losses[-1] < 0.25 * losses[0]


def test_flag_off_is_unchanged_and_flag_on_adds_terms():
    torch.manual_seed(0)
    model = CausalTokenizer(TINY)
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    plain = TokenizerObjective(ObjectiveConfig(stage=2))
    assert plain.discriminator is None and plain.state_dict() == {}
    loss_off, m_off = plain(model, x)
    # the stage-2 loss of before: L1 + temporal, no adversarial terms
    x_hat, _ = model(x)
    l1 = (x_hat - x).abs().mean()
    tc = (x_hat.diff(dim=2) - x.diff(dim=2)).abs().mean()
    torch.testing.assert_close(loss_off, l1 + tc)
    assert "g_loss" not in m_off and "d_loss" not in m_off

    adv = TokenizerObjective(
        ObjectiveConfig(stage=2, adversarial_weight=0.5, adversarial_start=1, disc_channels=8, disc_layers=1)
    )
    loss0, m0 = adv(model, x)  # call 0 < start: no adversarial term yet
    torch.testing.assert_close(loss0, loss_off)
    assert "g_loss" not in m0
    before = [p.detach().clone() for p in adv.discriminator.parameters()]
    loss1, m1 = adv(model, x)
    torch.testing.assert_close(loss1, loss_off + 0.5 * m1["g_loss"], rtol=1e-5, atol=1e-6)
    assert "d_loss" in m1
    assert any(not torch.equal(a, b) for a, b in zip(before, adv.discriminator.parameters(), strict=True))
    # the generator loss trains the tokenizer only: no gradient lands on the discriminator
    model.zero_grad()
    loss1.backward()
    assert all(p.grad is None for p in adv.discriminator.parameters())
    assert model.decoder.conv_out.conv_t.weight.grad is not None

    cfg = ObjectiveConfig(
        stage=2, adversarial_weight=0.5, adaptive_weight=True, disc_channels=8, disc_layers=1
    )
    loss2, m2 = TokenizerObjective(cfg)(model, x)
    aw = m2["adaptive_weight"]
    assert aw > 0
    torch.testing.assert_close(loss2, loss_off + 0.5 * aw * m2["g_loss"], rtol=1e-5, atol=1e-6)


def test_adversarial_needs_stage_2():
    with pytest.raises(ValueError, match="stage 2"):
        ObjectiveConfig(stage=1, adversarial_weight=0.1)


def test_discriminator_state_resumes_through_trainer_checkpoints(tmp_path):
    from worldsmith.train import TrainConfig, Trainer

    torch.manual_seed(0)
    data = [torch.rand(3, 5, 16, 16) * 2 - 1 for _ in range(4)]
    cfg = ObjectiveConfig(stage=2, adversarial_weight=0.1, disc_channels=8, disc_layers=1)
    train_cfg = TrainConfig(steps=2, batch_size=2, lr=1e-3, tensorboard=False, log_every=1, device="cpu")
    objective = TokenizerObjective(cfg)
    trainer = Trainer(train_cfg, CausalTokenizer(TINY), objective, data, out=tmp_path)
    trainer.fit()
    assert objective.calls == 2
    saved_w = {k: v.clone() for k, v in objective.discriminator.state_dict().items()}
    saved_opt = objective.disc_optimizer.state_dict()["state"]
    assert saved_opt and all(int(s["step"]) == 2 for s in saved_opt.values())

    fresh = TokenizerObjective(cfg)
    trainer2 = Trainer(train_cfg, CausalTokenizer(TINY), fresh, data, out=tmp_path)
    trainer2.load_checkpoint(tmp_path / "checkpoints" / "latest")
    assert fresh.calls == 2
    for k, v in fresh.discriminator.state_dict().items():
        torch.testing.assert_close(v, saved_w[k])
    loaded_opt = fresh.disc_optimizer.state_dict()["state"]
    for i, s in saved_opt.items():
        torch.testing.assert_close(loaded_opt[i]["exp_avg"], s["exp_avg"])
        torch.testing.assert_close(loaded_opt[i]["exp_avg_sq"], s["exp_avg_sq"])
