"""LPIPS against its formula, written out layer by layer, on weights saved as torchvision saves them."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worldsmith.errors import CheckpointError
from worldsmith.eval.lpips import LPIPS, default_linear_weights


@pytest.fixture(scope="module")
def alex_files(tmp_path_factory):
    """A random AlexNet `features` (+ a classifier layer, as torchvision's file has) and lin weights."""
    tmp = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    feats = LPIPS("alex").features.state_dict()
    state = {f"features.{k}": torch.randn_like(v) * 0.05 for k, v in feats.items()}
    state["classifier.1.weight"] = torch.randn(8, 4)
    torch.save(state, tmp / "alexnet-owt-test.pth")
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(lins, tmp / "alex-lin.pth")
    return tmp / "alexnet-owt-test.pth", tmp / "alex-lin.pth", state, lins


def _by_hand(a, b, state, lins):
    """LPIPS v0.1 for AlexNet: scale, five conv+ReLU taps, unit-normalise, weight, average, sum."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    convs = [(0, 4, 2), (3, 1, 2), (6, 1, 1), (8, 1, 1), (10, 1, 1)]  # (index, stride, padding)
    xs = [(a - shift) / scale, (b - shift) / scale]
    total = torch.zeros(a.shape[0])
    for tap, (i, stride, pad) in enumerate(convs):
        feats = []
        for n, x in enumerate(xs):
            if tap in (1, 2):
                x = F.max_pool2d(x, 3, 2)
            x = F.relu(F.conv2d(x, state[f"features.{i}.weight"], state[f"features.{i}.bias"], stride, pad))
            xs[n] = x
            feats.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
        w = lins[f"lin{tap}.model.1.weight"][0, :, 0, 0]
        d = ((feats[0] - feats[1]) ** 2 * w.view(1, -1, 1, 1)).sum(1)
        total += d.mean((1, 2))
    return total


def test_matches_formula(alex_files):
    backbone, lin, state, lins = alex_files
    model = LPIPS.from_files(backbone, net="alex", linear=lin)
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 3, 72, 96, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    ours = model(a, b)
    assert torch.allclose(ours, _by_hand(a, b, state, lins), rtol=1e-4, atol=1e-6)
    assert torch.allclose(ours, model(b, a), rtol=1e-5)  # symmetric
    assert torch.allclose(torch.stack(model.layer_distances(a, b)).sum(0), ours)
    assert model(a, a).abs().max() < 1e-6 and (ours > 0).all()


def test_grows_with_distortion_on_a_real_photo(alex_files):
    skimage_data = pytest.importorskip("skimage.data")
    backbone, lin, _, _ = alex_files
    model = LPIPS.from_files(backbone, linear=lin)
    img = skimage_data.astronaut()[::4, ::4]  # [128, 128, 3]
    rng = np.random.default_rng(0)
    noisy = [np.clip(img + rng.normal(0, s, img.shape), 0, 255).astype(np.uint8) for s in (5, 20, 60)]
    d = [float(model.video(n[None], img[None])[0]) for n in noisy]
    assert d[0] < d[1] < d[2]


def test_shipped_linear_calibration_loads(alex_files):
    if importlib.util.find_spec("lpips") is None:  # not imported: it needs torchvision
        pytest.skip("the lpips wheel (its lin weights) is not installed")
    backbone, _, _, _ = alex_files
    path = default_linear_weights("alex")
    model = LPIPS.from_files(backbone, net="alex")
    assert path.name == "alex.pth" and all((p >= 0).all() for p in model.lins)  # calibrated weights are >= 0
    assert all(p.abs().sum() > 0 for p in model.lins)


def test_wrong_files_are_named(alex_files, tmp_path):
    backbone, lin, _, _ = alex_files
    with pytest.raises(CheckpointError, match="vgg16"):
        LPIPS.from_files(backbone, net="vgg", linear=lin)  # AlexNet weights given for VGG
    with pytest.raises(CheckpointError, match="does not exist"):
        LPIPS.from_files(tmp_path / "nope.pth", linear=lin)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        LPIPS.from_files(bad, linear=lin)
