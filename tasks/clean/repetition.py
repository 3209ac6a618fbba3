"""Rule family for repetition loops of machine translation: ``duplicate_word``,
``duplicate_phrase`` and ``duplicate_sentence``.

Every decision comes from evidence and says which: the grammar of the sentence around a double
that can be correct English (``tasks.clean.grammar``), the rest of the document and of the batch
(``tasks.clean.evidence``), and word lists shipped as data (``reduplications.txt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import compress, count
from operator import eq

from tasks.clean.engine import Edit, Flag
from tasks.clean.evidence import BatchEvidence
from tasks.clean.grammar import Token, tag, token_at

# Words whose doubling can be correct English; the sentence's grammar decides each one.
_BE = frozenset("is was are were am be been".split())
_MODALS = frozenset("can will would could should may might must shall does did".split())
_PARTICLES = frozenset("in on up out off over down back around about through by along away".split())
_OBJECT_THEN_POSSESSIVE = frozenset({"her", "you"})  # "lent her her car", "told you you were"
GRAMMATICAL_DOUBLES = _BE | _MODALS | _PARTICLES | _OBJECT_THEN_POSSESSIVE | {"had", "that", "do"}
# A free relative ends in a verb that the main verb follows: "what it is is", "whatever is
# understood is understood", "what will be will be".
_FREE_RELATIVE = frozenset("what whatever who whoever whom where wherever how why all".split())
# A capitalised double with no evidence in the document or batch is repaired when the word is
# this common in English (wordfreq's Zipf scale: 4 is once per 10^5 words): "Community
# Community", "Olympic Olympic". Rarer words may be names ("Xi Xi", "Cao Cao"): flagged.
COMMON_WORD_ZIPF = 4.2


@cache
def default_exceptions() -> frozenset[str]:
    """Reduplicated names and words kept as they are ("Bora Bora"), from the shipped list."""
    text = resources.files("tasks.clean").joinpath("reduplications.txt").read_text("utf-8")
    return frozenset(
        line.split("#", 1)[0].strip().lower() for line in text.splitlines()
        if line.split("#", 1)[0].strip()
    )


@cache
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency  # its word lists load on first use

    return zipf_frequency(word, "en")


_WORD = r"[^\W_]+(?:['\u2019][^\W_]+)?"
# the same word twice (case-insensitive back-reference), separated by spaces or tabs only; the
# second copy may carry a possessive ("this week week's vote")
_DOUBLE = re.compile(
    rf"(?<![\w'\u2019-])({_WORD})([ \t]+)(\1)((?:['\u2019]s)?)(?![\w'\u2019-])", re.I)
# "XR-XR-XR", "co-co-co-operation": one part repeated across hyphens
_HYPHEN_CHAIN = re.compile(r"(?<![\w-])([^\W_]+)((?:-\1)+)(?=(-[^\W_])|(?![\w-]))", re.I)


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


_SENTENCE_BREAK = re.compile(r"[.!?][\u201d\u2019\"')\]]*\s+|\n")


def _sentence_around(text: str, start: int, end: int, reach: int = 300) -> tuple[int, int]:
    """The sentence (at most ``reach`` characters either side) that holds ``text[start:end]``."""
    lo = max(0, start - reach)
    s = lo
    for m in _SENTENCE_BREAK.finditer(text, lo, start):
        s = m.end()
    m = _SENTENCE_BREAK.search(text, end, min(len(text), end + reach))
    return s, (m.end() if m else min(len(text), end + reach))


@dataclass(frozen=True, slots=True)
class _Context:
    """The tokens around the kept copy, as the sentence reads with the double undone."""

    before: Token | None
    word: Token | None
    after: Token | None
    words_before: tuple[str, ...]  # lower case, nearest last, within the clause


def _context(text: str, m: re.Match[str]) -> _Context:
    s, e = _sentence_around(text, m.start(), m.end())
    undone = text[s:m.end(1)] + text[m.end(3):e]
    tokens = tag(undone)
    i = token_at(tokens, m.start(1) - s)
    if i is None:
        return _Context(None, None, None, ())
    clause: list[str] = []
    for t in reversed(tokens[:i]):
        if t.pos == "PUNCT":
            break
        clause.append(t.text.lower())
    return _Context(tokens[i - 1] if i else None, tokens[i],
                    tokens[i + 1] if i + 1 < len(tokens) else None, tuple(reversed(clause)))


def _free_relative(ctx: _Context) -> str | None:
    hit = [w for w in ctx.words_before[-6:] if w in _FREE_RELATIVE]
    return hit[-1] if hit else None


def grammar_decision(low: str, ctx: _Context) -> tuple[bool, str]:
    """(keep, why) for a double of a word that can be doubled in correct English."""
    nxt, prev, word = ctx.after, ctx.before, ctx.word
    nxt_desc = f"{nxt.text!r} ({nxt.tag})" if nxt else "the end of the sentence"
    prev_desc = f"{prev.text!r} ({prev.tag})" if prev else "the start of the sentence"
    if low == "had":
        if nxt and nxt.tag in ("VBN", "VBD"):
            return False, f"'had had' before the participle {nxt_desc}: one 'had' too many"
        return True, f"'had had' before {nxt_desc}: the past perfect of 'have'"
    if low == "that":
        if nxt and (nxt.pos in ("NOUN", "PROPN", "ADJ", "NUM", "VERB", "AUX")
                    or nxt.tag in ("PRP$",) or nxt.text.lower() in ("one", "ones")):
            return True, f"'that that' before {nxt_desc}: a conjunction, then a determiner"
        return False, f"'that that' before {nxt_desc}: a doubled conjunction"
    if low in _OBJECT_THEN_POSSESSIVE:
        if prev and prev.pos == "VERB":
            return True, f"'{low} {low}' after the verb {prev_desc}: an object, then a possessive"
        return False, f"'{low} {low}' after {prev_desc}: no verb takes two objects here"
    if low in _PARTICLES:
        if prev and prev.pos == "VERB" and prev.tag.startswith("VB"):
            return True, f"'{low} {low}' after the verb {prev_desc}: a particle, then a preposition"
        return False, f"'{low} {low}' after {prev_desc}: a doubled preposition"
    relative = _free_relative(ctx)
    if relative and (low in _BE or low in _MODALS or low == "do"):
        return True, f"'{low} {low}' closes a clause opened by {relative!r} ('what it is is')"
    if low == "can" and word and word.pos == "NOUN":
        return True, f"'can can' read as the noun 'can' after {prev_desc}"
    if low == "do" and nxt and nxt.pos in ("DET", "PRON", "NOUN", "PROPN", "NUM", "ADJ"):
        return True, f"'do do' before {nxt_desc}: the auxiliary, then the verb"
    return False, f"'{low} {low}' with no clause that would close here: a doubled verb"


@dataclass(frozen=True, slots=True)
class DuplicateWord:
    """Removes a word repeated back to back ("including including") unless the evidence says
    the doubling is right: grammar ("had had enough"), the shipped list of reduplications
    ("Bora Bora"), the document ("Walla Walla" twice, never single) or the batch."""

    exceptions: frozenset[str]
    evidence: BatchEvidence = BatchEvidence()

    def __call__(self, text: str) -> list[Edit | Flag]:
        out: list[Edit | Flag] = []
        if "-" in text:
            out.extend(self._hyphen_chains(text))
        repeated = _repeated_words(text)
        if not repeated:
            return out
        matches = _doubles(text, repeated)
        for m in matches:
            first, possessive = m.group(1), m.group(4)
            low = first.lower()
            if first.isdigit():
                continue  # "10 10": a score, a list of numbers
            if f"{low} {low}" in self.exceptions or low in self.exceptions:
                continue
            decision = self._decide(text, m, matches)
            if decision is None:
                continue
            kind, why = decision
            if kind == "flag":
                out.append(Flag(m.start(), m.end(), "duplicate_word", why))
            elif possessive:  # keep the copy with the possessive: "this week's vote"
                out.append(Edit(m.start(1), m.start(3), "", "duplicate_word", why))
            else:
                out.append(Edit(m.end(1), m.end(3), "", "duplicate_word", why))
        return out

    def _decide(self, text: str, m: re.Match[str],
                matches: list[re.Match[str]]) -> tuple[str, str] | None:
        first, second = m.group(1), m.group(3)
        low = first.lower()
        if low in GRAMMATICAL_DOUBLES and not first[0].isupper():
            keep, why = grammar_decision(low, _context(text, m))
            return None if keep else ("edit", why)
        if not (first[0].isupper() and second[0].isupper()):
            if first[0].isupper() and _zipf(low) < 2.5:
                # "Rupicapra rupicapra": a genus and its species, or a doubled rare name
                return ("flag", f"{first!r} then {second!r}: a rare word, a tautonym or a doubling?")
            return ("edit", f"{low!r} doubled back to back")
        return self._decide_capitalised(text, m, matches)

    def _decide_capitalised(self, text: str, m: re.Match[str],
                            matches: list[re.Match[str]]) -> tuple[str, str] | None:
        first = m.group(1)
        low = first.lower()
        doubled = sum(1 for x in matches if x.group(1).lower() == low)
        total = len(re.findall(rf"(?<![\w'\u2019-]){re.escape(low)}(?![^\W_])", _lower(text)))
        single = total - 2 * doubled
        pair = f"{first} {first}"
        if doubled >= 2 and doubled > single:
            return None  # kept: the document uses the double as a name
        if single >= 1:
            return ("edit", f"{first!r} occurs {single} time{'s' * (single > 1)} single and "
                            f"{doubled} time{'s' * (doubled > 1)} doubled in this document")
        if low in self.evidence.doubled_names:
            return None  # kept: the batch uses the double as a name in other documents
        if first.isupper() and len(first) >= 2 and not first.isdigit():
            return ("edit", f"the acronym {first!r} doubled")
        zipf = _zipf(low)
        if zipf >= COMMON_WORD_ZIPF:
            return ("edit", f"{first!r} is a common English word (Zipf {zipf:.1f}) and "
                            f"{pair!r} is not a known name")
        return ("flag", f"repeated capitalised word {first!r}, with no other use of it in the "
                        f"document: a name, or a doubling?")

    def _hyphen_chains(self, text: str) -> list[Edit]:
        out = []
        for m in _HYPHEN_CHAIN.finditer(text):
            copies = 1 + m.group(2).count("-")
            word = m.group(1).lower()
            if copies == 2 and not m.group(3):
                continue  # "so-so", "bye-bye", "Baden-Baden": a reduplication, not a loop
            if f"{word} {word}" in self.exceptions and copies == 2:
                continue
            out.append(Edit(m.end(1), m.end(2), "", "duplicate_word",
                            f"{m.group(1)!r} repeated {copies} times across hyphens"))
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
    """Words (lower case) that the check tokens show back to back (a possessive aside)."""
    words = _words_for_checks(text)
    if b"'s" in text.encode("utf-8", "surrogatepass").lower() or "\u2019s" in text:
        words = [w[:-2] if w.endswith(b"'s") else w for w in words]
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
_TRAILING = re.compile(r"[,;:.!?)\]\u201d\u2019\"']+$")
# "the old town, the old town, the old town", "quiet and quiet": deletion cannot say which
# words were meant; flagged for a person.
_LIST_LOOP = re.compile(r"(?<![\w'\u2019-])([^\W\d_]+(?: [^\W\d_]+){1,5})(?:, \1){2,}(?![\w-])", re.I)
_AND_LOOP = re.compile(r"(?<![\w'\u2019-])([^\W\d_]{3,}) and \1(?![\w'\u2019-])", re.I)


def _and_loop_is_english(word: str, exceptions: frozenset[str]) -> bool:
    """"more and more", "again and again", "faster and faster", "miles and miles"."""
    w = word.lower()
    return (f"{w} and {w}" in exceptions or w.endswith(("er", "s")) or w in exceptions)


def duplicate_phrase(text: str, min_words: int = 2, max_words: int = 6,
                     exceptions: frozenset[str] = frozenset()) -> list[Edit | Flag]:
    """Removes a run of 2-6 words repeated back to back ("in the direction in the direction"),
    also at a clause end ("in her view her view."); flags loops deletion cannot repair."""
    out: list[Edit | Flag] = []
    if ", " in text or " and " in text:
        out.extend(_loops(text, exceptions))
    if not _has_phrase_repeat(text, min_words, max_words):
        return out
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    # an opening quote or bracket on the first copy only ("“fighting the last fighting the last")
    words = [t[2].lstrip(_OPENERS) or t[2] for t in tokens]
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        found = False
        for k in range(min_words, max_words + 1):
            if i + 2 * k > n or words[i + k] != w:
                continue
            first, second = words[i:i + k], words[i + k:i + 2 * k]
            # the second copy may end a clause: "in her view her view."
            tail = _TRAILING.search(second[-1])
            last = second[-1][:tail.start()] if tail else second[-1]
            if first[:-1] != second[:-1] or first[-1] != last or not last:
                continue
            copy = tokens[i:i + 2 * k]
            if copy[k][2][0] in _OPENERS:
                continue  # deleting the second copy would delete its quote
            gap = text[copy[k - 1][1]:copy[k][0]]
            if gap != " " * len(gap) or any(_CLOSING.search(x) for x in first):
                continue  # across a line, or with punctuation inside: a list or emphasis
            if all(not any(c.isalpha() for c in x) for x in first):
                continue  # numbers and symbols ("1 2 1 2")
            before = words[i - 1] if i else ""
            if before in _FREE_RELATIVE and k <= 3:
                continue  # "what will be will be", "whatever is understood is understood"
            if k == 2 and first[0] == "as":
                continue  # "as cold as cold can be"
            end = copy[2 * k - 1][1] - (len(tail.group()) if tail else 0)
            out.append(Edit(copy[k - 1][1], end, "", "duplicate_phrase",
                            f"{' '.join(first)!r} ({k} words) repeated back to back"))
            i += 2 * k
            found = True
            break
        if not found:
            i += 1
    return out


def _loops(text: str, exceptions: frozenset[str]) -> list[Flag]:
    out: list[Flag] = []
    for m in _LIST_LOOP.finditer(text):
        copies = m.group().count(", ") + 1
        out.append(Flag(m.start(), m.end(), "duplicate_phrase",
                        f"{m.group(1)!r} repeated {copies} times with commas between: a decoding "
                        f"loop or a chant? Deletion cannot tell which words were meant"))
    for m in _AND_LOOP.finditer(text):
        if not _and_loop_is_english(m.group(1), exceptions):
            out.append(Flag(m.start(), m.end(), "duplicate_phrase",
                            f"'{m.group(1)} and {m.group(1)}': a word joined to itself, not an "
                            f"English idiom ('more and more'); the second word was lost"))
    return out


@dataclass(frozen=True, slots=True)
class DuplicatePhrase:
    exceptions: frozenset[str]

    def __call__(self, text: str) -> list[Edit | Flag]:
        return duplicate_phrase(text, exceptions=self.exceptions)


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
            edits.append(Edit(e0, e1, "", "duplicate_sentence",
                              f"the sentence of {len(a.split())} words repeated back to back"))
    return edits
