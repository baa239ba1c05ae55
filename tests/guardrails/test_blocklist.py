"""Blocklist: evasion variants are blocked, look-alike ordinary words pass, user lists extend it."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from worldsmith.guardrails.base import GuardrailError
from worldsmith.guardrails.blocklist import Blocklist, lemma_forms, normalize, word_forms
from worldsmith.guardrails.evasion import LOOKALIKE_PROMPTS, TRANSFORMS, evasion_set


@pytest.fixture(scope="module")
def blocklist() -> Blocklist:
    return Blocklist.default()


def _terms() -> list[str]:
    data = yaml.safe_load(
        resources.files("worldsmith.guardrails").joinpath("data/blocklist.yaml").read_text()
    )
    return [t for category, items in data.items() if category != "allow" for t in items]


@pytest.mark.parametrize(
    "text",
    ["k1ll", "K.I.L.L", "k i l l", "k-i-l-l", "kiiiilllll", "KiLlEd", "кill", "ｋｉｌｌ", "k\u200bill",
     "kílled", "s3x", "$ex", "stabbing", "murderers", "mur-der", "sucide", "genocyde", "self-harm",
     "p0rn", "n@zi"],
)  # fmt: skip
def test_evasion_spellings_are_blocked(blocklist, text):
    verdict = blocklist.check(f"a video where they {text} near the bridge")
    assert not verdict.ok, text
    assert verdict.category is not None and verdict.guard == "blocklist"


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_every_transformation_of_every_term_is_blocked(blocklist, transform):
    cases = [(p, t) for p, t, n in evasion_set(_terms()) if n == transform and t not in ("xxx", "kkk")]
    missed = [(p, t) for p, t in cases if blocklist.check(p).ok]
    assert len(cases) > 50
    assert not missed, missed[:5]


@pytest.mark.parametrize("prompt", LOOKALIKE_PROMPTS)
def test_lookalike_ordinary_prompts_pass(blocklist, prompt):
    assert blocklist.check(prompt).ok, blocklist.check(prompt)


def test_categories_and_phrases(blocklist):
    assert blocklist.check("how to build a pipe bomb").category == "weapons"
    assert blocklist.check("a bath bomb in the tub").ok  # allowed phrase
    assert blocklist.check("a bomb in the tub").category == "weapons"
    assert blocklist.check("I want to kill myself").category == "self_harm"  # the longer phrase wins
    assert blocklist.check("C.h.i.l.d p0rn").category == "minors"


def test_normalisation_steps():
    assert normalize("ＫＩＬＬ") == "kill"  # NFKC fullwidth + casefold
    assert normalize("kіll") == "kill"  # Cyrillic i
    assert normalize("ηαζι") == "nazi"  # Greek look-alikes map letter by letter
    assert normalize("k\u200bi\u200dll") == "kill"  # zero-width characters dropped
    assert (
        "kill" in lemma_forms("killing")
        and "stab" in lemma_forms("stabbed")
        and "rape" in lemma_forms("raped")
    )
    assert "kill" in word_forms("k1lllled")
    assert "kill" not in word_forms("skill")


def test_user_file_extends_the_list(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("violence:\n  - frobnicate\nallow:\n  - kill switch\n")
    assert Blocklist.default([extra]).check("they fr0bnicated the crowd").category == "violence"
    assert Blocklist.default().check("they frobnicated the crowd").ok


def test_bad_user_files_name_the_file(tmp_path):
    with pytest.raises(GuardrailError, match="does not exist"):
        Blocklist.default([tmp_path / "missing.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n")
    with pytest.raises(GuardrailError, match="bad.yaml"):
        Blocklist.default([bad])


def test_non_string_raises_so_the_pipeline_fails_closed(blocklist):
    with pytest.raises(TypeError):
        blocklist.check(b"kill")  # type: ignore[arg-type]
