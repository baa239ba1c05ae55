"""Camera conditioning: Plücker rays against their formula, the time layout, step 0 = the base (also
under guidance), channel concatenation = the added tokens, bad paths, and an overfit through the
Trainer that reads the camera."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from einops import rearrange
from posttrain_helpers import CFG, inputs, randomized  # noqa: E402  (tests/posttrain, see conftest)

from worldsmith.diffusion.conditioning import video2world_denoise
from worldsmith.diffusion.dit import DiT
from worldsmith.diffusion.edm import EDMConfig
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import ObjectiveConfig
from worldsmith.posttrain.camera import (
    CameraDiT,
    CameraError,
    CameraObjective,
    camera_rays,
    check_path,
    latent_frame_indices,
    motion_magnitude,
    plucker,
    relative_to_first,
)
from worldsmith.posttrain.lora import LoRAConfig, add_lora
from worldsmith.train import TrainConfig, Trainer

K0 = torch.tensor([[50.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]], dtype=torch.float64)


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def w2c(R: np.ndarray, centre) -> torch.Tensor:
    E = np.eye(4)
    E[:3, :3], E[:3, 3] = R, -R @ np.asarray(centre, float)
    return torch.from_numpy(E)


def test_plucker_rays_pass_through_the_pixels_they_belong_to():
    """For a known camera: each ray's points project back onto its (cell-centre) pixel, d is unit,
    the moment is orthogonal to d and the same for any point of the line (p x d = o x d)."""
    centre = np.array([0.3, -1.2, 2.0])
    E = w2c(rot_y(20) @ rot_z(35), centre)
    rays = plucker(K0, E, 48, 64, stride=8).double()  # [6, 6, 8]
    assert rays.shape == (6, 6, 8)
    d, m = rays[:3].reshape(3, -1).T, rays[3:].reshape(3, -1).T  # [48, 3] each
    assert torch.allclose(d.norm(dim=1), torch.ones(48, dtype=torch.float64), atol=1e-6)
    assert (d * m).sum(1).abs().max() < 1e-5
    for lam in (0.5, 3.0):
        p = torch.from_numpy(centre) + lam * d  # points on the rays
        assert torch.allclose(torch.cross(p, d, dim=1), m, atol=1e-5)
        cam = (E[:3, :3] @ p.T).T + E[:3, 3]
        uvw = (K0 @ cam.T).T
        uv = uvw[:, :2] / uvw[:, 2:]
        i, j = np.divmod(np.arange(48), 8)
        expect = torch.from_numpy(np.stack([8 * j + 3.5, 8 * i + 3.5], 1))
        assert torch.allclose(uv, expect, atol=1e-4)
        assert (uvw[:, 2] > 0).all()  # in front of the camera


def test_identity_camera_has_zero_moment_and_the_principal_ray_is_the_axis():
    rays = plucker(K0, torch.eye(4, dtype=torch.float64), 48, 64)
    assert rays[3:].abs().max() == 0
    # Pixel (31.5, 23.5) is the principal point: halfway between pixels (31, 23) and (32, 24).
    d = (rays[:3, 23, 31] + rays[:3, 24, 32]) / 2
    assert torch.allclose(d / d.norm(), torch.tensor([0.0, 0, 1]), atol=1e-3)


def test_poses_are_relative_to_the_first_frame_and_latent_frames_take_their_last_frame():
    E = torch.stack([w2c(rot_z(10 * i), [i, 0, 0]) for i in range(5)])
    moved = E @ torch.linalg.inv(w2c(rot_y(30), [5, 2, 1]))  # the same path in another world frame
    assert torch.allclose(relative_to_first(E), relative_to_first(moved), atol=1e-9)
    assert torch.equal(relative_to_first(E)[0], torch.eye(4, dtype=E.dtype))
    assert latent_frame_indices(3, 2) == [0, 2, 4]
    K = K0.expand(1, 5, 3, 3)
    rays = camera_rays(K, E[None], 3, 2, (48, 64), 8)  # [1, 6, 3, 6, 8]
    assert rays.shape == (1, 6, 3, 6, 8)
    assert torch.allclose(rays[0, :, 1], plucker(K0, relative_to_first(E)[2], 48, 64, 8), atol=1e-6)


def test_motion_magnitude_of_a_known_path():
    E = np.stack([w2c(rot_z(3 * i), [0.5 * i, 0, 0]).numpy() for i in range(4)])
    deg, length = motion_magnitude(E)
    assert deg == pytest.approx(9.0) and length == pytest.approx(1.5)


def test_bad_paths_name_the_problem_and_the_fix():
    E = torch.stack([w2c(rot_z(i), [0, 0, i]) for i in range(5)])
    K = K0.expand(5, 3, 3)
    check_path(K, E, 5, (48, 64), "p.json")
    with pytest.raises(CameraError, match="p.json: 4 poses for a clip of 5 frames"):
        check_path(K[:4], E[:4], 5, (48, 64), "p.json")
    bad = E.clone()
    bad[2, :3, :3] *= 1.1
    with pytest.raises(CameraError, match="rotation of frame 2 is not orthonormal"):
        check_path(K, bad, 5, (48, 64), "p.json")
    bad = E.clone()
    bad[3, :3, :3] = -bad[3, :3, :3]  # a reflection: orthogonal, det -1
    with pytest.raises(CameraError, match="frame 3"):
        check_path(K, bad, 5, (48, 64), "p.json")
    with pytest.raises(CameraError, match="do not fit a 32x24 video; give K for the video's size"):
        check_path(K, E, 5, (24, 32), "p.json")


def _inputs(B: int = 2, T: int = 3):
    x, c, text = inputs(B, T)
    return x, c, text, torch.randn(B, 6, T, 4, 4, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_step_zero_reproduces_the_base_exactly(lora):
    base = randomized()
    x, c, text, rays = _inputs()
    with torch.no_grad():
        expect = base(x, c, text)
    net = CameraDiT(base)
    if lora:
        add_lora(net.base, LoRAConfig(rank=4))
    with torch.no_grad():
        assert torch.equal(net(x, c, text, plucker=rays), expect)
        shape = (2, 4, 3, 4, 4)
        a = sample_latents(base, shape, steps=3, generator=torch.Generator().manual_seed(0))
        b = sample_latents(net, shape, steps=3, guidance=3.0, generator=torch.Generator().manual_seed(0),
                           cond_kwargs={"plucker": rays})  # fmt: skip
        assert torch.equal(a, b)


def test_added_tokens_equal_concatenated_channels_in_the_patch_embedding():
    """A DiT whose patch embedding takes 6 more channels (weights = [W_base | W_cam]) gives the same
    output as CameraDiT: the camera really is concatenated on channels."""
    base = randomized()
    net = CameraDiT(base)
    torch.nn.init.normal_(net.camera.weight, std=0.3)
    x, c, text, rays = _inputs()
    with torch.no_grad():
        got = net(x, c, text, plucker=rays)
        # Input channel order of the base: latents, condition mask, padding mask; each patch (c, ph, pw).
        wide = DiT(CFG).eval()
        wide.load_state_dict(base.state_dict())
        pe = torch.nn.Linear(base.patch_embed.in_features + net.camera.in_features, CFG.dim, bias=False)
        pe.weight.copy_(torch.cat([base.patch_embed.weight, net.camera.weight], 1))
        C_in = CFG.in_channels

        class Wide(torch.nn.Module):  # the base's input patches [B, L, C_in*4] + the camera patches
            def forward(self, inp):
                cam = rearrange(rays, "b c t (h ph) (w pw) -> b (t h w) (c ph pw)", ph=2, pw=2)
                return pe(torch.cat([inp, cam], -1))

        assert base.patch_embed.in_features == C_in * 4
        wide.patch_embed = Wide()
        expect = wide(x, c, text)
    assert torch.allclose(got, expect, atol=1e-5)
    keep = torch.tensor([1.0, 0.0])
    with torch.no_grad():
        dropped = net(x, c, text, plucker=rays, camera_keep=keep)
        assert torch.allclose(dropped[1], base(x, c, text)[1], atol=1e-6)
        assert torch.allclose(dropped[0], got[0], atol=1e-6)


def _data(n: int = 4, T: int = 3):
    """Latent frames after the first that depend on the rays: a model must read them to fit."""
    g = torch.Generator().manual_seed(0)
    rays = torch.randn(n, 6, T, 4, 4, generator=g)
    lat = torch.randn(n, 4, 1, 4, 4, generator=g).expand(n, 4, T, 4, 4).clone() * 0.3
    lat[:, :, 1:] += rays[:, :4, 1:]
    return [{"latents": lat[i], "plucker": rays[i]} for i in range(n)]


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_post_training_fits_by_reading_the_camera(tmp_path, lora):
    net = CameraDiT(randomized())
    if lora:
        add_lora(net.base, LoRAConfig(rank=4))
    cfg = TrainConfig(steps=150, batch_size=4, lr=3e-3, log_every=1, tensorboard=False, seed=0)
    # Noise levels in a band where the rays, not the noisy latents, tell the answer.
    obj = CameraObjective(ObjectiveConfig(edm=EDMConfig(P_mean=0.5, P_std=0.2)), camera_dropout=0.0)
    Trainer(cfg, net, obj, _data(), out=tmp_path).fit()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    data = _data()
    y, r = torch.stack([d["latents"] for d in data]), torch.stack([d["plucker"] for d in data])
    x = y + 1.6 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    net.eval()
    kw = dict(cfg=EDMConfig(), cond_latents=y, n_cond=1, text=torch.zeros(len(y), 1, CFG.text_dim))
    with torch.no_grad():
        err = [
            (video2world_denoise(net, x, 1.6, plucker=rays, **kw) - y)[:, :, 1:].pow(2).mean()
            for rays in (r, r.roll(1, 0))
        ]
    assert err[0] < 0.7 * err[1], err  # measured 0.64 (LoRA rank 4), lower with full fine-tuning


def test_objective_drops_the_camera_at_its_rate():
    obj = CameraObjective(camera_dropout=0.3, generator=torch.Generator().manual_seed(0))
    keep = obj.condition({"plucker": torch.zeros(4000, 1)}, 4000, "cpu")["camera_keep"]
    assert abs(1 - keep.mean().item() - 0.3) < 0.03
    with pytest.raises(CameraError, match="no 'plucker'"):
        obj.condition({}, 2, "cpu")
