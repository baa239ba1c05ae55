"""Per-token action injection and motion-weighted loss (step 0 = the base: test_action.py): the
position features and the weights by formula, a checkpoint round trip, and an overfit test that the
trained model puts the moving thing where the actions say."""

from __future__ import annotations

import math

import pytest
import torch
from posttrain_helpers import CFG, inputs, randomized  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.config import ConfigError
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.diffusion.world import WorldModel, WorldSpec
from worldsmith.posttrain.action import (
    ActionConfig,
    ActionDiT,
    ActionObjective,
    motion_weight,
    position_features,
)
from worldsmith.posttrain.world import load_action_world, save_action_world
from worldsmith.train import TrainConfig, Trainer


def test_inject_choices():
    assert not hasattr(ActionDiT(randomized(), ActionConfig(action_dim=1, inject="tokens")).action, "to_emb")
    assert hasattr(ActionDiT(randomized(), ActionConfig(action_dim=1, inject="both")).action, "to_tokens")
    with pytest.raises(ConfigError, match="inject"):
        ActionConfig(action_dim=3, inject="film")


def test_position_features_by_formula():
    f = position_features(3, 2, 2)  # y in {-1, 0, 1}, x in {-1, 1}, frequencies pi/2 and pi
    assert f.shape == (6, 8)
    y, x = torch.tensor([-1.0, -1, 0, 0, 1, 1]), torch.tensor([-1.0, 1, -1, 1, -1, 1])  # row-major
    w = torch.tensor([math.pi / 2, math.pi])
    expect = torch.cat([torch.sin(y[:, None] * w), torch.cos(y[:, None] * w),
                        torch.sin(x[:, None] * w), torch.cos(x[:, None] * w)], 1)  # fmt: skip
    torch.testing.assert_close(f, expect)


def test_motion_weight_by_formula():
    y = torch.zeros(2, 3, 3, 2, 2)  # [B, C, T, H, W]
    y[0, :, 2, 0, 1] = 2.0  # sample 0: one latent position changes in frame 2 (by 2 in every channel)
    w = motion_weight(y, torch.tensor([1, 1]), strength=3.0)
    assert w.shape == (2, 1, 3, 2, 2)
    # m = 4 at that position, mean over the 8 generated positions = 0.5 -> 1 + 3 * 4 / 0.5 = 25
    assert w[0, 0, 2, 0, 1] == pytest.approx(25.0)
    assert torch.equal(w[1], torch.ones(1, 3, 2, 2))  # a static sample: uniform
    rest = torch.ones_like(w[0], dtype=torch.bool)
    rest[0, 2, 0, 1] = False
    assert torch.equal(w[0][rest], torch.ones(int(rest.sum())))


def test_checkpoint_round_trip_with_token_injection(tmp_path):
    net = ActionDiT(randomized(), ActionConfig(action_dim=2, frames_per_latent=2, inject="both"))
    with torch.no_grad():
        for p in net.action.parameters():
            p.normal_(0, 0.1)
    x, c, text = inputs()
    actions = torch.randn(2, 4, 2)
    with torch.no_grad():
        expect = net(x, c, text, actions=actions)
        assert not torch.allclose(expect, net(x, c, text, actions=actions.flip(1)))
    spec = WorldSpec(latent_mean=(0.0,) * 4, latent_std=(1.0,) * 4, latent_size=(3, 4, 4))
    save_action_world(WorldModel(net.base, spec), net, tmp_path / "m", lora=None)
    _, loaded = load_action_world(tmp_path / "m")
    assert loaded.action_cfg.inject == "both"
    with torch.no_grad():
        assert torch.equal(loaded(x, c, text, actions=actions), expect)
    assert isinstance(loaded.base, DiT)


def _blob_data(n: int = 8, T: int = 3, H: int = 8):
    """A blob (channel 0) at column 1 of every latent frame whose 2 actions sum > 0, else at column 6;
    frame 0 has it in the middle. The given frame does not tell where it goes: the actions do."""
    g = torch.Generator().manual_seed(0)
    actions = torch.randn(n, 2 * (T - 1), 1, generator=g)
    lat = torch.zeros(n, 4, T, H, H)
    lat[:, 0, 0, 3:5, 3:5] = 2.0
    right = actions.view(n, T - 1, 2).sum(-1) > 0  # [n, T-1]
    for i in range(n):
        for j in range(1, T):
            col = 6 if right[i, j - 1] else 1
            lat[i, 0, j, 3:5, col - 1 : col + 1] = 2.0
    return [{"latents": lat[i], "actions": actions[i]} for i in range(n)]


def _column(x: torch.Tensor) -> torch.Tensor:
    """Centroid column of channel 0's values above 1 (the blob is 2, the background 0) per sample
    over the generated frames."""
    m = (x[:, 0, 1:] > 1.0).to(x.dtype)  # [B, T-1, H, W]
    cols = torch.arange(m.shape[-1], dtype=m.dtype)
    return (m.sum((1, 2)) * cols).sum(-1) / m.sum((1, 2, 3)).clamp_min(1e-6)


def test_trained_model_moves_the_blob_where_the_actions_say(tmp_path, inject="both"):
    """Overfit one batch with motion weighting; then sample from the given frame under two action
    sequences (all right, all left): the blob's centroid lands right of the middle under the first
    and left of it under the second."""
    torch.manual_seed(0)
    net = ActionDiT(DiT(CFG), ActionConfig(action_dim=1, frames_per_latent=2, inject=inject))
    cfg = TrainConfig(steps=200, batch_size=8, lr=3e-3, log_every=50, tensorboard=False, seed=0)
    noise = ObjectiveConfig(edm=EDMConfig(P_mean=0.0, P_std=1.0), max_cond_frames=1, p_text2world=0.0)
    obj = ActionObjective(noise, action_dropout=0.0, motion_weight=4.0)
    data = _blob_data()
    Trainer(cfg, net, obj, data, out=tmp_path).fit()
    net.eval()
    given = torch.stack([d["latents"] for d in data[:2]])[:, :, :1]  # [2, 4, 1, 8, 8]
    acts = torch.stack([torch.ones(4, 1), -torch.ones(4, 1)])  # right, left
    with torch.no_grad():
        x = sample_latents(net, (2, 4, 3, 8, 8), cond_latents=given, n_cond=1, steps=8,
                           noise_cfg=EDMConfig(), generator=torch.Generator().manual_seed(0),
                           cond_kwargs={"actions": acts})  # fmt: skip
    right, left = _column(x).tolist()
    assert right > 4.5 and left < 2.5, (right, left)
