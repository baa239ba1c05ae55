"""Control post-training: repainted twins keep their controls, and an overfit through the Trainer
that must read the control (the frozen base cannot fit it; shuffled controls do worse)."""

from __future__ import annotations

import json

import torch
from posttrain_helpers import randomized  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.diffusion.conditioning import video2world_denoise
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.posttrain.control import ControlConfig, ControlDiT, ControlObjective
from worldsmith.posttrain.control_data import nearest_cover, randomise_appearance
from worldsmith.posttrain.controls import seg_video
from worldsmith.train import TrainConfig, Trainer


def test_randomise_appearance_repaints_segments_and_keeps_shading():
    ids = torch.zeros(2, 8, 8, dtype=torch.uint8)
    ids[:, 2:6, 2:6] = 1
    frames = torch.full((2, 8, 8, 3), 100, dtype=torch.uint8)
    frames[:, 2:6, 2:6] = torch.tensor([200, 40, 40], dtype=torch.uint8)
    frames[:, 2:6, 2] //= 2  # a shaded column inside the object
    g = torch.Generator().manual_seed(0)
    a, b = randomise_appearance(frames, ids, g), randomise_appearance(frames, ids, g)
    assert not torch.equal(a, b) and not torch.equal(a, frames)
    for look in (a, b):
        obj = look[:, 2:6, 3:6].reshape(-1, 3)
        assert (obj == obj[0]).all()  # one flat new colour per segment ...
        shade = look[:, 2:6, 2].float().mean(dim=(0, 1)) / obj[0].float()
        assert ((shade - 0.5).abs() < 0.05).all() or (obj[0] == 255).any()  # ... with its shading kept
        assert (look[:, :2] == look[0, 0, 0]).all()  # the background is one colour too
    assert torch.equal(seg_video(ids), seg_video(ids))  # the seg control does not depend on the look


def test_nearest_cover_crops_like_resize_center_crop():
    ids = torch.arange(4 * 6).reshape(1, 4, 6)
    out = nearest_cover(ids, (4, 4))  # scale 1, crop the centre columns 1..4
    assert torch.equal(out, ids[:, :, 1:5])
    assert nearest_cover(ids, (8, 8)).unique().numel() <= ids.numel()  # never blends ids


def _data(n: int = 4, T: int = 3):
    """Latents that are a function of the edge control: a model must read it to fit."""
    g = torch.Generator().manual_seed(0)
    ctrl = torch.randn(n, 4, T, 4, 4, generator=g)
    return [{"latents": 0.8 * ctrl[i], "controls": {"edge": ctrl[i]}} for i in range(n)]


def _loss(net, data, *, shuffle: bool = False) -> float:
    y = torch.stack([d["latents"] for d in data])
    c = torch.stack([d["controls"]["edge"] for d in data])
    c = c.roll(1, 0) if shuffle else c
    x = y + 1.6 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        D = video2world_denoise(net, x, torch.full((len(y),), 1.6), cfg=EDMConfig(), cond_latents=None,
                                n_cond=0, text=torch.zeros(len(y), 1, 8), controls={"edge": c})  # fmt: skip
    return float((D - y).square().mean())


def test_control_branches_overfit_one_batch_by_reading_the_control(tmp_path):
    base = randomized()
    net = ControlDiT(base, ControlConfig(controls=("edge",), blocks=1, cell=2))
    frozen = {k: v.clone() for k, v in base.state_dict().items()}
    before = _loss(net, _data())
    cfg = TrainConfig(steps=150, batch_size=4, lr=3e-3, log_every=1, tensorboard=False, seed=0)
    obj = ControlObjective(ObjectiveConfig(edm=EDMConfig(P_mean=0.5, P_std=0.2), max_cond_frames=0),
                           control_dropout=0.0)  # fmt: skip
    Trainer(cfg, net, obj, _data(), out=tmp_path).fit()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    net.eval()
    after, shuffled = _loss(net, _data()), _loss(net, _data(), shuffle=True)
    assert after < 0.4 * before and after < 0.5 * shuffled, (
        before,
        after,
        shuffled,
    )  # it fits by reading the control
    assert all(torch.equal(frozen[k], v) for k, v in base.state_dict().items())  # the base stayed frozen


def test_posttrain_control_recipe_then_transfer(tmp_path):
    from posttrain_helpers import save_tiny_base

    from worldsmith.posttrain.control_recipes import (
        ControlPosttrainConfig,
        load_control_world,
        posttrain_control,
        transfer,
    )
    from worldsmith.posttrain.controls import depth_video
    from worldsmith.sim.dataset import DatasetConfig, load_episode, write_dataset

    save_tiny_base(tmp_path / "base", perturb=0.05)
    write_dataset(DatasetConfig(scenarios=("collision",), episodes=1, frames=9, size=32), tmp_path / "eps")
    cfg = ControlPosttrainConfig(controls=("depth", "edge"), blocks=1, appearances=2)
    res = posttrain_control(tmp_path / "base", tmp_path / "eps", tmp_path / "pt", config=cfg,
                            train={"steps": 3, "lr": 1e-2})  # fmt: skip
    assert res["clips"] == 2 and res["trainable_params"] < res["total_params"]
    world, net = load_control_world(tmp_path / "pt" / "model")
    assert tuple(net.control) == ("depth", "edge")
    assert net.control["depth"].after_proj[0].weight.abs().sum() > 0  # trained away from zero
    depth = depth_video(load_episode(tmp_path / "eps" / "episode_000000").depth[0])[None]  # [1, 9, 32, 32, 3]
    a = transfer(world, net, {"depth": depth}, steps=2, seed=0)
    b = transfer(world, net, {"depth": depth}, {"depth": 0.0 + 1e-3}, steps=2, seed=0)
    assert a.shape == (1, 9, 32, 32, 3) and a.dtype == torch.uint8 and not torch.equal(a, b)


def test_object_box_is_the_square_around_every_object_kept_in_the_frame():
    from worldsmith.posttrain.control_data import object_box

    m = torch.zeros(2, 40, 60, dtype=torch.uint8)
    m[0, 10:14, 20:24], m[1, 16:20, 28:32] = 1, 2  # objects span rows 10..19, columns 20..31
    top, left, side = object_box(m, margin=0.25, min_side=4)
    assert side == 18 and (top, left) == (6, 17)  # 12 px wide + 2 * 3, centred on (15, 26)
    assert object_box(m, min_side=30)[2] == 30
    edge = torch.zeros(1, 40, 60, dtype=torch.uint8)
    edge[0, 0:4, 56:60] = 1
    assert object_box(edge, min_side=16) == (0, 44, 16)  # pushed back inside the frame
    assert object_box(torch.zeros(1, 8, 8, dtype=torch.uint8)) == (0, 0, 8)


def test_one_control_per_sample_keeps_exactly_one_present_control():
    B = 400
    present = {"edge": torch.ones(B), "seg": (torch.arange(B) % 2).float(), "depth": torch.zeros(B)}
    batch = {"controls": {n: torch.zeros(B, 1) for n in present}, "control_present": present}
    obj = ControlObjective(control_dropout=0.0, one_control=True, generator=torch.Generator().manual_seed(0))
    w = obj.condition(batch, B, "cpu")["control_weights"]
    assert torch.equal(w["edge"] + w["seg"] + w["depth"], torch.ones(B))  # exactly one each
    assert w["depth"].sum() == 0 and (w["seg"] <= present["seg"]).all()  # only present ones
    assert 0.35 < w["seg"][1::2].mean() < 0.65  # drawn uniformly among the present
    dropped = ControlObjective(
        control_dropout=0.5, one_control=True, generator=torch.Generator().manual_seed(1)
    )
    total = sum(dropped.condition(batch, B, "cpu")["control_weights"].values())
    assert 0.4 < (total == 0).float().mean() < 0.6  # all dropped (the base, for guidance) about half the time
    both = ControlObjective(control_dropout=0.0).condition(batch, B, "cpu")["control_weights"]
    assert torch.equal(both["seg"], present["seg"]) and torch.equal(both["edge"], torch.ones(B))
