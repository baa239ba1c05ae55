"""LoRA: the layer's formula, zero start, merge/unmerge, what trains, adapters saved apart."""

from __future__ import annotations

import pytest
import torch
from posttrain_helpers import inputs, randomized  # noqa: E402  (tests/posttrain, see conftest)
from torch import nn

from worldsmith.diffusion.dit import DiT, DiTConfig
from worldsmith.errors import CheckpointError, ConfigError
from worldsmith.posttrain.lora import (
    LoRAConfig,
    LoRALinear,
    add_lora,
    load_adapter,
    lora_state_dict,
    merge_lora,
    save_adapter,
    trainable_parameters,
)


def test_layer_formula_zero_start_and_merge():
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, rank=3, scale=0.5, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 6)
    assert torch.equal(layer(x), base(x))  # B = 0: the base output, bit for bit
    with torch.no_grad():
        layer.lora_B.normal_()
    expect = x @ base.weight.T + base.bias + 0.5 * x @ layer.lora_A.T @ layer.lora_B.T  # LoRA Eq. 3
    torch.testing.assert_close(layer(x), expect)
    w0 = base.weight.detach().clone()
    layer.merge()
    torch.testing.assert_close(layer(x), expect)  # merged: same function, one matmul
    torch.testing.assert_close(base.weight, w0 + 0.5 * layer.lora_B @ layer.lora_A)
    layer.unmerge()
    torch.testing.assert_close(base.weight, w0)


def test_add_lora_freezes_the_base_and_keeps_its_output():
    model = randomized()
    x, c, text = inputs()
    with torch.no_grad():
        before = model(x, c, text)
    names = add_lora(model, LoRAConfig(rank=4))
    assert len(names) == 2 * 4  # qkv, out, fc1, fc2 in each of 2 blocks
    assert all(n.endswith(("self_attn.qkv", "self_attn.out", "mlp.fc1", "mlp.fc2")) for n in names)
    with torch.no_grad():
        assert torch.equal(model(x, c, text), before)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    n_train, n_total = trainable_parameters(model)
    assert n_train == sum(v.numel() for v in lora_state_dict(model).values()) and n_train < n_total
    with pytest.raises(ConfigError, match="match no linear layer"):
        add_lora(randomized(), LoRAConfig(targets=("nope",)))


def test_adapter_saved_apart_loads_and_merges(tmp_path):
    model = randomized()
    add_lora(model, LoRAConfig(rank=2, alpha=4.0), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for v in lora_state_dict(model).values():
            v.normal_(0, 0.1)
    x, c, text = inputs()
    with torch.no_grad():
        adapted = model(x, c, text)
    save_adapter(model, LoRAConfig(rank=2, alpha=4.0), tmp_path / "adapter")
    fresh = randomized()  # same base weights
    cfg = load_adapter(fresh, tmp_path / "adapter")
    assert cfg.rank == 2 and cfg.scale == 2.0
    with torch.no_grad():
        assert torch.equal(fresh(x, c, text), adapted)
        merged = merge_lora(fresh)
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        assert set(merged.state_dict()) == set(randomized().state_dict())  # the base layout again
        torch.testing.assert_close(merged(x, c, text), adapted, atol=1e-5, rtol=1e-5)
    with pytest.raises(CheckpointError, match="does not fit"):
        other = DiT(
            DiTConfig(latent_channels=4, heads=2, head_dim=16, depth=1, text_dim=8, max_size=(8, 8, 8))
        )
        load_adapter(other, tmp_path / "adapter")
    with pytest.raises(CheckpointError, match="not a LoRA adapter"):
        load_adapter(randomized(), tmp_path)
