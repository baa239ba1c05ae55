"""Context refiner: the compositing formula, save/load, bad input, and that it learns its job."""

from __future__ import annotations

import pytest
import torch

from worldsmith.diffusion.refine import (
    ContextRefiner,
    RefinerConfig,
    refine_video,
    refiner_inputs,
    train_refiner,
)
from worldsmith.errors import WorldsmithError


def _frames(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_output_is_the_composite_of_given_and_prediction():
    """With a constant head, out = m * L + (1 - m) * (P + r) for m = sigmoid(mask logit)."""
    model = ContextRefiner(RefinerConfig(width=8))
    first, last, pred, dlast = (_frames(2, seed=s) for s in range(4))
    logit, r = 0.7, torch.tensor([0.1, -0.2, 0.3])
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.cat([torch.tensor([logit]), r]))
    out = model(first, last, pred, dlast, torch.tensor([0.25, 1.0]))
    m = torch.sigmoid(torch.tensor(logit))
    torch.testing.assert_close(out, m * last + (1 - m) * (pred + r.view(1, 3, 1, 1)))


def test_save_load_round_trip_and_bad_checkpoints(tmp_path):
    model = ContextRefiner(RefinerConfig(width=8)).eval()
    model.save(tmp_path / "ref")
    back = ContextRefiner.from_pretrained(tmp_path / "ref")
    args = (*(_frames(1, seed=s) for s in range(4)), torch.tensor([0.5]))
    torch.testing.assert_close(back(*args), model(*args), rtol=0, atol=0)
    with pytest.raises(WorldsmithError, match="not a refiner folder"):
        ContextRefiner.from_pretrained(tmp_path / "missing")
    (tmp_path / "ref" / "refiner.json").write_text('{"width": 12, "mask_bias": 2.0}')
    with pytest.raises(WorldsmithError, match="does not match refiner.json"):
        ContextRefiner.from_pretrained(tmp_path / "ref")


def test_inputs_pair_each_future_frame_with_its_video():
    N, T, n = 2, 5, 2
    true = torch.arange(N * T, dtype=torch.float32).view(N, T, 1, 1, 1).expand(N, T, 3, 4, 4)
    decoded = true + 100
    first, last, pred, dlast, tau = refiner_inputs(true, decoded, n)
    assert pred.shape == (N * (T - n), 3, 4, 4)
    assert first[:, 0, 0, 0].tolist() == [0, 0, 0, 5, 5, 5]  # frame 0 of each video
    assert last[:, 0, 0, 0].tolist() == [1, 1, 1, 6, 6, 6]  # its last given frame
    assert dlast[:, 0, 0, 0].tolist() == [101, 101, 101, 106, 106, 106]
    assert pred[:, 0, 0, 0].tolist() == [102, 103, 104, 107, 108, 109]
    torch.testing.assert_close(tau, torch.tensor([1, 2, 3, 1, 2, 3]) / 3)


def test_bad_input_is_named():
    with pytest.raises(WorldsmithError, match="n_given"):
        train_refiner(torch.zeros(1, 4, 3, 8, 8), torch.zeros(1, 4, 3, 8, 8), 4, steps=1)
    with pytest.raises(WorldsmithError, match="one shape"):
        train_refiner(torch.zeros(1, 4, 3, 8, 8), torch.zeros(1, 5, 3, 8, 8), 2, steps=1)
    with pytest.raises(WorldsmithError, match="n_given"):
        refine_video(ContextRefiner(RefinerConfig(width=8)), *(torch.zeros(n, 3, 8, 8) for n in (2, 6)), 5)
    with pytest.raises(WorldsmithError, match="multiples of 4"):
        ContextRefiner(RefinerConfig(width=8))(*(torch.zeros(1, 3, 6, 6) for _ in range(4)), torch.ones(1))


def _moving_square_videos(n: int, T: int, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A static random texture with a bright square moving one pixel a frame; the 'decoded' videos
    are the truth blurred and noised everywhere (the tokenizer's error) but with the square in the
    right place (a right prediction of the motion)."""
    g = torch.Generator().manual_seed(seed)
    true = (torch.rand(n, 1, 3, size, size, generator=g) * 0.6 - 0.3).expand(n, T, 3, size, size).clone()
    for i in range(n):
        y = int(torch.randint(2, size - 6, (1,), generator=g))
        for t in range(T):
            true[i, t, :, y : y + 4, 1 + t : 5 + t] = 0.9
    blur = torch.nn.functional.avg_pool2d(true.flatten(0, 1), 3, 1, 1).view_as(true)
    return true, blur + 0.05 * torch.randn(true.shape, generator=g)


def test_overfits_one_batch_beyond_copying_the_last_frame_and_the_decoded_prediction():
    true, decoded = _moving_square_videos(4, 6)
    n = 2
    model, metrics = train_refiner(true, decoded, n, steps=300, batch=16, config=RefinerConfig(width=8))
    decoded_loss = (decoded[:, n:] - true[:, n:]).square().mean().item()
    assert metrics["loss_last"] < 0.5 * metrics["loss_first"]
    assert metrics["loss_last"] < 0.3 * metrics["copy_last_frame_loss"]
    assert metrics["loss_last"] < 0.5 * decoded_loss
    # refine_video gives the trained model's frames for one video
    out = refine_video(model, true[0, :n], decoded[0], n)
    assert out.shape == (4, 3, 16, 16) and out.abs().max() <= 1
    assert (out - true[0, n:]).square().mean() < 0.5 * (decoded[0, n:] - true[0, n:]).square().mean()
