"""The physical-AI domain corpus: reproducible from its generator, large, split by seed, and the
blocklist blocks none of it (nor the twins' captions and the negative prompts pipelines ship)."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from worldsmith.guardrails.blocklist import Blocklist

GENERATOR = Path(__file__).parents[2] / "benchmarks" / "guard_corpus.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("guard_corpus", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    text = resources.files("worldsmith.guardrails").joinpath("data/domain_prompts.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_generator_reproduces_the_shipped_file(gen):
    shipped = (
        resources.files("worldsmith.guardrails").joinpath("data/domain_prompts.jsonl").read_text("utf-8")
    )
    assert gen.render(gen.corpus()) == shipped  # rerun benchmarks/guard_corpus.py after editing it
    assert gen.render(gen.corpus(seed=1)) != shipped  # the split and sample depend on the seed


def test_corpus_size_domains_and_disjoint_splits(rows):
    benign = [r for r in rows if r["label"] == "safe"]
    assert len(benign) >= 1000
    domains = Counter(r["domain"] for r in benign)
    assert set(domains) == {"robot_manipulation", "driving", "egocentric_work", "physics", "crash_tests",
                            "tools", "food", "medicine"}  # fmt: skip
    assert min(domains.values()) >= 100
    splits = Counter(r["split"] for r in benign)
    assert splits["test"] >= 500 and splits["calib"] >= 300 and splits["train"] >= 1000
    texts: dict[str, set[str]] = {}
    for r in rows:
        texts.setdefault(r["split"], set()).add(r["text"])
    assert not texts["train"] & texts["test"] and not texts["calib"] & texts["test"]
    assert not texts["train"] & texts["calib"]
    unsafe = [r for r in rows if r["label"] != "safe" and r["split"] == "test"]
    assert len(unsafe) >= 50 and len({r["label"] for r in unsafe}) >= 6


def test_blocklist_blocks_no_benign_domain_prompt(rows, gen):
    blocklist = Blocklist.default()
    benign = [r["text"] for r in rows if r["label"] == "safe"]
    benign += gen.twin_captions() + gen.NEGATIVE_PROMPTS
    blocked = [(t, blocklist.check(t).reason) for t in benign]
    blocked = [b for b in blocked if b[1]]
    # before the context-aware list: 164 of the 2745 domain prompts (wire stripper, grease nipple,
    # stab wound, retarder, killer chili, opioid overdose, ...)
    assert not blocked, blocked[:5]
    assert len(gen.twin_captions()) >= 40
