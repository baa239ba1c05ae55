"""Multi-view model: V = 1 with zero-initialised extras is the base; two identical views equal the base
(joint attention over duplicated keys, per-view RoPE); swapping views swaps outputs (per-view
positions, no order leak); captions are per view; an overfit through the Trainer that reads the
trajectory; the tiled layout round trip; bad trajectories."""

from __future__ import annotations

import json

import pytest
import torch
from posttrain_helpers import CFG, inputs, randomized  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.diffusion.conditioning import video2world_denoise
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.posttrain.lora import LoRAConfig, add_lora
from worldsmith.posttrain.multiview import (
    MultiViewConfig,
    MultiViewDiT,
    MultiViewObjective,
    RigError,
    tile_views,
    trajectory_points_for,
    untile_views,
)
from worldsmith.train import TrainConfig, Trainer


def _net(views: int = 2, points: int = 4, seed: int = 0) -> MultiViewDiT:
    cams = ("front", "back", "left", "right")[:views]
    return MultiViewDiT(randomized(seed), MultiViewConfig(cameras=cams, trajectory_points=points)).eval()


def _traj(B: int = 2, n: int = 4) -> torch.Tensor:
    return torch.randn(B, n, 3, generator=torch.Generator().manual_seed(5)) * 5


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_one_view_at_step_zero_is_the_base(lora):
    net = _net(views=1)
    x, c, text = inputs()
    mask = torch.zeros(2, 1, 3, 4, 4)
    mask[:, :, :1] = 1
    with torch.no_grad():
        expect = net.base(x, c, text, condition_mask=mask)
        if lora:
            add_lora(net.base, LoRAConfig(rank=4))
        got = net(x, c, text, condition_mask=mask, trajectory=_traj())
    torch.testing.assert_close(got, expect, rtol=1e-5, atol=1e-6)


def test_per_frame_noise_levels_match_the_base():
    net = _net(views=1)
    x, _, text = inputs()
    c = torch.rand(2, 3, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(net(x, c, text), net.base(x, c, text), rtol=1e-5, atol=1e-6)


def test_two_identical_views_equal_the_base():
    """Joint attention over a duplicated key set is attention over one copy, and per-view RoPE gives
    both copies the same positions: every view's output is the single-view output."""
    net = _net(views=2)
    x, c, text = inputs()
    with torch.no_grad():
        expect = net.base(x, c, text)
        rig = tile_views(torch.stack([x, x], 1))  # [B, C, T, H, 2W]
        got = untile_views(net(rig, c, torch.cat([text, text], 1)), 2)  # [B, 2, C, T, H, W]
    torch.testing.assert_close(got[:, 0], expect, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[:, 1], expect, rtol=1e-5, atol=1e-5)


def test_swapping_views_swaps_the_outputs_and_attention_is_joint():
    net = _net(views=2)
    torch.nn.init.normal_(net.multiview.view_proj.weight, std=0.3)
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2, 4, 3, 4, 4, generator=g), torch.randn(2, 4, 3, 4, 4, generator=g)
    ta, tb = torch.randn(2, 2, 8, generator=g), torch.randn(2, 2, 8, generator=g)
    c = torch.rand(2, generator=g)
    with torch.no_grad():
        out = untile_views(net(tile_views(torch.stack([a, b], 1)), c, torch.cat([ta, tb], 1)), 2)
        net.multiview.view_table.copy_(net.multiview.view_table.flip(0))
        swapped = untile_views(net(tile_views(torch.stack([b, a], 1)), c, torch.cat([tb, ta], 1)), 2)
        alone = net.base(a, c, ta)
    torch.testing.assert_close(swapped.flip(1), out, rtol=1e-5, atol=1e-5)
    assert (out[:, 0] - alone).abs().max() > 1e-3  # view a sees view b: not the independent model


def test_each_view_reads_only_its_own_caption():
    """In one block self-attention comes before cross-attention: view 0's output cannot depend on
    view 1's caption unless cross-attention leaks across views."""
    base = randomized()
    base.blocks = base.blocks[:1]
    net = MultiViewDiT(base, MultiViewConfig(cameras=("a", "b"), trajectory_points=0)).eval()
    x, c, text = inputs()
    rig = tile_views(torch.stack([x, x.flip(0)], 1))
    other = torch.randn(2, 2, 8)
    with torch.no_grad():
        one = untile_views(net(rig, c, torch.cat([text, text], 1)), 2)
        two = untile_views(net(rig, c, torch.cat([text, other], 1)), 2)
    torch.testing.assert_close(one[:, 0], two[:, 0], rtol=0, atol=1e-6)
    assert (one[:, 1] - two[:, 1]).abs().max() > 1e-3


def _data(n: int = 4, V: int = 2, T: int = 3, points: int = 4):
    """Rigs whose future latent frames are a function of the trajectory: a model must read it."""
    g = torch.Generator().manual_seed(0)
    traj = torch.randn(n, points, 3, generator=g) * 10
    lat = torch.randn(n, V, 4, 1, 4, 4, generator=g).expand(n, V, 4, T, 4, 4).clone() * 0.3
    shift = (traj[:, -1, 0] / 10).view(n, 1, 1, 1, 1)  # how far the ego went
    lat[:, 0, :, 1:] += shift  # the front view brightens with the distance, the back one darkens
    lat[:, 1, :, 1:] -= shift
    tiled = tile_views(lat)
    return [{"latents": tiled[i], "trajectory": traj[i]} for i in range(n)]


def test_post_training_fits_by_reading_the_trajectory(tmp_path):
    net = _net(views=2).train()
    cfg = TrainConfig(steps=120, batch_size=4, lr=3e-3, log_every=1, tensorboard=False, seed=0)
    obj = MultiViewObjective(ObjectiveConfig(edm=EDMConfig(P_mean=0.5, P_std=0.2)), trajectory_dropout=0.0)
    Trainer(cfg, net, obj, _data(), out=tmp_path).fit()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-10:]) < 0.3 * sum(losses[:10]), (losses[:10], losses[-10:])
    data = _data()
    y, tr = torch.stack([d["latents"] for d in data]), torch.stack([d["trajectory"] for d in data])
    x = y + 1.6 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    net.eval()
    kw = dict(cfg=EDMConfig(), cond_latents=y, n_cond=1, text=torch.zeros(len(y), 1, CFG.text_dim))
    with torch.no_grad():
        err = [
            (video2world_denoise(net, x, 1.6, trajectory=t, **kw) - y)[:, :, 1:].pow(2).mean()
            for t in (tr, tr.roll(1, 0))
        ]
    assert err[0] < 0.5 * err[1], err


def test_layout_round_trip_and_horizon():
    x = torch.randn(2, 3, 4, 5, 6, 7)
    assert tile_views(x).shape == (2, 4, 5, 6, 21)
    assert torch.equal(untile_views(tile_views(x), 3), x)
    assert trajectory_points_for(9, 10.0) == 8 and trajectory_points_for(17, 10.0, 0.5) == 4


def test_bad_trajectories_and_latents_name_the_problem():
    net = _net(views=2)
    x, c, text = inputs()
    rig = tile_views(torch.stack([x, x], 1))
    with pytest.raises(RigError, match="shorter than the model's horizon of 4 points"):
        net(rig, c, text, trajectory=_traj(n=3))
    with pytest.raises(RigError, match=r"x, y, z"):
        net(rig, c, text, trajectory=torch.zeros(2, 4, 2))
    with pytest.raises(RigError, match="not 2 tiled views"):
        net(torch.randn(2, 4, 3, 4, 6), c, text)
    obj = MultiViewObjective(trajectory_dropout=0.3, generator=torch.Generator().manual_seed(0))
    keep = obj.condition({"trajectory": torch.zeros(4000, 1)}, 4000, "cpu")["trajectory_keep"]
    assert abs(1 - keep.mean().item() - 0.3) < 0.03
