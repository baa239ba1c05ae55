"""Prompt content-safety classifier (pre-guard): a softmax head over MiniLM sentence embeddings.

Keyword lists miss paraphrases ("someone slits a man's throat" names no blocked word). Following
the embedding-classifier recipe of sentence-transformers/SetFit (Tunstall et al. 2022,
arXiv 2209.11055) without the contrastive fine-tune, we embed each prompt with all-MiniLM-L6-v2
(Wang et al. 2020, arXiv 2002.10957): masked mean of the token states, L2-normalised, e in R^384.
A linear softmax head p = softmax(W e + b) over 8 classes (safe + the 7 unsafe categories of
Cosmos's video guard, arXiv 2501.03575 Sec. 7) is trained with weighted cross-entropy on
`data/prompts.jsonl` (our own labelled prompts, with a held-out `test` split). A prompt is blocked
when P(unsafe) = 1 - p_safe >= threshold.

The trained head ships as `data/prompt_classifier.safetensors` (12 kB); retrain with
`worldsmith guard train-classifier --out DIR` (or `train_classifier()`), which reports held-out
precision/recall.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from worldsmith import fs
from worldsmith.guardrails.base import GuardrailError, Verdict

CATEGORIES = ("safe", "violence", "sexual", "minors", "self_harm", "hate", "weapons", "illegal")
DEFAULT_THRESHOLD = 0.5


def packaged_weights() -> Path:
    return Path(str(resources.files("worldsmith.guardrails").joinpath("data/prompt_classifier.safetensors")))


PACKAGED_PROMPTS = ("data/prompts.jsonl", "data/domain_prompts.jsonl")


def load_prompts(split: str | None = None, path: str | os.PathLike | None = None) -> list[dict]:
    """Labelled prompts: dicts with `text`, `label` (one of CATEGORIES) and `split` (train / calib /
    test). Without `path`: the packaged prompts, i.e. our hand-written ones and the physical-AI domain
    corpus (written by benchmarks/guard_corpus.py)."""
    if path is None:
        folder = resources.files("worldsmith.guardrails")
        sources = [(folder.joinpath(f).read_text("utf-8"), f"the packaged {f}") for f in PACKAGED_PROMPTS]
    else:
        if not Path(path).is_file():
            raise GuardrailError(
                f"prompt file '{path}' does not exist; pass a JSONL of {{text, label, split}}"
            )
        sources = [(Path(path).read_text("utf-8"), f"prompt file '{path}'")]
    rows = []
    for text, where in sources:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise GuardrailError(f"{where} line {n} is not JSON: {err.msg}") from None
            if row.get("label") not in CATEGORIES or not isinstance(row.get("text"), str):
                raise GuardrailError(f"{where} line {n} needs 'text' and a 'label' in {list(CATEGORIES)}")
            rows.append(row)
    return [r for r in rows if split is None or r.get("split", "train") == split]


class SentenceEmbedder:
    """all-MiniLM-L6-v2 sentence vectors: masked mean of token states, L2-normalised: [B, 384]."""

    def __init__(self, encoder=None):
        self._encoder = encoder

    @property
    def encoder(self):
        if self._encoder is None:
            from worldsmith.text.encoders import minilm

            self._encoder = minilm()
        return self._encoder

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        with _threads(1 if len(texts) <= 4 else torch.get_num_threads()):
            return self._embed(texts, batch_size)

    def _embed(self, texts: Sequence[str], batch_size: int) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), batch_size):
            hidden, mask = self.encoder.encode(list(texts[i : i + batch_size]))  # [B, L, D], [B, L]
            summed = (hidden * mask[..., None]).sum(1)  # [B, D]
            mean = summed / mask.sum(1, keepdim=True).clamp(min=1)
            out.append(F.normalize(mean, dim=-1))
        return torch.cat(out) if out else torch.zeros(0, 384)


@contextlib.contextmanager
def _threads(n: int):
    """Run with `n` torch threads: one prompt is ~40 ms on one thread, but on a loaded 2-core box two
    OpenMP threads spin against each other (measured 1.1 s), so short inputs use one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Head:
    """The softmax head: logits = e @ weight.T + bias; weight [C, D], bias [C]."""

    weight: torch.Tensor
    bias: torch.Tensor
    categories: tuple[str, ...] = CATEGORIES
    threshold: float = DEFAULT_THRESHOLD

    def probs(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.softmax(emb @ self.weight.T + self.bias, dim=-1)  # [B, C]

    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> Path:
        meta = {"categories": json.dumps(list(self.categories)), "threshold": str(self.threshold)}
        if metrics:
            meta["metrics"] = json.dumps(metrics)
        with fs.atomic_path(path) as tmp:
            save_file({"weight": self.weight.contiguous(), "bias": self.bias.contiguous()}, str(tmp), meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Head:
        path = Path(path)
        if not path.is_file():
            raise GuardrailError(
                f"prompt classifier weights '{path}' are missing; reinstall worldsmith or retrain them with "
                "`worldsmith guard train-classifier`"
            )
        try:
            tensors = load_file(str(path))

            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            categories = tuple(json.loads(meta["categories"]))
            threshold = float(meta.get("threshold", DEFAULT_THRESHOLD))
            weight, bias = tensors["weight"].float(), tensors["bias"].float()
        except (SafetensorError, KeyError, ValueError, OSError) as err:
            raise GuardrailError(
                f"prompt classifier weights '{path}' are unreadable ({err}); retrain them"
            ) from None
        c = len(categories)
        if categories[0] != "safe" or weight.ndim != 2 or weight.shape[0] != c or tuple(bias.shape) != (c,):
            raise GuardrailError(
                f"prompt classifier weights '{path}' do not match their categories; retrain them"
            )
        return cls(weight, bias, categories, threshold)


class PromptClassifier:
    """Pre-guard: block a prompt when the MiniLM head says P(unsafe) >= threshold."""

    name = "classifier"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        threshold: float | None = None,
        embedder: SentenceEmbedder | None = None,
    ):
        self.weights = Path(weights) if weights is not None else packaged_weights()
        self._threshold = threshold
        self.embedder = embedder or SentenceEmbedder()
        self._head: Head | None = None

    @property
    def head(self) -> Head:
        if self._head is None:
            self._head = Head.load(self.weights)  # raises when missing: the pipeline fails closed
        return self._head

    @property
    def threshold(self) -> float:
        return self.head.threshold if self._threshold is None else self._threshold

    def unsafe_probability(self, texts: Sequence[str]) -> torch.Tensor:
        """P(unsafe) = 1 - p_safe for each text: [B]."""
        return 1 - self.head.probs(self.embedder(texts))[:, 0]

    def check(self, text: str) -> Verdict:
        if not isinstance(text, str):
            raise TypeError(f"the classifier checks prompt strings, got {type(text).__name__}")
        probs = self.head.probs(self.embedder([text]))[0]  # [C]
        p_unsafe, threshold = float(1 - probs[0]), self.threshold
        if p_unsafe < threshold:
            return Verdict.allow(self.name, f"P(unsafe)={p_unsafe:.2f}", score=p_unsafe, threshold=threshold)
        k = int(probs[1:].argmax()) + 1
        category = self.head.categories[k]
        words = self.top_words(text)
        hint = (
            f"the words that raise the score most are {', '.join(repr(w) for w in words)}; " if words else ""
        ) + "describe the physical scene plainly (objects, tools, vehicles, what moves where)"
        return Verdict.block(
            f"prompt classified unsafe (P(unsafe)={p_unsafe:.2f} >= threshold {threshold:.2f}, {category})",
            category, self.name, score=p_unsafe, threshold=threshold, hint=hint,
        )  # fmt: skip

    def top_words(self, text: str, k: int = 3) -> list[str]:
        """The `k` words whose removal lowers P(unsafe) most (occlusion; run only on a block)."""
        words = text.split()
        if len(words) < 2:
            return words
        variants = [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        p = self.unsafe_probability([text, *variants])  # [1 + n]
        drops = p[0] - p[1:]  # [n]
        order = drops.argsort(descending=True)[:k]
        return [words[int(i)].strip(".,;:!?\"'") for i in order if float(drops[i]) > 0.05]


# -- training ------------------------------------------------------------------------------------
def train_head(
    emb: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int = len(CATEGORIES),
    steps: int = 300,
    lr: float = 0.05,
    weight_decay: float = 0.1,
    scale: float = 5.0,
    seed: int = 0,
) -> Head:
    """Full-batch AdamW on class-balanced cross-entropy; emb [N, D] float, labels [N] long.

    Embeddings are unit vectors with cosines ~0.1-0.6; the logits are `scale * (e @ W.T) + b` so the
    softmax can get confident. scale 5 with weight decay 0.1 had the best out-of-fold recall at <= 2%
    out-of-fold false positives among scale {5, 10, 20} x decay {0.01, 0.1, 0.3, 1} (5-fold CV on the
    train split; scale 10 / decay 0.01 saturated P(unsafe) so the threshold sat at 0.99)."""
    g = torch.Generator().manual_seed(seed)
    d = emb.shape[1]
    weight = (torch.randn(num_classes, d, generator=g) * 0.01).requires_grad_()
    bias = torch.zeros(num_classes, requires_grad=True)
    counts = torch.bincount(labels, minlength=num_classes).float().clamp(min=1)
    class_w = counts.sum() / (num_classes * counts)  # inverse frequency
    opt = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(scale * (emb @ weight.T) + bias, labels, weight=class_w)
        loss.backward()
        opt.step()
    return Head((scale * weight).detach(), bias.detach())


def choose_threshold(
    emb: torch.Tensor, labels: torch.Tensor, *, folds: int = 5, max_fpr: float = 0.02, seed: int = 0
) -> float:
    """The lowest threshold whose out-of-fold false-positive rate on safe prompts is <= `max_fpr`
    (k-fold cross-validation on the training split only; the test split stays unseen)."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    p_unsafe = torch.empty(len(labels))
    for k in range(folds):
        held = order[k::folds]
        keep = torch.ones(len(labels), dtype=torch.bool)
        keep[held] = False
        head = train_head(emb[keep], labels[keep], seed=seed)
        p_unsafe[held] = 1 - head.probs(emb[held])[:, 0]
    safe = p_unsafe[labels == 0]
    for threshold in [k / 100 for k in range(50, 100)]:
        if float((safe >= threshold).float().mean()) <= max_fpr:
            return threshold
    return 0.99


def calibrate_threshold(p_safe_prompts: torch.Tensor, *, max_fpr: float = 0.002) -> float:
    """The lowest threshold (3 decimals) at which at most a `max_fpr` share of the safe calibration
    prompts' P(unsafe) would be blocked; the calibration split is never used for training or testing."""
    ranked = p_safe_prompts.sort(descending=True).values
    allowed = int(max_fpr * len(ranked))  # how many safe prompts may score at or above the threshold
    if allowed >= len(ranked):
        return 0.5
    # + 1e-3 (of a step): a float32 score 0.997 is 0.99699998, and must not set the threshold to 0.997
    return min(0.999, round(math.floor(float(ranked[allowed]) * 1000 + 1e-3) / 1000 + 0.001, 3))


def binary_metrics(blocked: Sequence[bool], unsafe: Sequence[bool]) -> dict[str, float]:
    """Precision, recall and false-positive rate of `blocked` against the truth `unsafe`."""
    tp = sum(b and u for b, u in zip(blocked, unsafe, strict=True))
    fp = sum(b and not u for b, u in zip(blocked, unsafe, strict=True))
    fn = sum(u and not b for b, u in zip(blocked, unsafe, strict=True))
    negatives = sum(not u for u in unsafe)
    return {
        "precision": tp / max(1, tp + fp),
        "recall": tp / max(1, tp + fn),
        "false_positive_rate": fp / max(1, negatives),
        "n": len(unsafe),
    }


def train_classifier(
    out: str | os.PathLike,
    *,
    prompts: str | os.PathLike | None = None,
    seed: int = 0,
    max_fpr: float = 0.002,
    embedder: SentenceEmbedder | None = None,
) -> dict:
    """Train the head on the `train` split, calibrate its threshold on the `calib` split (the lowest
    with at most `max_fpr` false positives there; 5-fold CV on `train` when there is no `calib`),
    evaluate on `test` (alone and OR-ed with the blocklist), save the head to `out` (safetensors,
    atomic) and return the metrics."""
    from worldsmith.guardrails.blocklist import Blocklist

    embedder = embedder or SentenceEmbedder()
    train, calib, test = (load_prompts(s, prompts) for s in ("train", "calib", "test"))
    if not train or not test:
        raise GuardrailError(
            "training the prompt classifier needs prompts in both the 'train' and 'test' splits"
        )
    index = {c: k for k, c in enumerate(CATEGORIES)}
    emb_train = embedder([r["text"] for r in train])
    labels = torch.tensor([index[r["label"]] for r in train])
    head = train_head(emb_train, labels, seed=seed)
    if calib:
        p_calib = 1 - head.probs(embedder([r["text"] for r in calib]))[:, 0]
        safe = torch.tensor([r["label"] == "safe" for r in calib])
        threshold = calibrate_threshold(p_calib[safe], max_fpr=max_fpr)
        calibration = {"split": "calib", "n": len(calib), "max_fpr": max_fpr,
                       "recall": round(float((p_calib[~safe] >= threshold).float().mean()), 4)}  # fmt: skip
    else:
        threshold = choose_threshold(emb_train, labels, seed=seed, max_fpr=max_fpr)
        calibration = {"split": "5-fold CV on train", "max_fpr": max_fpr}
    head = dataclasses.replace(head, threshold=threshold)
    p_test = 1 - head.probs(embedder([r["text"] for r in test]))[:, 0]
    truth = [r["label"] != "safe" for r in test]
    by_classifier = [bool(p >= head.threshold) for p in p_test]
    blocklist = Blocklist.default()
    by_blocklist = [not blocklist.check(r["text"]).ok for r in test]
    by_both = [c or b for c, b in zip(by_classifier, by_blocklist, strict=True)]
    train_acc = float((head.probs(emb_train).argmax(-1) == labels).float().mean())
    metrics = {
        "train_size": len(train),
        "calib_size": len(calib),
        "test_size": len(test),
        "train_accuracy": round(train_acc, 4),
        "threshold": threshold,
        "calibration": calibration,
        "classifier": {k: round(v, 4) for k, v in binary_metrics(by_classifier, truth).items()},
        "blocklist": {k: round(v, 4) for k, v in binary_metrics(by_blocklist, truth).items()},
        "blocklist_or_classifier": {k: round(v, 4) for k, v in binary_metrics(by_both, truth).items()},
        "seed": seed,
    }
    head.save(out, metrics)
    return metrics
