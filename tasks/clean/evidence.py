"""What a batch of documents says that one document cannot: lines that recur as boilerplate, and
capitalised doubles that recur as names ("Walla Walla" in several unrelated stories).

Recurrence is evidence only among documents that are otherwise different: copies of one story
(syndicated, or translated twice) share their datelines, sub-headings and quotes. Documents that
share a recurring line are grouped into stories by word-shingle containment, and a line counts
once per story.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

# A recurring line is boilerplate only in this many different stories.
MIN_STORIES = 3
# Two documents are copies of one story when this share of the smaller one's word 3-grams is in
# the other (different stories of one site share their boilerplate, not their sentences).
SAME_STORY = 0.5
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")
_TERMINAL = re.compile(r"[.!?:;,\u2026\"\u201d\u2019)\u2014\u2013-]\s*$")
_DATELINE = re.compile(r"^[A-Z][A-Z .'\u2019-]{2,},")  # "OSLO, Norway (Wire) —"
# (the lookbehind is written after the capital, the same test: searched for at C speed)
_CAP_DOUBLE = re.compile(r"([A-Z](?<![\w'\u2019-][A-Z])[^\W\d_]+)[ \t]+(\1)(?![\w-])")


@dataclass(frozen=True)
class BatchEvidence:
    """Facts about a batch that the rules read; equal evidence means equal cleaning."""

    recurring_lines: frozenset[str] = frozenset()
    doubled_names: frozenset[str] = frozenset()  # lower case: "walla"


def _candidate_lines(text: str) -> set[str]:
    """Stand-alone short lines that do not read as prose (no sentence end, not a dateline)."""
    out = set()
    for block in text.split("\n\n"):
        line = block.strip()
        if not line or "\n" in line or len(line) > 120:
            continue
        n_words = len(line.split())
        if n_words < 4 or n_words > 14 or _TERMINAL.search(line) or _DATELINE.match(line):
            continue
        out.add(line)
    return out


def _shingles(text: str) -> set[int]:
    # one lower() for all the words: no word holds a space, and a space ends a word's context
    words = " ".join(_WORD.findall(text)).lower().split(" ")
    return set(map(hash, zip(words, words[1:], words[2:])))  # the hashes of the 3-grams


def _stories(members: Sequence[int], texts: Sequence[str], line: str,
             shingles: dict[int, set[int]], enough: int = MIN_STORIES) -> int:
    """How many different stories (up to ``enough``) the documents ``members``, which share
    ``line``, belong to: documents none of which is a copy of another. Each document is
    compared with at most ``enough`` kept ones, so a batch of 256 copies of one story costs
    256 comparisons, not 32,000."""
    kept: list[set[int]] = []
    for i in members:
        if i not in shingles:
            shingles[i] = _shingles(texts[i].replace(line, " "))
        mine = shingles[i]
        if not any(_same_story(mine, other) for other in kept):
            kept.append(mine)
            if len(kept) >= enough:
                break
    return len(kept)


def _same_story(a: set[int], b: set[int]) -> bool:
    small = min(len(a), len(b))
    return bool(small) and len(a & b) >= SAME_STORY * small


def recurring_lines(texts: Sequence[str], min_stories: int = MIN_STORIES) -> frozenset[str]:
    """Short stand-alone lines found in at least ``min_stories`` different stories of a batch."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        for line in _candidate_lines(text):
            where[line].append(i)
    shingles: dict[int, set[int]] = {}
    return frozenset(
        line for line, members in where.items()
        if len(members) >= min_stories and _stories(members, texts, line, shingles) >= min_stories
    )


def doubled_names(texts: Sequence[str]) -> frozenset[str]:
    """Capitalised doubles ("Walla Walla") found in two or more documents, in more documents
    than the single form is found in: the batch uses them as names."""
    doubled: Counter[str] = Counter()
    for text in texts:
        doubled.update({m.group(1).lower() for m in _CAP_DOUBLE.finditer(text)})
    candidates = [word for word, n in doubled.items() if n >= 2]
    if not candidates:
        return frozenset()
    # ASCII words in texts without _CASE_EXTRAS: one walk over each text's words finds them all
    # (a search per word and text made a batch of n names cost n times its length)
    walked = set(candidates) if all(w.isascii() for w in candidates) else None
    n_single: Counter[str] = Counter()
    searched = []
    for text in texts:
        if walked is not None and not _CASE_EXTRAS.search(text):
            n_single.update(_single_words(text.lower(), walked))
        else:
            searched.append(text)
    if searched:
        n_single.update(_singles_searched(searched, candidates))
    return frozenset(word for word in candidates if doubled[word] > n_single[word])


def _singles_searched(texts: Sequence[str], candidates: list[str]) -> Counter[str]:
    """How many of ``texts`` hold each candidate single (outside a pair "Walla Walla"), by each
    word's own patterns."""
    singles = {w: re.compile(rf"(?<![\w-]){re.escape(w)}(?![\w-])", re.I) for w in candidates}
    present = _words_present(texts, singles)
    n_single: Counter[str] = Counter()
    for word in candidates:
        single = singles[word]
        pair = re.compile(rf"(?<![\w-]){re.escape(word)}[ \t]+{re.escape(word)}(?![\w-])", re.I)
        # a word found single once its pairs are blanked out is found single in the text itself
        # (a pair starts and ends next to a non-word character, as the word does): only the texts
        # that hold it single are searched again
        n_single[word] = sum(1 for t, words in zip(texts, present) if word in words
                             and single.search(pair.sub(" ", t)))
    return n_single


_TOKEN = re.compile(r"[\w-]+")
_GAP = re.compile(r"[ \t]+")


def _single_words(low: str, words: set[str]) -> set[str]:
    r"""The ``words`` (ASCII, lower case) that the lower-case text ``low`` holds single: what
    blanking each word's pairs (``(?<![\w-])w[ \t]+w(?![\w-])``, left to right) and searching
    for it (``(?<![\w-])w(?![\w-])``) finds, in one walk over the text's runs of word characters
    and hyphens (a match of either pattern is such a run, or two with spaces between)."""
    found: set[str] = set()
    runs = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(low)]
    i = 0
    while i < len(runs):
        word, _, end = runs[i]
        if word in words:
            if (i + 1 < len(runs) and runs[i + 1][0] == word
                    and _GAP.fullmatch(low, end, runs[i + 1][1])):
                i += 2  # a pair
                continue
            found.add(word)
        i += 1
    return found


# The characters, besides an ASCII letter's two cases, that re.I matches to an ASCII letter ("ı",
# "ſ", the Kelvin sign), and "İ", the one character that lower() makes two.
_CASE_EXTRAS = re.compile("[\u0130\u0131\u017f\u212a]")


def _words_present(texts: Sequence[str], singles: dict[str, re.Pattern[str]]) -> list[set[str]]:
    """For each text, the words of ``singles`` whose pattern matches somewhere in it: each word's
    own pattern decides, at the positions where one scan for all the words finds one."""
    anywhere = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, singles))})(?![\w-])", re.I)
    present: list[set[str]] = []
    for text in texts:
        words: set[str] = set()
        m = anywhere.search(text)
        while m is not None:
            p = m.start()
            words.update(w for w, single in singles.items() if single.match(text, p))
            m = anywhere.search(text, p + 1)  # from the next position: matches may overlap
        present.append(words)
    return present


def gather(texts: Sequence[str]) -> BatchEvidence:
    """The evidence of a batch, computed once before its documents are cleaned."""
    if len(texts) < 2:
        return BatchEvidence()
    return BatchEvidence(recurring_lines(texts), doubled_names(texts))
