"""The translation-artifact cleaner: a rule set run by the edit engine.

``clean_text(raw, config)`` is the whole cleaner for one document; ``CleanConfig`` says which
rules run and with which exceptions; ``cleaner_version(config)`` names what produced an output.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

from tasks.clean import glossary, lines, normalize, punctuation, repetition, sentences
from tasks.clean.engine import (
    AppliedEdit,
    AppliedFlag,
    CleanResult,
    OffsetMap,
    Rule,
    TooSlow,
    replay,
    run_rules,
)
from tasks.clean.evidence import BatchEvidence, gather
from tasks.clean.glossary import load_glossary
from tasks.clean.registry import RuleSet

__all__ = [
    "RULES", "RULE_NAMES", "AppliedEdit", "AppliedFlag", "BatchEvidence", "CleanConfig",
    "CleanResult", "OffsetMap", "TooSlow", "build_rules", "clean_text", "cleaner_version", "gather",
    "replay",
]

# 0.2.1: punctuation spacing settles in one cleaning (up to 4 passes); 0.3.0: doubles English
# makes on purpose are kept (sound words, compounds, dotted names, idioms, names that are words)
CLEANER_RELEASE = "0.3.0"

# The order rules run in, by the modules that declare them (each module's ``RULES``): characters
# first, then lines, then spacing, then repetition (which needs normalised spacing to see
# "word  word"), then the user's glossary, then the checks. A new rule is declared in its
# module; a new module is one line here.
RULES = RuleSet.of([normalize, lines, punctuation, repetition, glossary, sentences])
RULE_NAMES = RULES.names


@dataclass(frozen=True)
class CleanConfig:
    """Which rules run, and the user's exceptions and glossary."""

    rules: tuple[str, ...] = RULE_NAMES
    exceptions: tuple[str, ...] = ()  # extra "word word" / "word" kept by duplicate_word
    glossary: tuple[tuple[str, str], ...] = ()  # (variant, preferred)

    def __post_init__(self) -> None:
        RULES.check(self.rules)

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
    """Release plus a digest of the settings and of the data the rules decide with (each rule
    module declares its own: the tagger's model, wordfreq's lists, the shipped reduplications):
    equal strings mean equal cleaning."""
    settings = {**asdict(config), **RULES.decided_with()}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{CLEANER_RELEASE}+{digest}"


NO_EVIDENCE = BatchEvidence()  # one document alone: nothing known of a batch


# Keyed on the batch's evidence too: each batch of a worker gets the rules its own evidence makes
# (evidence is compared by value, never ignored, so one batch's lines never leak into the next).
@lru_cache(maxsize=32)
def build_rules(config: CleanConfig, evidence: BatchEvidence = NO_EVIDENCE) -> tuple[Rule, ...]:
    return RULES.build(config, evidence)


def clean_text(raw_text: str, config: CleanConfig = CleanConfig(),
               evidence: BatchEvidence = NO_EVIDENCE, budget: float | None = None) -> CleanResult:
    """Clean one document: the clean text, the edits applied and the flags raised. ``evidence``
    is what the document's batch says (``gather(texts)``): recurring lines, names used doubled.
    Cleaning for longer than ``budget`` seconds (None: no limit) raises ``TooSlow``."""
    return run_rules(raw_text, build_rules(config, evidence), budget)
