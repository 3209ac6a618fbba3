"""Rule family for repetition loops of machine translation: ``duplicate_word``,
``duplicate_phrase`` and ``duplicate_sentence``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tasks.clean.engine import Edit, Flag

# Words whose doubling is grammatical English: "had had", "that that", "what it is is".
GRAMMATICAL_DOUBLES = frozenset(
    {"had", "that", "is", "was", "do", "does", "did", "in", "will", "can"}
)
# Words that make a doubling an artifact whatever the context.
_FUNCTION_WORDS = frozenset(
    "the a an of to and or but for with on at by from as into than this these those "
    "its their his her our your my we they he she it i you be been are were has have not "
    "including which who whom whose when where while after before during about over under "
    "between against among also very more most".split()
)


@cache
def default_exceptions() -> frozenset[str]:
    """Reduplicated names and words kept as they are ("Bora Bora"), from the shipped list."""
    text = resources.files("tasks.clean").joinpath("reduplications.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


_WORD = r"[^\W_]+(?:['\u2019][^\W_]+)?"
_DOUBLE = re.compile(rf"(?<![\w'\u2019-])({_WORD})([ \t]+)({_WORD})(?![\w'\u2019-])", re.I)


@dataclass(frozen=True, slots=True)
class DuplicateWord:
    """Removes a word repeated back to back ("including including"), keeping grammatical
    ("had had"), emphatic ("very, very": not adjacent), numeric and reduplicated-name cases."""

    exceptions: frozenset[str]

    def __call__(self, text: str) -> list[Edit | Flag]:
        out: list[Edit | Flag] = []
        pos = 0
        while True:
            m = _DOUBLE.search(text, pos)
            if m is None:
                return out
            first, second = m.group(1), m.group(3)
            if first.lower() != second.lower():
                pos = m.start(3)  # the second word may start the next pair
                continue
            pos = m.end()
            low = first.lower()
            if (low in GRAMMATICAL_DOUBLES or first.isdigit() or f"{low} {low}" in self.exceptions
                    or low in self.exceptions):
                continue
            both_capitalised = first[0].isupper() and second[0].isupper()
            if both_capitalised and low not in _FUNCTION_WORDS:
                # "Lang Lang", "Xi Xi": a name we do not know; a person decides
                out.append(Flag(m.start(), m.end(), "duplicate_word",
                                f"repeated capitalised word {first!r}: a name, or a doubling?"))
                continue
            out.append(Edit(m.end(1), m.end(3), "", "duplicate_word"))


_TOKEN = re.compile(r"\S+")
_CLOSING = re.compile(r"[,;:.!?)\]\u201d\u2019\"']$")


def duplicate_phrase(text: str, min_words: int = 2, max_words: int = 6) -> list[Edit]:
    """Removes a run of 2-6 words repeated back to back ("in the direction in the direction")."""
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    words = [t[2] for t in tokens]
    # only positions whose word recurs within max_words can start a repeat
    edits: list[Edit] = []
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        found = False
        for k in range(min_words, max_words + 1):
            if i + 2 * k > n or words[i + k] != w:
                continue
            if words[i:i + k] != words[i + k:i + 2 * k]:
                continue
            copy = tokens[i:i + 2 * k]
            gap = text[copy[k - 1][1]:copy[k][0]]
            if gap != " " * len(gap) or _CLOSING.search(words[i + k - 1]):
                continue  # across a line, or after punctuation: a list or emphasis, not a loop
            if all(not any(c.isalpha() for c in x) for x in words[i:i + k]):
                continue  # numbers and symbols ("1 2 1 2")
            edits.append(Edit(copy[k - 1][1], copy[2 * k - 1][1], "", "duplicate_phrase"))
            i += 2 * k
            found = True
            break
        if not found:
            i += 1
    return edits


_SENTENCE = re.compile(r"[^\s].*?(?:[.!?]+[\u201d\u2019\"')\]]*(?=\s|\Z)|\Z|(?=\n))", re.S)


def duplicate_sentence(text: str, min_words: int = 4) -> list[Edit]:
    """Removes a sentence (or paragraph) repeated back to back, an NMT decoding loop."""
    if text.count(".") + text.count("!") + text.count("?") < 2:
        return []
    sents = [(m.start(), m.end(), m.group()) for m in _SENTENCE.finditer(text)]
    edits: list[Edit] = []
    for (s0, e0, a), (s1, e1, b) in zip(sents, sents[1:]):
        if a == b and len(a.split()) >= min_words and not text[e0:s1].strip():
            if edits and edits[-1].end > e0:
                continue
            edits.append(Edit(e0, e1, "", "duplicate_sentence"))
    return edits
