"""LLM guard (pre-guard): a causal LM that reads a safety policy and answers `safe` or `unsafe`.

Llama Guard (Inan et al. 2023, arXiv 2312.06674) and Aegis (Ghosh et al. 2024, arXiv 2404.05993,
the guard Cosmos uses) are instruction-tuned LLMs prompted with a list of unsafe-content
categories and the conversation to judge; they answer on the first line `safe` or `unsafe`, and
for `unsafe` list the violated category codes on the next line (`S1,S3`). `LlmGuard` loads such a
model with `transformers` from a local directory only (no hub access), builds the prompt (the
model's own chat template when it has one, which for Llama Guard carries its policy; otherwise our
template below), decodes greedily and parses the answer. An answer that is neither `safe` nor
`unsafe` raises, so the pipeline blocks: an LLM guard that cannot be understood fails closed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from worldsmith.guardrails.base import GuardrailError, Verdict

# Our policy: code -> (category, description). Codes follow Llama Guard's "S<n>" convention.
POLICY: dict[str, tuple[str, str]] = {
    "S1": ("violence", "Violence: killing, injuring, torturing or abusing people or animals; gore."),
    "S2": ("sexual", "Sexual content: nudity, sexual acts, sexual violence."),
    "S3": ("minors", "Minors: any sexualisation, abuse or endangerment of children."),
    "S4": ("self_harm", "Self-harm: suicide, self-injury, eating disorders, encouragement of them."),
    "S5": (
        "hate",
        "Hate: demeaning or attacking people for race, religion, gender, orientation, disability.",
    ),
    "S6": ("weapons", "Weapons: making or using explosives, chemical/biological weapons, illegal firearms."),
    "S7": ("illegal", "Illegal activity: drugs, theft, fraud, trafficking, other crimes."),
}

TEMPLATE = """You are a content-safety reviewer for a video generation service.
Decide whether the user's request below asks for content in any of these unsafe categories.

[CATEGORIES]
{categories}
[/CATEGORIES]

[REQUEST]
User: {prompt}
[/REQUEST]

Answer about the user's request only.
Line 1: the single word 'safe' or 'unsafe'.
Line 2 (only if unsafe): the codes of the violated categories, separated by commas.
"""


@dataclass(frozen=True)
class GuardAnswer:
    safe: bool
    codes: tuple[str, ...] = ()


def build_prompt(prompt: str, policy: dict[str, tuple[str, str]] = POLICY) -> str:
    categories = "\n".join(f"{code}: {desc}" for code, (_, desc) in policy.items())
    return TEMPLATE.format(categories=categories, prompt=prompt.strip())


def parse_answer(text: str) -> GuardAnswer:
    """`safe` / `unsafe\\nS1,S3` -> GuardAnswer; anything else raises ValueError (fail closed)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0].split()[0].strip(".,:;'\"").lower() if lines else ""
    if first == "safe":
        return GuardAnswer(True)
    if first == "unsafe":
        rest = " ".join([lines[0][len(lines[0].split()[0]) :], *lines[1:]])
        codes = tuple(dict.fromkeys(c.upper() for c in re.findall(r"\b[sSoO]\d{1,2}\b", rest)))
        return GuardAnswer(False, codes)
    raise ValueError(f"LLM guard answered neither 'safe' nor 'unsafe': {text[:80]!r}")


class LlmGuard:
    """Pre-guard backed by a local Llama-Guard-style model directory (config, tokenizer, weights)."""

    name = "llm_guard"

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        policy: dict[str, tuple[str, str]] = POLICY,
        use_chat_template: bool = True,
        max_new_tokens: int = 16,
        device: str = "cpu",
    ):
        self.model_dir = Path(model_dir)
        self.policy, self.use_chat_template = policy, use_chat_template
        self.max_new_tokens, self.device = max_new_tokens, device
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import transformers

            if not (self.model_dir / "config.json").is_file():
                raise GuardrailError(
                    f"LLM guard model directory '{self.model_dir}' has no config.json; download a guard "
                    "model (e.g. meta-llama/Llama-Guard-3-1B) once with `huggingface-cli download` and "
                    "pass its folder"
                )
            try:
                tok = transformers.AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    str(self.model_dir), local_files_only=True
                )
            except (OSError, ValueError) as err:
                raise GuardrailError(
                    f"LLM guard model in '{self.model_dir}' cannot be loaded ({err})"
                ) from None
            self._tokenizer, self._model = tok, model.eval().to(self.device)
        return self._tokenizer, self._model

    def render(self, prompt: str) -> str:
        """The text the model reads: its own chat template when it has one, else our TEMPLATE."""
        tok, _ = self._load()
        if self.use_chat_template and getattr(tok, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return build_prompt(prompt, self.policy)

    def generate(self, prompt: str) -> str:
        import torch

        tok, model = self._load()
        inputs = tok(self.render(prompt), return_tensors="pt", add_special_tokens=False).to(self.device)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad
            )  # [1, L + new]
        return tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def check(self, text: str) -> Verdict:
        if not isinstance(text, str):
            raise TypeError(f"the LLM guard checks prompt strings, got {type(text).__name__}")
        answer = parse_answer(self.generate(text))  # ValueError on a garbled answer: fails closed
        if answer.safe:
            return Verdict.allow(self.name)
        categories = [self.policy[c][0] for c in answer.codes if c in self.policy]
        codes = ",".join(answer.codes) or "no category given"
        return Verdict.block(
            f"LLM guard judged the prompt unsafe ({codes})", categories[0] if categories else None
        )
