"""Grammar of a suspect only: spaCy's tagger run on the few sentences that hold a doubled word
whose doubling can be correct English ("had had enough", "lent her her car").

The tagger reads the sentence as it would be with the double undone, so that it sees ordinary
English ("a party that had warned"), and the rules in ``tasks.clean.repetition`` decide from the
tags of the words around it. Sentences are few (a few per artifact-laden document, none in clean
text without such doubles), so the model's cost stays small; ``tag`` caches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tasks.models import DEFAULT_MODEL, load_tagger, model_version


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int  # offset in the tagged text
    tag: str  # Penn Treebank tag: VBN, PRP$, MD, ...
    pos: str  # universal POS: VERB, AUX, NOUN, ...
    lemma: str


def tagger_version() -> str:
    """``name==version`` of the tagger's pipeline: its tags decide edits, so it names the cleaner."""
    return model_version(DEFAULT_MODEL)


@lru_cache(maxsize=4096)
def tag(text: str) -> tuple[Token, ...]:
    """The tokens of ``text`` with their tags."""
    return tuple(Token(t.text, t.idx, t.tag_, t.pos_, t.lemma_.lower())
                 for t in load_tagger()(text))


def token_at(tokens: tuple[Token, ...], start: int) -> int | None:
    """Index of the token that starts at ``start``, if one does."""
    for i, t in enumerate(tokens):
        if t.start == start:
            return i
        if t.start > start:
            return None
    return None
