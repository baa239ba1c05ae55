"""Llama-style AR model: KV cache == full recomputation, causality, 3D RoPE, GQA, text wiring."""

from __future__ import annotations

import math

import pytest
import torch
from ar_tiny import tiny_config

from worldsmith.autoregressive.gpt import GPT, PRESETS, ARInputError, get_preset
from worldsmith.errors import CheckpointError, ConfigError
from worldsmith.nn.rope import apply_rope, rope_3d, split_3d


def test_kv_cache_logits_equal_full_forward_at_every_step(model):
    g = torch.Generator().manual_seed(1)
    seq = torch.randint(0, 64, (2, 30), generator=g)
    text = torch.randn(2, 5, 16, generator=g)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    with torch.no_grad():
        full = model(seq, text=text, text_mask=mask)  # [B, L, V]
        cache = model.new_cache(2)
        steps = [model(seq[:, :9], text=text, text_mask=mask, cache=cache)]  # prefill one frame
        for i in range(9, 30):
            steps.append(model(seq[:, i : i + 1], text_mask=mask, cache=cache))
        # several tokens at once on a warm cache (the Medusa verification path)
        cache.truncate(20)
        chunk = model(seq[:, 20:25], text_mask=mask, cache=cache)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chunk, full[:, 20:25], rtol=1e-5, atol=1e-5)
    assert cache.length == 25


def test_future_tokens_never_change_past_logits(model):
    seq = torch.randint(0, 64, (1, 20))
    other = seq.clone()
    other[:, 12:] = (other[:, 12:] + 7) % 64
    with torch.no_grad():
        a, b = model(seq), model(other)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_text_cross_attention_changes_the_output(model):
    seq = torch.randint(0, 64, (1, 10))
    with torch.no_grad():
        a = model(seq, text=torch.randn(1, 4, 16))
        b = model(seq, text=torch.randn(1, 4, 16))
        c = model(seq)
    assert (a - b).abs().max() > 1e-3 and (a - c).abs().max() > 1e-3


def test_text_mask_hides_padded_text(model):
    seq = torch.randint(0, 64, (1, 10))
    text = torch.randn(1, 6, 16)
    padded = torch.cat([text[:, :4], torch.randn(1, 2, 16) * 100], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    with torch.no_grad():
        torch.testing.assert_close(model(seq, text=padded, text_mask=mask), model(seq, text=text[:, :4]))


def _complex_rope_reference(x: torch.Tensor, grid: tuple[int, int, int], theta: float) -> torch.Tensor:
    """3D RoPE written as complex multiplication, per axis: pair (x_j, x_{j+D/2}) of axis chunk j."""
    T, H, W = grid
    D = x.shape[-1]
    dims = split_3d(D)
    pos = torch.stack(torch.meshgrid(torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij"), -1)
    pos = pos.reshape(-1, 3).double()  # [L, 3]
    angles = []
    for axis, d in enumerate(dims):
        freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        angles.append(pos[:, axis : axis + 1] * freqs)  # [L, d/2]
    angle = torch.cat(angles, -1)  # [L, D/2]
    z = torch.complex(x[..., : D // 2].double(), x[..., D // 2 :].double()) * torch.polar(
        torch.ones_like(angle), angle
    )
    return torch.cat([z.real, z.imag], -1).float()


def test_3d_rope_matches_complex_reference_and_is_relative():
    grid, D = (3, 4, 5), 24
    x = torch.randn(1, 2, 60, D)
    cos, sin = rope_3d(D, grid, theta=10000.0)
    torch.testing.assert_close(
        apply_rope(x, cos, sin), _complex_rope_reference(x, grid, 10000.0), atol=1e-5, rtol=1e-5
    )
    # Relative: <R(p) q, R(p') k> depends only on p - p' (token (0,1,1)/(1,2,3) vs (1,1,2)/(2,2,4)).
    q, k = torch.randn(D), torch.randn(D)
    idx = lambda t, h, w: (t * 4 + h) * 5 + w  # noqa: E731
    rq = apply_rope(q.expand(1, 1, 60, D), cos, sin)[0, 0]
    rk = apply_rope(k.expand(1, 1, 60, D), cos, sin)[0, 0]
    d1 = rq[idx(0, 1, 1)] @ rk[idx(1, 2, 3)]
    d2 = rq[idx(1, 1, 2)] @ rk[idx(2, 2, 4)]
    d3 = rq[idx(0, 1, 1)] @ rk[idx(2, 2, 3)]
    torch.testing.assert_close(d1, d2, atol=1e-4, rtol=1e-4)
    assert (d1 - d3).abs() > 1e-3


def test_gqa_equals_multi_head_attention_with_repeated_kv_heads():
    torch.manual_seed(0)
    gqa = GPT(tiny_config(text_dim=None)).eval()
    mha = GPT(tiny_config(text_dim=None, kv_heads=4)).eval()
    sd = gqa.state_dict()
    for name, w in list(sd.items()):
        if name.endswith(("attn.k.weight", "attn.v.weight")):  # [Hkv*Dh, D] -> each head twice
            sd[name] = w.view(2, 1, 12, 48).expand(2, 2, 12, 48).reshape(48, 48)
    mha.load_state_dict(sd)
    seq = torch.randint(0, 64, (2, 15))
    with torch.no_grad():
        torch.testing.assert_close(gqa(seq), mha(seq), rtol=1e-5, atol=1e-5)


def test_absolute_position_embedding_is_used_and_cached_consistently():
    torch.manual_seed(0)
    m = GPT(tiny_config(abs_pos_embed=True)).eval()
    torch.nn.init.normal_(m.pos_h, std=1.0)
    seq = torch.randint(0, 64, (1, 12))
    with torch.no_grad():
        full = m(seq)
        cache = m.new_cache(1)
        step = torch.cat(
            [m(seq[:, :5], cache=cache)] + [m(seq[:, i : i + 1], cache=cache) for i in range(5, 12)], 1
        )
    torch.testing.assert_close(step, full, rtol=1e-5, atol=1e-5)


def test_save_and_load_roundtrip(model, tmp_path):
    model.save_pretrained(tmp_path / "ar")
    loaded = GPT.from_pretrained(tmp_path / "ar")
    seq = torch.randint(0, 64, (1, 10))
    with torch.no_grad():
        torch.testing.assert_close(loaded(seq), model(seq))
    with pytest.raises(CheckpointError, match="config.json"):
        GPT.from_pretrained(tmp_path / "missing")


def test_bad_inputs_name_the_fix(model):
    with pytest.raises(ARInputError, match="exceed"):
        model(torch.zeros(1, 37, dtype=torch.long))
    with pytest.raises(ARInputError, match="integer"):
        model(torch.zeros(1, 3))
    with pytest.raises(ARInputError, match="text must be"):
        model(torch.zeros(1, 3, dtype=torch.long), text=torch.zeros(1, 2, 5))
    with pytest.raises(ConfigError, match="kv_heads"):
        tiny_config(kv_heads=3)
    with pytest.raises(ARInputError, match="unknown AR preset"):
        get_preset("huge")


def test_published_presets_have_the_published_shapes():
    c = get_preset("4b")
    assert (c.dim, c.layers, c.heads, c.kv_heads, c.ffn_hidden, c.vocab_size) == (
        4096,
        16,
        32,
        8,
        14336,
        64000,
    )
    assert get_preset("13b").text_dim == 1024 and get_preset("12b").dim == 5120
    # Parameter count of the 4B from its shapes (no instantiation: 4B floats would not fit the test budget).
    attn = c.dim * c.heads * c.head_dim * 2 + c.dim * c.kv_heads * c.head_dim * 2
    per_layer = attn + 3 * c.dim * c.ffn_hidden
    total = c.layers * per_layer + 2 * c.vocab_size * c.dim
    assert 3.5e9 < total < 4.5e9, total
    assert set(PRESETS) == {"tiny", "small", "4b", "5b", "12b", "13b"}
    assert math.prod(get_preset("tiny").latent_shape) == get_preset("tiny").max_len
