"""The guardrail seam: `Guardrail.check(item) -> Verdict`.

A guardrail looks at one item (a prompt string before generation, a video ``[T, H, W, 3]`` uint8
after it) and says whether it may pass. Cosmos (arXiv 2501.03575, Sec. 7) runs such guards before
any compute (pre-guard) and before anything is written (post-guard). This is a safety system, so
`run_guard` turns every exception of a guard into a blocking verdict: the pipeline fails closed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from worldsmith.errors import WorldsmithError

# Category of a verdict produced because a guard itself failed (missing model file, bad output...).
GUARD_ERROR = "guard_error"


@dataclass(frozen=True)
class Verdict:
    """The answer of a guard: `ok` is False when the item must be blocked.

    A block explains itself: `reason` (one line), and where the guard knows them the listed `term`
    and the prompt's words that `matched` it (blocklist), or the `score` against its `threshold`
    (classifiers), and a `hint` on how to rephrase. `explain()` is the text the CLI prints and the
    report shows; `to_dict()` the same facts for JSON.
    """

    ok: bool
    reason: str = ""
    category: str | None = None
    guard: str = ""
    term: str | None = None
    matched: str | None = None
    score: float | None = None
    threshold: float | None = None
    hint: str = ""

    @classmethod
    def allow(cls, guard: str = "", reason: str = "", **facts: Any) -> Verdict:
        return cls(ok=True, reason=reason, category=None, guard=guard, **facts)

    @classmethod
    def block(cls, reason: str, category: str | None, guard: str = "", **facts: Any) -> Verdict:
        return cls(ok=False, reason=reason, category=category, guard=guard, **facts)

    def __str__(self) -> str:
        if self.ok:
            return f"allowed{f' ({self.reason})' if self.reason else ''}"
        where = f" by {self.guard}" if self.guard else ""
        return f"blocked{where}: {self.reason} [category: {self.category or 'unspecified'}]"

    def explain(self) -> str:
        """The verdict, then (for a block) which guard, which term or score, and how to rephrase."""
        lines = [str(self)]
        if self.ok:
            return lines[0]
        if self.term is not None and self.matched not in (None, self.term):
            lines.append(f"  term: the words '{self.matched}' read as the listed term '{self.term}'")
        elif self.term is not None:
            lines.append(f"  term: '{self.term}' is on the blocklist ({self.category})")
        if self.score is not None and self.threshold is not None:
            lines.append(f"  score: P(unsafe) = {self.score:.3f} >= threshold {self.threshold:.3f}")
        if self.hint:
            lines.append(f"  how to rephrase: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "explanation": self.explain()}


@runtime_checkable
class Guardrail(Protocol):
    """One guard. `name` appears in verdicts; `check` is the one required method."""

    name: str

    def check(self, item: Any) -> Verdict: ...


class GuardrailError(WorldsmithError):
    """A guard cannot run (a model file is missing or unreadable); the message names the file and fix."""


class GuardBlocked(WorldsmithError):
    """Raised by `GuardPipeline.require_*` when an item is blocked; carries the verdict."""

    def __init__(self, what: str, verdict: Verdict):
        hint = f"; how to rephrase: {verdict.hint}" if verdict.hint else ""
        super().__init__(f"{what} {verdict}{hint}")  # one line: guard, term or score, the way out
        self.verdict = verdict


def run_guard(guard: Guardrail, item: Any) -> Verdict:
    """Run one guard and fail closed: any exception becomes a blocking verdict naming the error."""
    name = getattr(guard, "name", type(guard).__name__)
    try:
        verdict = guard.check(item)
    except Exception as err:  # noqa: BLE001 - fail closed on any failure of a guard
        return Verdict.block(f"guard failed ({type(err).__name__}: {err})", GUARD_ERROR, name)
    if not isinstance(verdict, Verdict):
        return Verdict.block(f"guard returned {type(verdict).__name__}, not a Verdict", GUARD_ERROR, name)
    if not verdict.guard:
        verdict = dataclasses.replace(verdict, guard=name)
    return verdict
