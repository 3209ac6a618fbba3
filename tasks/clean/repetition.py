"""Rule family for repetition loops of machine translation: ``duplicate_word``,
``duplicate_phrase`` and ``duplicate_sentence``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import compress, count
from operator import eq

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
# the same word twice (case-insensitive back-reference), separated by spaces or tabs only
_DOUBLE = re.compile(rf"(?<![\w'\u2019-])({_WORD})([ \t]+)(\1)(?![\w'\u2019-])", re.I)


def _doubles(text: str, repeated: set[str]) -> list[re.Match[str]]:
    """``_DOUBLE`` matches, looked for only where a repeated word occurs (much faster than a scan
    of the whole text, which tries the pattern at every character)."""
    low = _lower(text)
    if len(low) != len(text):  # lower() changed offsets ("\u0130"): scan it all
        return list(_DOUBLE.finditer(text))
    found: dict[int, re.Match[str]] = {}
    for word in repeated:
        pos = low.find(word)
        while pos >= 0:
            m = _DOUBLE.match(text, pos)
            if m is not None:
                found[pos] = m
            pos = low.find(word, pos + 1)
    out: list[re.Match[str]] = []
    for pos in sorted(found):
        if not out or pos >= out[-1].end():
            out.append(found[pos])
    return out


@dataclass(frozen=True, slots=True)
class DuplicateWord:
    """Removes a word repeated back to back ("including including"), keeping grammatical
    ("had had"), emphatic ("very, very": not adjacent), numeric and reduplicated-name cases."""

    exceptions: frozenset[str]

    def __call__(self, text: str) -> list[Edit | Flag]:
        repeated = _repeated_words(text)
        if not repeated:
            return []
        out: list[Edit | Flag] = []
        for m in _doubles(text, repeated):
            first, second = m.group(1), m.group(3)
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
        return out


# The cheap checks below split lower-cased UTF-8 on whitespace after dropping punctuation: they
# only decide whether the exact (slower) search runs, and where.
_ASCII_PUNCTUATION = b"!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~"
_QUOTES = ("\u201c", "\u201d", "\u2018", "\u00ab", "\u00bb", "\u201e")


def _lower(text: str) -> str:
    """Lower case with the curly apostrophe as "'" (same length as the text, mostly)."""
    low = text.lower()
    return low.replace("\u2019", "'") if "\u2019" in low else low


def _words_for_checks(text: str) -> list[bytes]:
    low = _lower(text)
    for q in _QUOTES:
        if q in low:
            low = low.replace(q, "")
    return low.encode("utf-8", "surrogatepass").translate(None, _ASCII_PUNCTUATION).split()


def _repeated_words(text: str) -> set[str]:
    """Words (lower case) that the check tokens show back to back."""
    words = _words_for_checks(text)
    return {words[i].decode("utf-8", "surrogatepass")
            for i in compress(count(), map(eq, words, words[1:]))}


def _has_phrase_repeat(text: str, min_words: int, max_words: int) -> bool:
    words = _words_for_checks(text)
    pairs = list(zip(words, words[1:]))
    for k in range(min_words, max_words + 1):
        for i in compress(count(), map(eq, pairs, pairs[k:])):
            if words[i:i + k] == words[i + k:i + 2 * k]:
                return True
    return False


_TOKEN = re.compile(r"\S+")
_OPENERS = "\u201c\u2018\"'(["
_SENTENCE_END = re.compile(r"[.!?][\u201d\u2019\"')\]]*$")
_CLOSING = re.compile(r"[,;:.!?)\]\u201d\u2019\"']$")


def duplicate_phrase(text: str, min_words: int = 2, max_words: int = 6) -> list[Edit]:
    """Removes a run of 2-6 words repeated back to back ("in the direction in the direction")."""
    if not _has_phrase_repeat(text, min_words, max_words):
        return []
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    # an opening quote or bracket on the first copy only ("“fighting the last fighting the last")
    words = [t[2].lstrip(_OPENERS) or t[2] for t in tokens]
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
            if copy[k][2][0] in _OPENERS:
                continue  # deleting the second copy would delete its quote
            gap = text[copy[k - 1][1]:copy[k][0]]
            if gap != " " * len(gap) or _CLOSING.search(words[i + k - 1]):
                continue  # across a line, or after punctuation: a list or emphasis, not a loop
            if any(_SENTENCE_END.search(x) for x in words[i:i + k]):
                continue  # across a sentence end: sentences that happen to start alike
            if all(not any(c.isalpha() for c in x) for x in words[i:i + k]):
                continue  # numbers and symbols ("1 2 1 2")
            edits.append(Edit(copy[k - 1][1], copy[2 * k - 1][1], "", "duplicate_phrase"))
            i += 2 * k
            found = True
            break
        if not found:
            i += 1
    return edits


_CHUNK = re.compile(r"[^.!?\n]+")
_SENTENCE = re.compile(r"[^\s].*?(?:[.!?]+[\u201d\u2019\"')\]]*(?=\s|\Z)|\Z|(?=\n))", re.S)


def duplicate_sentence(text: str, min_words: int = 4) -> list[Edit]:
    """Removes a sentence (or paragraph) repeated back to back, an NMT decoding loop."""
    if text.count(".") + text.count("!") + text.count("?") < 2:
        return []
    # a sentence repeated back to back repeats the stretch before one of its marks or line ends
    chunks = [c for c in map(str.strip, _CHUNK.findall(text)) if " " in c]
    if len(set(chunks)) == len(chunks):
        return []
    sents = [(m.start(), m.end(), m.group()) for m in _SENTENCE.finditer(text)]
    edits: list[Edit] = []
    for (_, e0, a), (s1, e1, b) in zip(sents, sents[1:]):
        if a == b and len(a.split()) >= min_words and not text[e0:s1].strip():
            if edits and edits[-1].end > e0:
                continue
            edits.append(Edit(e0, e1, "", "duplicate_sentence"))
    return edits
