"""Guardrails: pre-guards on prompts and post-guards (content safety, face blur) on videos."""

from worldsmith.guardrails.base import GuardBlocked, Guardrail, GuardrailError, Verdict, run_guard
from worldsmith.guardrails.blocklist import Blocklist
from worldsmith.guardrails.pipeline import GuardPipeline, default_pipeline

__all__ = [
    "Blocklist",
    "GuardBlocked",
    "GuardPipeline",
    "Guardrail",
    "GuardrailError",
    "Verdict",
    "default_pipeline",
    "run_guard",
]
