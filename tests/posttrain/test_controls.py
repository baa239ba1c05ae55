"""Control extraction (edges, blur, depth, seg), the model's latent view of controls, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worldsmith.posttrain import controls as C


def square_video(T: int = 3, H: int = 32, W: int = 32) -> torch.Tensor:
    v = torch.zeros(T, H, W, 3, dtype=torch.uint8)
    v[:, 8:24, 10:20] = torch.tensor([200, 60, 30], dtype=torch.uint8)
    return v


def test_edges_trace_the_square_outline_and_nothing_else():
    e = C.edges(square_video())
    assert e.shape == (3, 32, 32, 3) and e.dtype == torch.uint8
    on = e[0, ..., 0] > 0
    assert set(e.unique().tolist()) == {0, 255}
    assert torch.equal(e[..., 0], e[..., 2])  # grey in all channels
    ys, xs = torch.nonzero(on, as_tuple=True)
    # Canny puts the boundary on one side of the step: within one pixel of the square's outline
    assert ys.min() >= 7 and ys.max() <= 24 and xs.min() >= 9 and xs.max() <= 20
    assert not on[12:20, 13:17].any() and not on[:5].any()  # no edges inside or far outside
    assert on.sum() >= 2 * (16 + 10) - 4


def test_blur_is_block_mean_then_bilinear_upsampling():
    g = torch.Generator().manual_seed(0)
    v = torch.randint(0, 256, (2, 16, 24, 3), dtype=torch.uint8, generator=g)
    b = C.blur(v, factor=4)
    block = v.float().reshape(2, 4, 4, 6, 4, 3).mean(dim=(2, 4))  # [T, 4, 6, 3] by hand
    up = F.interpolate(block.permute(0, 3, 1, 2), size=(16, 24), mode="bilinear", align_corners=False)
    assert torch.equal(b, up.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    assert torch.equal(C.blur(v, factor=1), v)
    const = torch.full((1, 8, 8, 3), 77, dtype=torch.uint8)
    assert torch.equal(C.blur(const), const)


def test_depth_video_is_scaled_inverse_depth_near_bright():
    z = np.array([[[1.0, 2.0], [4.0, 0.0]]], dtype=np.float32)  # 0 = no depth
    d = C.depth_video(z)[..., 0]
    # 1/z = 1, .5, .25 -> (1/z - .25) / .75 * 255 = 255, 85, 0; no depth -> 0
    assert d.tolist() == [[[255, 85], [0, 0]]]
    with pytest.raises(C.ControlError, match="depth"):
        C.depth_video(np.zeros((1, 2, 2)))


def test_seg_video_gives_each_id_its_own_colour_and_black_background():
    ids = torch.arange(12).reshape(1, 3, 4)
    v = C.seg_video(ids)
    assert v.shape == (1, 3, 4, 3) and v[0, 0, 0].tolist() == [0, 0, 0]
    colours = {tuple(c) for c in v.reshape(-1, 3).tolist()}
    assert len(colours) == 12


def test_control_latents_average_the_frames_of_each_latent_frame_and_unshuffle_cells():
    g = torch.Generator().manual_seed(1)
    v = torch.randint(0, 256, (5, 8, 8, 3), dtype=torch.uint8, generator=g)  # 1 + 2*2 frames
    lat = C.control_latents(v, "blur", k=2, s=4)
    assert lat.shape == (3 * 16, 3, 2, 2)
    x = v.permute(3, 0, 1, 2).float() / 127.5 - 1  # [3, F, H, W]
    want = torch.stack([x[:, 0], x[:, 1:3].mean(1), x[:, 3:5].mean(1)], dim=1)  # [3, T, H, W]
    # pixel_shuffle inverts the unshuffle: back to the full-resolution per-latent-frame means
    back = F.pixel_shuffle(lat.permute(1, 0, 2, 3), 4).permute(1, 0, 2, 3)  # [3, T, H, W]
    torch.testing.assert_close(back, want)
    grey = C.control_latents(v, "edge", k=2, s=4)
    assert grey.shape == (16, 3, 2, 2)  # one channel: the mean of R, G, B
    with pytest.raises(C.ControlError, match="1 \\+ n\\*2"):
        C.control_latents(v[:4], "edge", k=2, s=4)


def test_depth_and_seg_cannot_be_extracted_from_rgb():
    assert torch.equal(C.extract("edge", square_video()), C.edges(square_video()))
    with pytest.raises(C.ControlError, match="give a depth video"):
        C.extract("depth", square_video())


def test_bad_controls_name_what_and_the_fix():
    v = square_video()
    with pytest.raises(C.ControlError, match="unknown control type 'lidar'.*edge, blur, depth, seg"):
        C.check_controls({"lidar": v})
    with pytest.raises(C.ControlError, match="seg: 16x32 frames, unlike edge.*size"):
        C.check_controls({"edge": v, "seg": v[:, :, :16]})
    with pytest.raises(C.ControlError, match="depth: 2 frames, unlike edge"):
        C.check_controls({"edge": v, "depth": v[:2]})
    with pytest.raises(C.ControlError, match="edge: 3 frames, unlike the video \\(5 frames\\)"):
        C.check_controls({"edge": v}, frames=5)
    with pytest.raises(C.ControlError, match="repeats"):
        C.parse_controls("edge,edge")
    assert C.parse_controls("depth, seg,edge") == ("depth", "seg", "edge")
    C.check_controls({"edge": v, "blur": v}, frames=3, size=(32, 32))


def test_bad_weights_name_what_and_the_fix():
    C.check_weights({"depth": 0.5}, ("depth", "seg"))
    with pytest.raises(C.ControlError, match="sum to 0; give at least one control a positive weight"):
        C.check_weights({"depth": 0.0, "seg": 0.0}, ("depth", "seg"))
    with pytest.raises(C.ControlError, match="no --control edge"):
        C.check_weights({"edge": 1.0}, ("depth",))
    with pytest.raises(C.ControlError, match=">= 0"):
        C.check_weights({"depth": -1.0}, ("depth", "seg"))
    with pytest.raises(C.ControlError, match="a map with range 0..0"):
        C.check_weights({"depth": torch.zeros(2, 3)}, ("depth",))
