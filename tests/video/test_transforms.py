from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from worldsmith.video import transforms as T


def test_model_layout_round_trip_exact():
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (3, 8, 10, 3), generator=gen, dtype=torch.uint8)
    x = T.to_model(frames)
    assert x.shape == (3, 3, 8, 10) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x[0, 1, 2, 3] == pytest.approx(frames[1, 2, 3, 0].item() / 127.5 - 1)
    torch.testing.assert_close(T.to_uint8(x), frames, rtol=0, atol=0)


def test_to_uint8_clamps():
    x = torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2).expand(3, 1, 1, 2)
    assert T.to_uint8(x).flatten().tolist() == [0, 0, 0, 255, 255, 255]


def test_layout_errors():
    with pytest.raises(ValueError, match="uint8"):
        T.to_model(torch.zeros(2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\[3, T, H, W\]"):
        T.to_uint8(torch.zeros(4, 4, 4, 3))


def test_resize_matches_pillow_on_real_photo():
    skimage_data = pytest.importorskip("skimage.data")
    photo = skimage_data.astronaut()  # [512, 512, 3] uint8
    frames = torch.from_numpy(photo)[None]
    ours = T.resize(frames, (128, 96))[0].numpy().astype(float)
    ref = np.asarray(Image.fromarray(photo).resize((96, 128), Image.BILINEAR)).astype(float)
    assert np.abs(ours - ref).mean() < 2.0


def test_resize_short_side_keeps_aspect():
    frames = torch.zeros(2, 272, 640, 3, dtype=torch.uint8)
    out = T.resize_short_side(frames, 136)
    assert out.shape == (2, 136, 320, 3)


def test_center_crop_takes_centre():
    frames = torch.arange(10 * 12).view(1, 10, 12, 1).expand(1, 10, 12, 3).to(torch.uint8)
    out = T.center_crop(frames, (4, 6))
    assert out.shape == (1, 4, 6, 3)
    assert out[0, 0, 0, 0] == frames[0, 3, 3, 0]
    with pytest.raises(ValueError, match="larger"):
        T.center_crop(frames, (20, 6))


@pytest.mark.parametrize("size", [(64, 64), (48, 96), (100, 30)])
def test_resize_center_crop_any_aspect(size):
    frames = torch.zeros(1, 272, 640, 3, dtype=torch.uint8)
    assert T.resize_center_crop(frames, size).shape == (1, *size, 3)
