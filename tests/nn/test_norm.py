from __future__ import annotations

import pytest
import torch

from worldsmith.nn.norm import FrameGroupNorm


@pytest.mark.parametrize("groups", [1, 2])
def test_equals_groupnorm_per_frame(groups):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    norm = FrameGroupNorm(8, groups).double()
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    ref = torch.nn.GroupNorm(groups, 8, eps=1e-6).double()
    ref.load_state_dict(norm.state_dict())
    y = norm(x)
    y_ref = ref(x.transpose(1, 2).reshape(6, 8, 5, 4)).view(2, 3, 8, 5, 4).transpose(1, 2)  # per frame
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    for a, b in zip(
        torch.autograd.grad(y, [x, norm.weight], g),
        torch.autograd.grad(y_ref, [x, ref.weight], g),
        strict=True,
    ):
        torch.testing.assert_close(a, b)
    # per frame: changing frame 2 leaves frames 0, 1 alone
    x2 = x.detach().clone()
    x2[:, :, 2] *= 3
    torch.testing.assert_close(norm(x2)[:, :, :2], y[:, :, :2])


def test_fused_silu_and_no_grad_path():
    # silu=True is SiLU(GN(x)); without autograd it runs in place on a scratch tensor, never on x
    torch.manual_seed(0)
    norm = FrameGroupNorm(6, 2)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(1, 6, 4, 3, 5) * 4 + 10  # large mean: the two-pass variance must stay exact
    ref = torch.nn.GroupNorm(2, 6, eps=1e-6)
    ref.load_state_dict(norm.state_dict())
    y_ref = ref(x.transpose(1, 2).reshape(4, 6, 3, 5)).view(1, 4, 6, 3, 5).transpose(1, 2)
    x0 = x.clone()
    with torch.inference_mode():
        torch.testing.assert_close(norm(x), y_ref)
        torch.testing.assert_close(norm(x, silu=True), torch.nn.functional.silu(y_ref))
    torch.testing.assert_close(norm(x, silu=True), torch.nn.functional.silu(y_ref))
    assert torch.equal(x, x0)
