"""The translation-artifact cleaner: a rule set run by the edit engine.

``clean_text(raw, config)`` is the whole cleaner for one document; ``CleanConfig`` says which
rules run and with which exceptions; ``cleaner_version(config)`` names what produced an output.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

from tasks.clean.engine import (
    AppliedEdit,
    AppliedFlag,
    CleanResult,
    OffsetMap,
    Rule,
    replay,
    run_rules,
)
from tasks.clean.evidence import BatchEvidence, gather
from tasks.clean.glossary import Glossary, load_glossary
from tasks.clean.grammar import tagger_version
from tasks.clean.lines import BoilerplateLine, hyphenation
from tasks.clean.normalize import encoding, whitespace
from tasks.clean.punctuation import punctuation_spacing
from tasks.clean.repetition import (
    DuplicatePhrase,
    DuplicateWord,
    default_exceptions,
    duplicate_sentence,
    interjections,
    phrasal_verbs,
)
from tasks.clean.sentences import broken_sentence

__all__ = [
    "RULE_NAMES", "AppliedEdit", "AppliedFlag", "BatchEvidence", "CleanConfig", "CleanResult",
    "OffsetMap", "build_rules", "clean_text", "cleaner_version", "gather", "replay",
]

CLEANER_RELEASE = "0.2.0"

# The order rules run in: characters first, then lines, then spacing, then repetition (which
# needs normalised spacing to see "word  word"), then the user's glossary, then the checks.
RULE_NAMES = (
    "encoding",
    "whitespace",
    "hyphenation",
    "boilerplate_line",
    "punctuation_spacing",
    "duplicate_sentence",
    "duplicate_phrase",
    "duplicate_word",
    "glossary",
    "broken_sentence",
)

_REPETITION = frozenset({"duplicate_sentence", "duplicate_phrase", "duplicate_word"})


@dataclass(frozen=True)
class CleanConfig:
    """Which rules run, and the user's exceptions and glossary."""

    rules: tuple[str, ...] = RULE_NAMES
    exceptions: tuple[str, ...] = ()  # extra "word word" / "word" kept by duplicate_word
    glossary: tuple[tuple[str, str], ...] = ()  # (variant, preferred)

    def __post_init__(self) -> None:
        unknown = [r for r in self.rules if r not in RULE_NAMES]
        if unknown:
            raise ValueError(f"unknown cleaning rule(s) {', '.join(map(repr, unknown))}; "
                             f"available: {', '.join(RULE_NAMES)}")

    @classmethod
    def from_options(cls, rules: list[str] | None = None, exceptions: list[str] | None = None,
                     glossary_path: str | None = None) -> CleanConfig:
        glossary = tuple(load_glossary(glossary_path).items()) if glossary_path else ()
        return cls(
            rules=tuple(rules) if rules else RULE_NAMES,
            exceptions=tuple(e.strip().lower() for e in exceptions or () if e.strip()),
            glossary=glossary,
        )


def cleaner_version(config: CleanConfig) -> str:
    """Release plus a digest of the settings and of the data the rules decide with (the tagger's
    model, wordfreq's lists, the shipped reduplications): equal strings mean equal cleaning."""
    import importlib.metadata

    settings = {**asdict(config), "tagger": tagger_version(),
                "wordfreq": importlib.metadata.version("wordfreq"),
                "reduplications": sorted(default_exceptions()),
                "interjections": sorted(interjections()), "phrasal_verbs": sorted(phrasal_verbs())}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{CLEANER_RELEASE}+{digest}"


NO_EVIDENCE = BatchEvidence()  # one document alone: nothing known of a batch


# Keyed on the batch's evidence too: each batch of a worker gets the rules its own evidence makes
# (evidence is compared by value, never ignored, so one batch's lines never leak into the next).
@lru_cache(maxsize=32)
def build_rules(config: CleanConfig, evidence: BatchEvidence = NO_EVIDENCE) -> tuple[Rule, ...]:
    exceptions = default_exceptions() | frozenset(config.exceptions)
    makers = {
        "encoding": lambda: Rule("encoding", encoding, passes=4),
        "whitespace": lambda: Rule("whitespace", whitespace, passes=3),
        "hyphenation": lambda: Rule("hyphenation", hyphenation, passes=2),
        "boilerplate_line": lambda: Rule(
            "boilerplate_line", BoilerplateLine(evidence.recurring_lines), passes=2),
        "punctuation_spacing": lambda: Rule("punctuation_spacing", punctuation_spacing, passes=2),
        "duplicate_sentence": lambda: Rule("duplicate_sentence", duplicate_sentence, passes=3),
        "duplicate_phrase": lambda: Rule("duplicate_phrase", DuplicatePhrase(exceptions), passes=3),
        "duplicate_word": lambda: Rule("duplicate_word", DuplicateWord(exceptions, evidence), passes=3),
        "glossary": lambda: Rule("glossary", Glossary(config.glossary)),
        "broken_sentence": lambda: Rule("broken_sentence", broken_sentence),
    }
    rules = [makers[name]() for name in RULE_NAMES if name in config.rules]
    # Removing one kind of repetition can reveal another ("the the cat the cat"): when any of
    # them edited, they run once more, so that cleaning the output again changes nothing.
    repetition = [r for r in rules if r.name in _REPETITION]
    if repetition:
        at = rules.index(repetition[-1]) + 1
        rules[at:at] = [replace(r, only_after=_REPETITION) for r in repetition]
    # Mojibake is read per line: a no-break space the whitespace rule removes can change what
    # ftfy sees ("\xa0Â\x80"); when it edited, the encoding rule looks once more.
    names = [r.name for r in rules]
    if "encoding" in names and "whitespace" in names:
        at = names.index("whitespace") + 1
        rules.insert(at, replace(rules[names.index("encoding")],
                                 only_after=frozenset({"whitespace"})))
    return tuple(rules)


def clean_text(raw_text: str, config: CleanConfig = CleanConfig(),
               evidence: BatchEvidence = NO_EVIDENCE) -> CleanResult:
    """Clean one document: the clean text, the edits applied and the flags raised. ``evidence``
    is what the document's batch says (``gather(texts)``): recurring lines, names used doubled."""
    return run_rules(raw_text, build_rules(config, evidence))
