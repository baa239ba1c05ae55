"""Medusa: greedy output identical to plain greedy decoding (random and trained weights)."""

from __future__ import annotations

import pytest
import torch

from worldsmith.autoregressive.generate import generate, video2world
from worldsmith.autoregressive.gpt import ARInputError
from worldsmith.autoregressive.medusa import MedusaConfig, MedusaHeads, medusa_generate
from worldsmith.autoregressive.sampling import GREEDY, SamplingConfig
from worldsmith.errors import CheckpointError


def _random_heads(k: int = 3, dim: int = 48) -> MedusaHeads:
    heads = MedusaHeads(MedusaConfig(dim=dim, heads=k))
    for p in heads.parameters():  # the zero init would make every head echo the base
        torch.nn.init.normal_(p, std=0.5)
    return heads.eval()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_greedy_medusa_is_identical_to_greedy_with_random_weights(model, k):
    torch.manual_seed(k)
    prefix = torch.randint(0, 64, (1, 9))
    text = torch.randn(1, 3, 16)
    want = generate(model, prefix, 27, text=text, sampling=GREEDY)
    stats: dict = {}
    got = medusa_generate(model, _random_heads(k), prefix, 27, text=text, sampling=GREEDY, stats=stats)
    assert torch.equal(got, want)
    assert stats["forward_passes"] <= 28


def test_acceptance_rules():
    """Greedy: a proposal is accepted while it equals the base's argmax after the previous token.
    Typical: while its base probability beats min(eps, delta * exp(-H))."""
    from worldsmith.autoregressive.medusa import _accept

    cfg = MedusaConfig(dim=48)
    base = torch.nn.functional.one_hot(torch.tensor([7, 1, 3]), 64).float() * 20  # argmax 7, then 1
    assert _accept(torch.tensor([5, 7, 1]), base, GREEDY, cfg) == 2
    assert _accept(torch.tensor([5, 7, 2]), base, GREEDY, cfg) == 1
    assert _accept(torch.tensor([5, 6, 1]), base, GREEDY, cfg) == 0  # a rejection stops the chain
    flat = torch.zeros(2, 64)  # uniform: p = 1/64, H = ln 64, threshold min(0.09, 0.3/64) = 0.0047 < 1/64
    assert _accept(torch.tensor([0, 9]), flat, SamplingConfig(temperature=1.0), cfg) == 1
    peaked = torch.zeros(2, 64)
    peaked[0, 3] = 10.0  # p(9) ~ 3e-6 < threshold
    assert _accept(torch.tensor([0, 9]), peaked, SamplingConfig(temperature=1.0), cfg) == 0


def test_sampled_medusa_runs_and_streams(model):
    frames = []
    out = video2world(
        model, torch.randint(0, 64, (1, 1, 3, 3)), 3, medusa=_random_heads(), text=torch.randn(1, 2, 16),
        sampling=SamplingConfig(temperature=1.0, top_p=0.9), generator=torch.Generator().manual_seed(0),
        on_frame=lambda t, x: frames.append(t),
    )  # fmt: skip
    assert out.shape == (1, 4, 3, 3) and frames == [1, 2, 3]
    assert int(out.max()) < 64


def test_medusa_checkpoint_roundtrip_and_errors(tmp_path, model):
    heads = _random_heads()
    heads.save_pretrained(tmp_path / "medusa")
    loaded = MedusaHeads.from_pretrained(tmp_path / "medusa")
    h = torch.randn(1, 2, 48)
    torch.testing.assert_close(loaded(h, model.lm_head), heads(h, model.lm_head))
    with pytest.raises(CheckpointError, match="width"):
        medusa_generate(model, _random_heads(dim=32), torch.zeros(1, 3, dtype=torch.long), 2)
    with pytest.raises(ARInputError, match="one sequence"):
        medusa_generate(model, heads, torch.zeros(2, 3, dtype=torch.long), 2)


def test_candidate_tree_structure():
    from worldsmith.autoregressive.medusa import CandidateTree

    tree = CandidateTree.branching(3, width=2)
    # chain (0,0,0); (1,) -> (1,0); (0,1) -> (0,1,0); (0,0,1)
    assert tree.nodes == [(), (0,), (1,), (0, 0), (0, 1), (1, 0), (0, 0, 0), (0, 0, 1), (0, 1, 0)]
    assert tree.heads == 3 and tree.width == 2
    assert tree.depth.tolist() == [0, 1, 1, 2, 2, 2, 3, 3, 3]
    assert tree.parent.tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 4]
    assert tree.children[1] == [3, 4] and tree.children[0] == [1, 2]
    # each node sees exactly its ancestors and itself
    for i, p in enumerate(tree.nodes):
        seen = {tree.nodes[j] for j in range(len(tree.nodes)) if tree.mask[i, j]}
        assert seen == {p[:k] for k in range(len(p) + 1)}
    assert CandidateTree.chain(4).nodes == [(), (0,), (0, 0), (0, 0, 0), (0, 0, 0, 0)]


def test_tree_pass_equals_each_path_decoded_on_its_own(model):
    """One tree-masked pass through the cache gives, at every node, the logits of running its path
    alone after the cached prefix (the tree mask and per-node positions are exact)."""
    from worldsmith.autoregressive.medusa import CandidateTree

    torch.manual_seed(0)
    prefix, text = torch.randint(0, 64, (1, 7)), torch.randn(1, 3, 16)
    tree = CandidateTree.branching(3, width=3)
    cand = torch.randint(0, 64, (len(tree.nodes),))
    cache = model.new_cache(1, 7 + len(tree.nodes))
    model.hidden(prefix, text=text, cache=cache)
    mask = torch.cat([torch.ones(len(cand), 7, dtype=torch.bool), tree.mask], dim=1)
    got = model(cand[None], cache=cache, positions=7 + tree.depth, attn_mask=mask)[0]  # [n, V]
    for i, p in enumerate(tree.nodes):
        path = [tree.nodes.index(p[:k]) for k in range(len(p) + 1)]
        seq = torch.cat([prefix, cand[path][None]], dim=1)
        want = model(seq, text=text)[0, -1]
        torch.testing.assert_close(got[i], want, atol=1e-4, rtol=1e-4)
    # keeping one path compacts its entries to consecutive slots: the cache then continues exactly
    leaf = len(tree.nodes) - 1
    rows = torch.tensor([tree.nodes.index(tree.nodes[leaf][:k]) for k in range(tree.depth[leaf] + 1)])
    cache.keep(7, rows)
    assert cache.length == 7 + len(rows)
    nxt = torch.randint(0, 64, (1, 1))
    seq = torch.cat([prefix, cand[rows][None], nxt], dim=1)
    got, want = model(nxt, cache=cache)[0, -1], model(seq, text=text)[0, -1]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_greedy_tree_medusa_is_identical_to_greedy(model, width):
    from worldsmith.autoregressive.medusa import CandidateTree

    torch.manual_seed(width)
    prefix, text = torch.randint(0, 64, (1, 9)), torch.randn(1, 3, 16)
    want = generate(model, prefix, 27, text=text, sampling=GREEDY)
    stats: dict = {}
    tree = CandidateTree.branching(3, width=width)
    heads = _random_heads(3)
    got = medusa_generate(model, heads, prefix, 27, text=text, sampling=GREEDY, tree=tree, stats=stats)
    assert torch.equal(got, want)
    assert stats["tree_nodes"] == len(tree.nodes)


def test_kv_cache_keep_rejects_bad_rows(model):
    cache = model.new_cache(1, 10)
    model.hidden(torch.randint(0, 64, (1, 6)), cache=cache)
    with pytest.raises(ValueError):
        cache.keep(2, torch.tensor([0, 4, 9]))  # offset 9 was never written
    with pytest.raises(ValueError):
        cache.keep(2, torch.tensor([1, 0]))  # row i must come from offset >= i
