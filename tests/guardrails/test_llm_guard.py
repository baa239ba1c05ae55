"""LLM guard: template and answer parsing, and the full transformers path on tiny random Llama
models built from a config (no weights are downloaded); garbled answers and missing models block."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worldsmith.guardrails import GuardPipeline
from worldsmith.guardrails.base import GUARD_ERROR, GuardrailError
from worldsmith.guardrails.llm_guard import POLICY, LlmGuard, build_prompt, parse_answer

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


def tiny_guard_model(folder: Path, words: list[str], *, constant: bool) -> Path:
    """A 2-layer Llama with a word-level tokenizer over `words`; with `constant` its logits are all
    zero, so greedy decoding repeats token 0 (= words[0])."""
    vocab = {w: i for i, w in enumerate([*words, "[UNK]", "[PAD]", "[EOS]"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        pad_token_id=vocab["[PAD]"], eos_token_id=vocab["[EOS]"], bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    if constant:
        model.model.norm.weight.data.zero_()  # hidden state 0 -> every logit 0 -> argmax is token 0
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_template_lists_policy_and_prompt():
    text = build_prompt("  a robot stacks boxes ")
    assert "User: a robot stacks boxes\n" in text
    for code, (_, desc) in POLICY.items():
        assert f"{code}: {desc}" in text


@pytest.mark.parametrize(
    ("answer", "safe", "codes"),
    [("safe", True, ()), ("  Safe.\n", True, ()), ("unsafe\nS1,S3", False, ("S1", "S3")),
     ("unsafe\nS2", False, ("S2",)), ("unsafe S5", False, ("S5",)), ("unsafe\nO3", False, ("O3",)),
     ("unsafe", False, ())],
)  # fmt: skip
def test_parse_answer(answer, safe, codes):
    parsed = parse_answer(answer)
    assert parsed.safe is safe and parsed.codes == codes


@pytest.mark.parametrize("answer", ["", "maybe", "I cannot answer", "unsafely safe"])
def test_garbled_answers_raise(answer):
    with pytest.raises(ValueError):
        parse_answer(answer)


def test_tiny_model_that_says_safe(tmp_path):
    guard = LlmGuard(tiny_guard_model(tmp_path, ["safe", "unsafe", "S1"], constant=True), max_new_tokens=3)
    assert guard.generate("a robot stacks boxes").split()[0] == "safe"
    assert guard.check("a robot stacks boxes").ok
    assert "[CATEGORIES]" in guard.render("x")  # no chat template -> our template


def test_tiny_model_that_says_unsafe(tmp_path):
    guard = LlmGuard(tiny_guard_model(tmp_path, ["unsafe", "safe"], constant=True), max_new_tokens=3)
    verdict = GuardPipeline([guard]).check_prompt("anything")
    assert not verdict.ok and verdict.guard == "llm_guard" and "unsafe" in verdict.reason


def test_random_model_without_an_answer_word_blocks(tmp_path):
    guard = LlmGuard(
        tiny_guard_model(tmp_path, ["maybe", "perhaps", "robot"], constant=False), max_new_tokens=4
    )
    verdict = GuardPipeline([guard]).check_prompt("a robot stacks boxes")
    assert not verdict.ok and verdict.category == GUARD_ERROR and "neither" in verdict.reason


def test_chat_template_is_used_when_present(tmp_path):
    folder = tiny_guard_model(tmp_path, ["safe"], constant=True)
    guard = LlmGuard(folder)
    tok, _ = guard._load()
    tok.chat_template = "POLICY-OF-THE-MODEL {{ messages[0]['content'] }}"
    assert guard.render("hello there") == "POLICY-OF-THE-MODEL hello there"
    assert LlmGuard(folder, use_chat_template=False).render("hi").startswith("You are a content-safety")


def test_missing_model_dir_blocks(tmp_path):
    guard = LlmGuard(tmp_path / "no-model")
    with pytest.raises(GuardrailError, match="no-model"):
        guard.check("a robot")
    v = GuardPipeline([guard]).check_prompt("a robot")
    assert not v.ok and v.category == GUARD_ERROR
