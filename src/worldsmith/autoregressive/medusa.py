"""Medusa heads: several tokens per forward pass (Cai et al. 2024, "Medusa", arXiv 2401.10774).

Head ``k`` (k = 1..K) reads the base model's last hidden state ``h_t`` and predicts the token at
``t + 1 + k``: ``p_k = softmax(W_lm ResBlock_k(h_t))`` with ``ResBlock(x) = x + SiLU(W x + b)``
(Medusa Sec. 2.1.1). Cosmos' AR models use 7 heads of one layer. Here every head shares the base's
output projection ``W_lm`` (the 64k x D matrix would otherwise be copied K times); each ResBlock
starts as the identity, so an untrained head predicts what the base predicts for ``t + 1``.

Decoding (Medusa Sec. 2.1.2, one candidate path, i.e. a tree of width 1): the next token ``x_0``
comes from the base; the heads propose ``x_1..x_K``; one forward pass of ``[x_0 .. x_K]`` through the
base with the KV cache scores every proposal. Proposal ``x_j`` is accepted while every earlier one
was and
* greedy: it equals the base's argmax after ``x_{j-1}`` -> the output is *identical* to plain greedy
  decoding, only faster;
* sampling: typical acceptance (Medusa Sec. 2.3.1), ``p_base(x_j) > min(eps, delta * exp(-H(p_base)))``.
The cache is then truncated to the accepted tokens, and the same pass gives the next ``x_0`` and the
next proposals: every pass emits ``1 + accepted`` tokens.

Training (`MedusaObjective` in `objective.py`): Medusa-1 freezes the backbone and trains only the
heads; Medusa-2 trains both, with the base's loss added.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldsmith.autoregressive.gpt import GPT, ARInputError
from worldsmith.autoregressive.sampling import SamplingConfig, filtered_probs, sample
from worldsmith.autoregressive.stream import FrameCallback, FrameStream
from worldsmith.checkpoint import Pretrained
from worldsmith.config import check
from worldsmith.errors import CheckpointError


@dataclass(frozen=True, kw_only=True)
class MedusaConfig:
    dim: int  # the base model's width
    heads: int = 7  # medusa_num_heads (Cosmos: 7)
    layers: int = 1  # ResBlocks per head (Cosmos: 1)
    posterior_threshold: float = 0.09  # typical acceptance eps
    posterior_alpha: float = 0.3  # typical acceptance delta (= sqrt(eps) in the paper's runs)

    def __post_init__(self) -> None:
        for key in ("dim", "heads", "layers"):
            check(getattr(self, key) > 0, key, getattr(self, key), "must be positive")


class ResBlock(nn.Module):
    """``x + SiLU(W x + b)``, zero-initialised so it starts as the identity (Medusa Sec. 2.1.1)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.silu(self.linear(x))


class MedusaHeads(nn.Module, Pretrained):
    """K heads: hidden ``[B, n, D]`` -> logits ``[K, B, n, V]`` through the base's `lm_head`."""

    model_type = "ar-medusa"
    config_class = MedusaConfig
    config_attr = "cfg"

    def __init__(self, cfg: MedusaConfig):
        super().__init__()
        self.cfg = cfg
        self.heads = nn.ModuleList(
            nn.Sequential(*(ResBlock(cfg.dim) for _ in range(cfg.layers))) for _ in range(cfg.heads)
        )

    def features(self, hidden: torch.Tensor) -> torch.Tensor:
        """``ResBlock_k(h)`` of every head: ``[B, n, D]`` -> ``[K, B, n, D]``."""
        return torch.stack([head(hidden) for head in self.heads])

    def forward(self, hidden: torch.Tensor, lm_head: nn.Module) -> torch.Tensor:
        # One matmul for all heads: the V x D output matrix is read once, not K times.
        return lm_head(self.features(hidden))  # [K, B, n, V]

    def check_base(self, base: GPT) -> None:
        if base.cfg.dim != self.cfg.dim:
            raise CheckpointError(
                f"Medusa heads of width {self.cfg.dim} do not fit a base model of width {base.cfg.dim}; "
                f"train heads for this base with `worldsmith train medusa --base DIR`"
            )


class MedusaModel(nn.Module):
    """Base + heads as one module for the Trainer; Medusa-1 freezes the base (`freeze_base`)."""

    def __init__(self, base: GPT, heads: MedusaHeads, *, freeze_base: bool = True):
        super().__init__()
        heads.check_base(base)
        self.base, self.heads, self.freeze_base = base, heads, freeze_base
        base.requires_grad_(not freeze_base)


def _passes(
    prev: torch.Tensor, proposed: torch.Tensor, sampling: SamplingConfig, cfg: MedusaConfig
) -> torch.Tensor:
    """Whether each proposal ``proposed [m]`` passes given the base's logits ``prev [m, V]`` after its
    parent: greedy, it is the argmax; sampling, typical acceptance on the tempered base distribution,
    ``p(x) > min(eps, delta * exp(-H(p)))``."""
    if sampling.greedy:
        return prev.argmax(-1) == proposed
    p = (prev.float() / sampling.temperature).softmax(-1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum(-1)  # [m]
    threshold = torch.clamp(cfg.posterior_alpha * torch.exp(-entropy), max=cfg.posterior_threshold)
    return p.gather(-1, proposed[:, None])[:, 0] > threshold


def _accept(cand: torch.Tensor, logits: torch.Tensor, sampling: SamplingConfig, cfg: MedusaConfig) -> int:
    """How many of the chain's proposals ``cand[1:]`` are accepted given the base's `logits` ``[c, V]``
    (row ``j`` scores the token after ``cand[j]``): the longest prefix of proposals that pass."""
    return int(_passes(logits[:-1], cand[1:], sampling, cfg).int().cumprod(0).sum())


@dataclass(frozen=True)
class CandidateTree:
    """The candidates verified in one pass (Medusa Sec. 2.1.2, "tree attention").

    A path ``(r_1, .., r_d)`` takes head 1's rank-``r_1`` token, then head 2's rank-``r_2`` token, ..:
    a guess of the ``d`` tokens after the base's next token ``x_0``. The tree holds every prefix of
    every path; node 0 is ``x_0``. Nodes are ordered by depth, so cutting the tree at a depth keeps a
    prefix of the node list. Each node attends to the cache, its ancestors and itself.
    """

    paths: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        nodes = sorted({p[:i] for p in self.paths for i in range(len(p) + 1)}, key=lambda p: (len(p), p))
        if any(r < 0 for p in nodes for r in p):
            raise ValueError(f"tree ranks must be >= 0, got {self.paths}")
        index = {p: i for i, p in enumerate(nodes)}
        n = len(nodes)
        mask = torch.zeros(n, n, dtype=torch.bool)
        for i, p in enumerate(nodes):
            for j in range(len(p) + 1):
                mask[i, index[p[:j]]] = True  # ancestors (x_0 included) and itself
        children: list[list[int]] = [[] for _ in range(n)]
        for i, p in enumerate(nodes[1:], 1):
            children[index[p[:-1]]].append(i)  # in rank order (nodes are sorted)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "children", children)
        object.__setattr__(self, "depth", torch.tensor([len(p) for p in nodes]))
        object.__setattr__(self, "parent", torch.tensor([index[p[:-1]] if p else 0 for p in nodes]))
        object.__setattr__(self, "head", torch.tensor([len(p) - 1 if p else 0 for p in nodes]))
        object.__setattr__(self, "rank", torch.tensor([p[-1] if p else 0 for p in nodes]))

    @property
    def heads(self) -> int:
        return max((len(p) for p in self.paths), default=0)

    @property
    def width(self) -> int:
        return 1 + max((r for p in self.paths for r in p), default=0)

    @classmethod
    def chain(cls, heads: int) -> CandidateTree:
        """Each head's top-1 token: a single path (the tree of width 1)."""
        return cls(((0,) * heads,))

    @classmethod
    def branching(cls, heads: int, width: int = 2, depths: int | None = None) -> CandidateTree:
        """The top-1 chain plus, at each of the first `depths` depths (default: all), the next
        `width - 1` ranks of that head, each followed by the next head's top-1 token."""
        paths = [(0,) * heads]
        for d in range(heads if depths is None else min(depths, heads)):
            for r in range(1, width):
                paths.append((0,) * d + (r,) + ((0,) if d + 1 < heads else ()))
        return cls(tuple(paths))


def _propose(heads: MedusaHeads, h: torch.Tensor, head_fn, width: int) -> torch.Tensor:
    """Top-`width` tokens of every head from one hidden state ``[D]`` -> ``[K, width]``."""
    logits = head_fn(heads.features(h))  # [K, V]
    return logits.argmax(-1, keepdim=True) if width == 1 else logits.topk(width, dim=-1).indices


@torch.no_grad()
def medusa_generate(
    model: GPT,
    heads: MedusaHeads,
    prefix: torch.Tensor,
    num_tokens: int,
    *,
    text: torch.Tensor | None = None,
    text_mask: torch.Tensor | None = None,
    sampling: SamplingConfig | None = None,
    generator: torch.Generator | None = None,
    on_frame: FrameCallback | None = None,
    stats: dict | None = None,
    tree: CandidateTree | None = None,
    cond: dict | None = None,
) -> torch.Tensor:
    """`generate` with Medusa speculation; prefix ``[1, P]`` -> ``[1, P + num_tokens]``.

    `tree` defaults to `CandidateTree.branching` over all heads. `stats` receives ``forward_passes``,
    ``mean_accepted`` (tokens emitted per verification pass) and ``tree_nodes``. `cond`: as `generate`'s.
    """
    sampling = sampling or SamplingConfig()
    heads.check_base(model)
    if prefix.ndim != 2 or prefix.shape[0] != 1 or prefix.shape[1] < 1:
        raise ARInputError(f"Medusa decoding takes one sequence [1, P >= 1], got {tuple(prefix.shape)}")
    tree = tree or CandidateTree.branching(heads.cfg.heads)
    if tree.heads > heads.cfg.heads:
        raise ARInputError(f"the candidate tree is {tree.heads} deep but there are {heads.cfg.heads} heads")
    n_nodes, P = len(tree.nodes), prefix.shape[1]
    cache = model.new_cache(1, P + num_tokens + n_nodes)  # room for the last pass's whole tree
    head_fn = model.output_head()
    stream = FrameStream(model, on_frame, P)
    seq = torch.cat([prefix, prefix.new_zeros(1, num_tokens)], dim=1)  # filled in place
    cond = cond or {}
    h = model.hidden(prefix, text=text, text_mask=text_mask, cache=cache, **cond)[0, -1]  # [D]
    nxt = int(sample(head_fn(h)[None], sampling, generator)[0])
    proposals = _propose(heads, h, head_fn, tree.width)  # [K, w]
    produced, passes, verifies = 0, 1, 0
    while produced < num_tokens:
        start = cache.length
        n = int((tree.depth <= num_tokens - produced - 1).sum())  # cut the tree at the tokens left
        cand = proposals[tree.head[:n], tree.rank[:n]]  # [n]: node i's proposed token
        cand[0] = nxt
        mask = torch.cat([torch.ones(n, start, dtype=torch.bool), tree.mask[:n, :n]], dim=1)
        h = model.hidden(cand[None], text_mask=text_mask, cache=cache, positions=start + tree.depth[:n],
                         attn_mask=mask, **cond)[0]  # fmt: skip
        logits = head_fn(h)  # [n, V]: the base's prediction after each node
        if sampling.greedy:  # one argmax per row, shared by the acceptance test and the next token
            best = logits.argmax(-1)  # [n]
            ok = [True, *(best[tree.parent[1:n]] == cand[1:]).tolist()]
        else:
            ok = [True, *_passes(logits[tree.parent[1:n]], cand[1:], sampling, heads.cfg).tolist()]
        path, cur = [0], 0
        while True:  # the first passing child at each depth (children are in rank order)
            nxt_node = next((c for c in tree.children[cur] if c < n and ok[c]), None)
            if nxt_node is None:
                break
            path.append(nxt_node)
            cur = nxt_node
        rows = torch.tensor(path)
        a = len(path)
        cache.keep(start, rows)
        seq[0, P + produced : P + produced + a] = cand[rows]
        produced, passes, verifies = produced + a, passes + 1, verifies + 1
        stream.update(seq[:, : P + produced])
        if sampling.greedy:
            nxt = int(best[cur])
        else:
            nxt = int(torch.multinomial(filtered_probs(logits[cur], sampling), 1, generator=generator))
        proposals = _propose(heads, h[cur], head_fn, tree.width)
    if stats is not None:
        stats["forward_passes"] = passes
        stats["mean_accepted"] = num_tokens / max(verifies, 1)
        stats["tree_nodes"] = n_nodes
    return seq
