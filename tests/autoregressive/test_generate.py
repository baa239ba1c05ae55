"""Decoding: cached == uncached, streaming per latent frame, sampling distributions by formula."""

from __future__ import annotations

import pytest
import torch

from worldsmith.autoregressive.generate import generate, video2world
from worldsmith.autoregressive.gpt import ARInputError
from worldsmith.autoregressive.sampling import GREEDY, SamplingConfig, filtered_probs, sample
from worldsmith.errors import ConfigError


def test_cached_generation_equals_uncached(model):
    prefix = torch.randint(0, 64, (2, 9))
    text = torch.randn(2, 3, 16)
    a = generate(model, prefix, 20, text=text, sampling=GREEDY)
    b = generate(model, prefix, 20, text=text, sampling=GREEDY, use_cache=False)
    assert torch.equal(a, b) and torch.equal(a[:, :9], prefix)
    cfg = SamplingConfig(temperature=1.0, top_k=10, top_p=0.9)
    c = generate(model, prefix, 20, text=text, sampling=cfg, generator=torch.Generator().manual_seed(3))
    d = generate(
        model,
        prefix,
        20,
        text=text,
        sampling=cfg,
        generator=torch.Generator().manual_seed(3),
        use_cache=False,
    )
    assert torch.equal(c, d)
    assert not torch.equal(c, a)  # sampling is not greedy on a random model


def test_generate_does_not_mutate_the_model(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = [b.clone() for b in model.buffers()]
    generate(model, torch.randint(0, 64, (1, 9)), 10, sampling=GREEDY)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


def test_video2world_streams_each_generated_latent_frame(model):
    given = torch.randint(0, 64, (1, 1, 3, 3))
    frames: list[tuple[int, torch.Tensor]] = []
    out = video2world(model, given, 3, sampling=GREEDY, on_frame=lambda t, x: frames.append((t, x.clone())))
    assert out.shape == (1, 4, 3, 3) and torch.equal(out[:, :1], given)
    assert [t for t, _ in frames] == [1, 2, 3]
    for t, x in frames:
        assert torch.equal(x, out[:, t])


def test_video2world_rejects_bad_shapes(model):
    with pytest.raises(ARInputError, match="grid"):
        video2world(model, torch.zeros(1, 1, 4, 4, dtype=torch.long), 1)
    with pytest.raises(ARInputError, match="exceed"):
        video2world(model, torch.zeros(1, 2, 3, 3, dtype=torch.long), 3)


def test_filtered_probs_follow_the_formulas():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    p = logits.softmax(-1)
    # temperature: softmax(z / tau)
    torch.testing.assert_close(
        filtered_probs(logits, SamplingConfig(temperature=0.5, top_p=1.0)), (logits / 0.5).softmax(-1)
    )
    # top-k: renormalised over the k largest
    k3 = filtered_probs(logits, SamplingConfig(top_k=3, top_p=1.0))
    torch.testing.assert_close(k3, torch.cat([p[:3] / p[:3].sum(), torch.zeros(3)]))
    # top-p: the smallest prefix of the sorted distribution reaching p
    cum = p.cumsum(-1)
    n = int((cum < 0.8).sum()) + 1
    pp = filtered_probs(logits, SamplingConfig(top_p=0.8))
    torch.testing.assert_close(pp, torch.cat([p[:n] / p[:n].sum(), torch.zeros(6 - n)]))
    assert n == 3  # 0.53 + 0.20 < 0.8 <= 0.53 + 0.20 + 0.12
    # greedy: all mass on the argmax
    assert filtered_probs(logits, GREEDY).tolist() == [1.0, 0, 0, 0, 0, 0]
    with pytest.raises(ConfigError, match="top_p"):
        SamplingConfig(top_p=0.0)


def test_samples_follow_the_filtered_distribution():
    logits = torch.tensor([[1.5, 1.0, 0.2, 0.0, -0.5, -2.0]]).expand(40000, 6)
    cfg = SamplingConfig(temperature=1.3, top_k=5, top_p=0.9)
    want = filtered_probs(logits[0], cfg)
    draws = sample(logits, cfg, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=6).float() / draws.numel()
    assert freq[want == 0].sum() == 0
    torch.testing.assert_close(freq, want, atol=0.01, rtol=0)
    assert torch.equal(sample(logits[:2], GREEDY), torch.zeros(2, dtype=torch.long))


def test_output_head_is_the_lm_head(model):
    """The decoding kernels (one row; several rows) compute the same logits as the model's lm_head."""
    head = model.output_head()
    for rows in (1, 2, 8):
        h = torch.randn(rows, model.cfg.dim)
        torch.testing.assert_close(head(h), model.lm_head(h), atol=1e-5, rtol=1e-5)
