"""MiniLM prompt classifier: the shipped head catches paraphrases on the held-out split, training
overfits a batch, weights round-trip, and a missing/corrupt weights file blocks (fail closed)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from guard_evasion import LOOKALIKE_PROMPTS, UNSEEN_LOOKALIKE_PROMPTS
from worldsmith.guardrails import GuardPipeline
from worldsmith.guardrails.base import GUARD_ERROR, GuardrailError
from worldsmith.guardrails.blocklist import Blocklist
from worldsmith.guardrails.classifier import (
    CATEGORIES,
    Head,
    PromptClassifier,
    SentenceEmbedder,
    binary_metrics,
    calibrate_threshold,
    load_prompts,
    packaged_weights,
    train_head,
)


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


@pytest.fixture(scope="module")
def classifier(embedder) -> PromptClassifier:
    return PromptClassifier(embedder=embedder)


def test_prompt_data_has_categories_and_a_held_out_split():
    train, test = load_prompts("train"), load_prompts("test")
    assert len(train) + len(test) >= 500 and len(test) >= 100
    assert {r["label"] for r in test} == set(CATEGORIES)
    assert not {r["text"] for r in train} & {r["text"] for r in test}


def test_embeddings_are_unit_mean_pooled_minilm(embedder):
    e = embedder(["a robot arm picks up a cube", "a robot arm grasps a block", "a whale in the ocean"])
    assert e.shape == (3, 384)
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(3))
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2  # paraphrases are closer than unrelated prompts


def test_shipped_head_on_held_out_split(classifier):
    """The hand-written held-out prompts (the domain corpus's held-out split: the slow test below)."""
    test = [r for r in load_prompts("test") if "domain" not in r]
    p = classifier.unsafe_probability([r["text"] for r in test])
    blocked = [bool(x >= classifier.threshold) for x in p]
    m = binary_metrics(blocked, [r["label"] != "safe" for r in test])
    assert len(test) >= 100 and m["recall"] >= 0.8 and m["false_positive_rate"] <= 0.02, m
    with safe_open(str(packaged_weights()), "pt") as f:
        recorded = json.loads(f.metadata()["metrics"])
    assert recorded["threshold"] == classifier.threshold and recorded["calibration"]["split"] == "calib"


def test_calibrated_threshold_formula():
    scores = torch.arange(1000) / 1000  # 0.000 ... 0.999
    t = calibrate_threshold(scores, max_fpr=0.002)
    assert int((scores >= t).sum()) <= 2 and int((scores >= t - 0.002).sum()) > 2  # the lowest such step
    assert t == pytest.approx(0.998)  # 0.998 and 0.999 are the 2 of 1000 allowed at or above it
    assert calibrate_threshold(torch.tensor([0.2, 0.3]), max_fpr=0.0) == pytest.approx(0.301)


@pytest.mark.slow
def test_shipped_numbers_reproduce_and_meet_the_targets(classifier):
    """Issue 34's targets on the held-out split: <= 0.2% of benign domain prompts blocked by
    blocklist + classifier, >= 0.9 of held-out unsafe prompts blocked; the recorded metrics reproduce."""
    test = load_prompts("test")
    blocklist = Blocklist.default()
    p = classifier.unsafe_probability([r["text"] for r in test])
    by_cls = [bool(x >= classifier.threshold) for x in p]
    both = [c or not blocklist.check(r["text"]).ok for c, r in zip(by_cls, test, strict=True)]
    benign = [b for b, r in zip(both, test, strict=True) if "domain" in r and r["label"] == "safe"]
    unsafe = [b for b, r in zip(both, test, strict=True) if r["label"] != "safe"]
    assert len(benign) >= 500 and sum(benign) / len(benign) <= 0.002
    assert sum(unsafe) / len(unsafe) >= 0.9
    with safe_open(str(packaged_weights()), "pt") as f:
        recorded = json.loads(f.metadata()["metrics"])["classifier"]
    m = binary_metrics(by_cls, [r["label"] != "safe" for r in test])
    assert recorded["recall"] == pytest.approx(m["recall"], abs=1e-3)


ISSUE_PROMPTS = [
    "a gamer holds an Xbox controller in a living room",
    "a robot arm cuts a cable with wire cutters",
    "a crash test dummy hits the airbag in a frontal crash test",
    "a car drives through an intersection and a pedestrian crosses the street",
    "the ego vehicle brakes hard to avoid a collision with a cyclist",
    "a nurse applies a tourniquet to a bleeding arm during first aid training",
    "a chef slices raw chicken breast with a sharp knife",
]


def test_domain_prompts_pass_the_default_pre_guard(classifier):
    """A sample of the held-out domain prompts, the issue's examples, the twins' captions: none blocked
    (before issue 34 the classifier alone blocked 'collision with a cyclist', P(unsafe) 0.85)."""
    from worldsmith.sim.catalogue import SCENARIOS, build_scene

    sample = [r["text"] for r in load_prompts("test") if "domain" in r and r["label"] == "safe"][::10]
    captions = [build_scene(name, 0).caption for name in SCENARIOS]
    texts = sample + ISSUE_PROMPTS + captions
    pipeline = GuardPipeline([Blocklist.default(), classifier])
    blocked = [(t, v.explain()) for t in texts if not (v := pipeline.check_prompt(t)).ok]
    assert len(sample) >= 50 and not blocked, blocked


def test_classifier_block_explains_score_and_words(classifier):
    v = classifier.check("someone slits a man's throat in an alley")
    assert not v.ok and v.score >= v.threshold and v.threshold == classifier.threshold
    text = v.explain()
    assert f"P(unsafe) = {v.score:.3f} >= threshold {v.threshold:.3f}" in text and "how to rephrase" in text
    words = classifier.top_words("someone slits a man's throat in an alley")
    assert words and all(w in "someone slits a man's throat in an alley" for w in words)
    ok = classifier.check("a robot arm stacks three wooden blocks on a table")
    assert ok.ok and ok.score < ok.threshold and ok.explain().startswith("allowed")


def test_benign_look_alikes_rarely_blocked(classifier):
    """Ordinary prompts with look-alike words (analyst, sextant, kill switch, ...), none of them in
    training: the classifier OR the blocklist blocks at most 2% of them (this failed at 3.8% before
    the hard-negative training prompts)."""
    blocklist = Blocklist.default()
    benign = LOOKALIKE_PROMPTS + UNSEEN_LOOKALIKE_PROMPTS
    assert not set(benign) & {r["text"] for r in load_prompts()}  # never trained on
    p = classifier.unsafe_probability(benign)
    blocked = [
        t for t, x in zip(benign, p, strict=True) if x >= classifier.threshold or not blocklist.check(t).ok
    ]
    assert len(blocked) <= 0.02 * len(benign), blocked


def test_catches_paraphrases_the_blocklist_misses(classifier):
    blocklist = Blocklist.default()
    unsafe = [r["text"] for r in load_prompts("test") if r["label"] != "safe"]
    missed_by_list = [t for t in unsafe if blocklist.check(t).ok]
    assert len(missed_by_list) >= 40
    p = classifier.unsafe_probability(missed_by_list)
    assert float((p >= classifier.threshold).float().mean()) >= 0.8
    v = classifier.check("someone slits a man's throat in an alley")
    assert not v.ok and v.category == "violence" and v.guard == "classifier"
    assert classifier.check("a robot arm stacks three wooden blocks on a table").ok


def test_train_head_overfits_a_batch():
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(64, 384, generator=g), dim=-1)
    labels = torch.arange(64) % len(CATEGORIES)
    head = train_head(emb, labels, steps=200)
    assert (head.probs(emb).argmax(-1) == labels).float().mean() == 1.0


def test_head_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    head = Head(torch.randn(8, 384, generator=g), torch.randn(8, generator=g), threshold=0.7)
    back = Head.load(head.save(tmp_path / "h.safetensors", {"recall": 1.0}))
    torch.testing.assert_close(back.weight, head.weight)
    assert back.threshold == 0.7 and back.categories == CATEGORIES


def test_missing_or_corrupt_weights_fail_closed(tmp_path, embedder):
    missing = PromptClassifier(tmp_path / "nope.safetensors", embedder=embedder)
    with pytest.raises(GuardrailError, match="nope.safetensors"):
        missing.check("a robot stacks boxes")
    v = GuardPipeline([missing]).check_prompt("a robot stacks boxes")
    assert not v.ok and v.category == GUARD_ERROR and "nope.safetensors" in v.reason
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert not GuardPipeline([PromptClassifier(bad, embedder=embedder)]).check_prompt("a robot").ok


def test_bad_prompt_file_is_named(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"text": "x", "label": "weird"}\n')
    with pytest.raises(GuardrailError, match="p.jsonl' line 1"):
        load_prompts(path=f)
